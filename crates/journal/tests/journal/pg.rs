//! The PostgreSQL journal against the lab's real server: the same behaviour as the SQLite
//! one (events, chain, checkpoints, redaction, lock), what only a shared journal has (plans
//! side by side, the server refusing changes to events), versioning and TLS.

use super::started;
use cutover_journal::{
    ChainStatus, Event, Holder, Journal, JournalError, PgJournal, PgTarget, PgTls, RunState,
    StepStatus,
};
use cutover_testbed::{Lab, PgOptions, PgServer};
use std::sync::Arc;

/// A lab with PostgreSQL 16 on host `old`, and a database `db` with a login role `cutover`
/// owning it (not a superuser, as a team would give cutover).
struct Server {
    pg: PgServer,
    _lab: Lab,
}

const ROLE_PASSWORD: &str = "journal-pw";

impl Server {
    fn start() -> Server {
        Self::start_with(PgOptions::default())
    }

    fn start_with(options: PgOptions) -> Server {
        let lab = Lab::start().expect("lab");
        let pg = PgServer::start(lab.host("old"), 16, 5432, options).expect("postgres");
        pg.psql(
            "postgres",
            &format!("CREATE ROLE cutover LOGIN PASSWORD '{ROLE_PASSWORD}';\nCREATE DATABASE db OWNER cutover;"),
        )
        .expect("role and database");
        Server { pg, _lab: lab }
    }

    fn target(&self) -> PgTarget {
        PgTarget {
            host: self.pg.address().to_string(),
            port: self.pg.port(),
            user: "cutover".into(),
            dbname: "db".into(),
            password: Some(ROLE_PASSWORD.into()),
            tls: PgTls::Disable,
        }
    }

    /// A plain connection as the journal's own role, outside cutover.
    fn plain_client(&self) -> postgres::Client {
        let t = self.target();
        postgres::Config::new()
            .host(&t.host)
            .port(t.port)
            .user(&t.user)
            .password(ROLE_PASSWORD)
            .dbname(&t.dbname)
            .connect(postgres::NoTls)
            .expect("plain connection")
    }
}

#[test]
fn events_chain_and_checkpoints_round_trip_through_postgres() {
    let s = Server::start();
    let redact: cutover_journal::RedactFn = Arc::new(|t: &str| t.replace("hunter2", "***"));
    let j = PgJournal::open(&s.target(), "demo")
        .unwrap()
        .with_redactor(redact);
    let run = j.create_run("demo").unwrap();
    j.append(&run.id, &started("a")).unwrap();
    let applied = Event::StepApplied {
        step: "a".into(),
        duration_ms: 5,
        summary: "password hunter2 set".into(),
    };
    let record = j.append(&run.id, &applied).unwrap();
    assert!(
        matches!(&record.event, Event::StepApplied { summary, .. } if summary == "password *** set")
    );
    j.append(&run.id, &started("b")).unwrap();
    j.save_checkpoint(&run.id, "b", "{\"k\":\"hunter2\"}")
        .unwrap();
    drop(j);

    let j = PgJournal::open_read_only(&s.target(), "demo").unwrap();
    assert_eq!(j.latest_run().unwrap().unwrap(), run);
    assert_eq!(j.runs().unwrap(), vec![run.clone()]);
    let events = j.events(&run.id).unwrap();
    let state = RunState::fold(run.clone(), &events);
    assert!(state.is_done("a"));
    assert_eq!(state.step("b").unwrap().status, StepStatus::InFlight);
    assert_eq!(j.events_after(&run.id, events[0].seq).unwrap().len(), 2);
    assert_eq!(j.last_seq().unwrap(), events[2].seq);
    assert_eq!(
        j.checkpoint(&run.id, "b").unwrap().as_deref(),
        Some("{\"k\":\"***\"}")
    );
    assert!(
        matches!(
            j.verify_chain().unwrap(),
            ChainStatus::Intact {
                covered: 3,
                unchained: 0,
                head: Some(_)
            }
        ),
        "{}",
        j.verify_chain().unwrap()
    );
    let dump =
        s.pg.psql(
            "db",
            "SELECT body FROM cutover.events; SELECT body FROM cutover.checkpoints;",
        )
        .unwrap();
    assert!(!dump.contains("hunter2"), "{dump}");
}

#[test]
fn the_server_refuses_to_change_or_remove_events_even_for_their_owner() {
    let s = Server::start();
    let j = PgJournal::open(&s.target(), "demo").unwrap();
    let run = j.create_run("demo").unwrap();
    j.append(&run.id, &started("a")).unwrap();
    let mut c = s.plain_client();
    for sql in [
        "UPDATE cutover.events SET body = '{}'",
        "DELETE FROM cutover.events",
        "TRUNCATE cutover.events CASCADE",
        "UPDATE cutover.runs SET plan = 'other'",
        "DELETE FROM cutover.runs",
    ] {
        let err = c.batch_execute(sql).expect_err(sql);
        let db = err.as_db_error().expect("a server error");
        assert!(
            db.message().contains("refused: the journal is append-only"),
            "{sql}: {}",
            db.message()
        );
        assert_eq!(db.code().code(), "42501", "{sql}");
    }
    // A superuser's statements fire the same triggers.
    let err = s.pg.psql("db", "DELETE FROM cutover.events").unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    // And an event written outside cutover breaks the chain where it sits.
    c.batch_execute(&format!(
        "INSERT INTO cutover.events (plan_key, run, at_ms, kind, body, hash) VALUES ('demo', '{}', 1, 'approved', '{{}}', 'x')",
        run.id
    ))
    .unwrap();
    assert!(matches!(
        j.verify_chain().unwrap(),
        ChainStatus::Broken { covered: 1, .. }
    ));
}

#[test]
fn a_second_holder_is_refused_naming_the_first_until_its_session_ends() {
    let s = Server::start();
    let j = PgJournal::open(&s.target(), "demo").unwrap();
    assert_eq!(j.holder(), None);
    let first = Holder {
        pid: 4242,
        operator: "alice@laptop".into(),
        command: "apply".into(),
        since_ms: 1_800_000_000_000,
    };
    let guard = j.lock(first.clone()).unwrap();
    let other = PgJournal::open(&s.target(), "demo").unwrap();
    assert_eq!(other.holder(), Some(first.clone()));
    let err = other.lock(Holder::me("rollback")).unwrap_err();
    assert!(
        matches!(&err, JournalError::Locked { holder } if *holder == first),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "the plan is locked by `cutover apply` (pid 4242, alice@laptop) since 2027-01-15T08:00:00.000Z\nhint: wait for that run to finish, or stop it; if it is gone, the lock is released by itself"
    );
    // Another plan in the same database has a lock of its own.
    let neighbour = PgJournal::open(&s.target(), "other-plan").unwrap();
    drop(neighbour.lock(Holder::me("apply")).unwrap());
    drop(guard);
    assert_eq!(other.holder(), None);
    let _again = other.lock(Holder::me("rollback")).unwrap();
    assert_eq!(j.holder().map(|h| h.command), Some("rollback".into()));
}

#[test]
fn plans_sharing_a_database_see_only_their_own_runs_and_chains() {
    let s = Server::start();
    let a = PgJournal::open(&s.target(), "a").unwrap();
    let b = PgJournal::open(&s.target(), "b").unwrap();
    let run_a = a.create_run("a").unwrap();
    let run_b = b.create_run("b").unwrap();
    for _ in 0..3 {
        a.append(&run_a.id, &started("x")).unwrap();
        b.append(&run_b.id, &started("y")).unwrap();
    }
    assert_eq!(a.runs().unwrap(), vec![run_a.clone()]);
    assert_eq!(b.latest_run().unwrap(), Some(run_b));
    assert!(a.events(&run_a.id).unwrap().len() == 3);
    for j in [&a, &b] {
        assert!(matches!(
            j.verify_chain().unwrap(),
            ChainStatus::Intact { covered: 3, .. }
        ));
    }
}

#[test]
fn an_empty_database_reads_as_no_run_and_is_left_untouched_by_readers() {
    let s = Server::start();
    let j = PgJournal::open_read_only(&s.target(), "demo").unwrap();
    assert_eq!(j.latest_run().unwrap(), None);
    assert_eq!(j.last_seq().unwrap(), 0);
    assert_eq!(j.holder(), None);
    assert!(j.create_run("demo").is_err());
    assert_eq!(
        s.pg.psql("db", "SELECT to_regclass('cutover.events') IS NULL")
            .unwrap()
            .trim(),
        "t"
    );
    // A reader opened before the first `apply` (a dashboard) sees the run once there is one.
    let writer = PgJournal::open(&s.target(), "demo").unwrap();
    let run = writer.create_run("demo").unwrap();
    assert_eq!(j.latest_run().unwrap(), Some(run));
}

#[test]
fn a_journal_of_a_newer_schema_is_refused() {
    let s = Server::start();
    drop(PgJournal::open(&s.target(), "demo").unwrap());
    s.pg.psql("db", "INSERT INTO cutover.schema_version VALUES (99)")
        .unwrap();
    for opened in [
        PgJournal::open(&s.target(), "demo").map(drop),
        PgJournal::open_read_only(&s.target(), "demo").map(drop),
    ] {
        let err = opened.unwrap_err();
        assert!(
            matches!(
                err,
                JournalError::TooNew {
                    found: 99,
                    supported: 1,
                    ..
                }
            ),
            "{err}"
        );
        assert!(
            err.to_string().starts_with(&format!(
                "journal postgres://cutover@{}:5432/db?sslmode=disable has schema version 99",
                s.pg.address()
            )),
            "{err}"
        );
    }
}

#[test]
fn a_wrong_password_is_an_error_that_never_shows_it() {
    let s = Server::start();
    let target = PgTarget {
        password: Some("not-the-password".into()),
        ..s.target()
    };
    let err = PgJournal::open(&target, "demo")
        .map(drop)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("password authentication failed for user \"cutover\""),
        "{err}"
    );
    assert!(!err.contains("not-the-password"), "{err}");
    assert!(!format!("{target:?}").contains("not-the-password"));
}

#[path = "pg_tls.rs"]
mod tls;
