//! PostgreSQL sync and switch killed part-way, then applied again: `cutover apply` aborted
//! after chosen journal writes of `postgres.sync` and `postgres.switch`
//! (`CUTOVER_TEST_CRASH_AFTER_EVENTS`), or killed with SIGKILL during the initial copy and
//! inside the switch's write freeze, resumes to one switch: the run completes, the proof
//! passes, no write acknowledged on old is missing on new, no subscription is left on the
//! target, and the journal records the switch once. One lab and one pair of servers serve
//! every crash point; the databases, replication slots and journal are reset in between.

use super::fixture::{kill_9_when, Fixture, Run};
use cutover_journal::{Event, Journal, SqliteJournal};
use cutover_testbed::{PgOptions, PgServer};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// `cutover status` of this file's plan, the run id replaced by RUN.
fn status_text(r: &PgRun) -> String {
    let json: serde_json::Value =
        serde_json::from_str(&r.cutover(&["status", "--json"], None).expect(0).stdout())
            .expect("status json");
    let run = json["run"].as_str().unwrap_or("no run").to_string();
    r.cutover(&["status"], None)
        .expect(0)
        .stdout()
        .replace(&run, "RUN")
}

/// The source's table, given `{rows}` rows.
const SCHEMA: &str = "CREATE TABLE items (id serial PRIMARY KEY, name text, data jsonb);
INSERT INTO items (name, data) SELECT 'item ' || i, jsonb_build_object('i', i) FROM generate_series(1, {rows}) i;
GRANT INSERT, SELECT ON items TO writer; GRANT USAGE ON SEQUENCE items_id_seq TO writer;";

/// Rows most crash points start with: small, the runs are quick.
const ROWS: u32 = 500;

/// Sync, switch (keeping a reverse subscription), then the proof against the frozen source.
const PLAN: &str = r#"
[secrets.db]
env = "DB_PW"

[[stages]]
name = "sync"

[[stages.steps]]
id = "replicate"
kind = "postgres.sync"
source = { host = "old", address = "127.0.0.1", db = "app", password = "{{ secrets.db }}" }
target = { host = "new", address = "127.0.0.1", db = "app", password = "{{ secrets.db }}" }
source_address = "OLD_ADDRESS"

[[stages]]
name = "switch"

[[stages.steps]]
id = "promote"
kind = "postgres.switch"
sync = "replicate"
reverse = true
reverse_address = "NEW_ADDRESS"

[[stages]]
name = "verify"

[[stages.steps]]
id = "prove"
kind = "postgres.verify"
source = { host = "old", address = "127.0.0.1", db = "app", password = "{{ secrets.db }}" }
target = { host = "new", address = "127.0.0.1", db = "app", password = "{{ secrets.db }}" }
"#;

/// Names the PostgreSQL test session holding a lock on the target's `pg_subscription`.
const LOCKER: &str = "cutover-test-lock";

/// What the journal must show of the switch step at the end: (applied, skipped,
/// freeze windows measured).
type SwitchRecord = (usize, usize, usize);

struct PgRun {
    f: Fixture,
    old: PgServer,
    new: PgServer,
}

impl PgRun {
    fn start() -> PgRun {
        let f = Fixture::new("");
        f.write_plan(
            &PLAN
                .replace("OLD_ADDRESS", &f.lab.host("old").address().to_string())
                .replace("NEW_ADDRESS", &f.lab.host("new").address().to_string()),
        );
        let opts = PgOptions {
            logical: true,
            ..PgOptions::default()
        };
        let old = PgServer::start(f.lab.host("old"), 16, 5432, opts.clone()).expect("pg16");
        let new = PgServer::start(f.lab.host("new"), 18, 5432, opts).expect("pg18");
        for pg in [&old, &new] {
            pg.psql("postgres", "CREATE ROLE writer LOGIN")
                .expect("role");
        }
        PgRun { f, old, new }
    }

    /// `cutover ARGS`, aborting after journal write `crash_after` when given.
    fn command(&self, args: &[&str], crash_after: Option<usize>) -> Command {
        let mut c = self.f.command(args);
        c.env("DB_PW", PgServer::PASSWORD);
        if let Some(n) = crash_after {
            c.env("CUTOVER_TEST_CRASH_AFTER_EVENTS", n.to_string());
        }
        c
    }

    fn cutover(&self, args: &[&str], crash_after: Option<usize>) -> Run {
        Run(self
            .command(args, crash_after)
            .output()
            .expect("run cutover"))
    }

    /// Back to the start: no journal, no replication, a fresh `app` of `rows` rows on old,
    /// none on new.
    fn reset(&self, rows: u32) {
        for suffix in ["", "-wal", "-shm"] {
            let mut p = self.f.journal_path().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
        // Subscriptions let go of their slots without reaching the other side.
        for pg in [&self.old, &self.new] {
            if has_app(pg) {
                pg.psql("app", "SET default_transaction_read_only = off;
                    DO $$ DECLARE s name; BEGIN
                      FOR s IN SELECT subname FROM pg_subscription WHERE subdbid = (SELECT oid FROM pg_database WHERE datname = current_database()) LOOP
                        EXECUTE format('ALTER SUBSCRIPTION %I DISABLE', s);
                        EXECUTE format('ALTER SUBSCRIPTION %I SET (slot_name = NONE)', s);
                        EXECUTE format('DROP SUBSCRIPTION %I', s);
                      END LOOP; END $$;")
                    .expect("drop the subscriptions");
            }
        }
        for pg in [&self.old, &self.new] {
            wait_for(pg, "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE active;
                SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE NOT active;
                SELECT count(*) FROM pg_replication_slots", "0", "the replication slots to go");
            pg.psql("postgres", "DROP DATABASE IF EXISTS app WITH (FORCE)")
                .expect("drop app");
        }
        self.old
            .psql("postgres", "CREATE DATABASE app")
            .expect("create app");
        self.old
            .psql("app", &SCHEMA.replace("{rows}", &rows.to_string()))
            .expect("schema");
    }

    /// A client inserting rows on old one at a time until its session is ended, the ids
    /// of acknowledged inserts kept in /tmp/acked.
    fn writer(&self) -> Child {
        self.old
            .spawn_shell("seq 1 10000000 | sed 's/.*/INSERT INTO items (name) VALUES (md5(&::text)) RETURNING id;/' | psql -X -q -At -U writer app > /tmp/acked 2>/dev/null")
            .expect("writer")
    }

    /// Applies once more, which must complete the run.
    fn finish(&self, context: &str) {
        let r = self.cutover(&["apply", "--yes"], None);
        assert_eq!(
            r.code(),
            0,
            "resuming after {context}:\n{}\n{}",
            r.stdout(),
            r.stderr()
        );
    }

    fn events(&self) -> Vec<Event> {
        let journal = SqliteJournal::open(&self.f.journal_path()).expect("journal");
        let run = journal.latest_run().expect("runs").expect("a run");
        let records = journal.events(&run.id).expect("events");
        records.into_iter().map(|r| r.event).collect()
    }

    /// Everything the resumed run must have left, whatever the crash point.
    fn assert_switched(&self, mut writer: Child, record: SwitchRecord, context: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while writer.try_wait().expect("writer").is_none() {
            assert!(
                Instant::now() < deadline,
                "{context}: the writer's session was not ended by the freeze"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let acked = self.old.shell("cat /tmp/acked").expect("acked");
        let ids = self.new.psql("app", "SELECT id FROM items").expect("ids");
        let present: std::collections::HashSet<&str> = ids.lines().collect();
        let lost: Vec<&str> = acked.lines().filter(|id| !present.contains(id)).collect();
        assert!(
            acked.lines().count() > 10 && lost.is_empty(),
            "{context}: {} writes acknowledged on old, lost on new: {lost:?}",
            acked.lines().count()
        );
        let events = self.events();
        assert!(
            matches!(events.last(), Some(Event::RunFinished { outcome }) if outcome == "completed"),
            "{context}: the run did not complete: {:?}",
            events.last()
        );
        assert_eq!(
            count(
                &events,
                |e| matches!(e, Event::StepApplied { step, .. } if step == "prove")
            ),
            1,
            "{context}: the proof did not pass"
        );
        let switch = (
            count(
                &events,
                |e| matches!(e, Event::StepApplied { step, .. } if step == "promote"),
            ),
            count(
                &events,
                |e| matches!(e, Event::StepSkipped { step, .. } if step == "promote"),
            ),
            measured(&events, "promote", "freeze_window"),
        );
        assert_eq!(
            switch, record,
            "{context}: switch (applied, skipped, freeze windows)"
        );
        self.assert_replication(context);
    }

    /// The switch's end state: no subscription on new, the slot gone from old, old frozen
    /// and following new through the reverse subscription, new marked switched.
    fn assert_replication(&self, context: &str) {
        let q = |pg: &PgServer, db: &str, sql: &str| {
            pg.psql(db, sql).expect("query").trim().to_string()
        };
        let state = [
            q(&self.new, "postgres", "SELECT string_agg(subname, ',') FROM pg_subscription"),
            q(&self.old, "postgres", "SELECT string_agg(slot_name, ',') FROM pg_replication_slots"),
            q(&self.old, "app", "SELECT string_agg(pubname, ',') FROM pg_publication"),
            q(&self.old, "postgres", "SELECT string_agg(subname, ',') FROM pg_subscription"),
            q(&self.new, "app", "SELECT string_agg(pubname, ',') FROM pg_publication"),
            q(&self.new, "postgres", "SELECT string_agg(slot_name, ',') FROM pg_replication_slots"),
            q(&self.old, "postgres", "SELECT array_to_string(setconfig, ',') FROM pg_db_role_setting WHERE setrole = 0 AND setdatabase = (SELECT oid FROM pg_database WHERE datname = 'app')"),
            q(&self.new, "postgres", "SELECT shobj_description(oid, 'pg_database') LIKE '%state=switched%' FROM pg_database WHERE datname = 'app'"),
        ];
        assert_eq!(
            state,
            [
                "", // no subscription left on the target
                "", // its slot dropped with it, no table-copy slot left over
                "cutover", // the publication stays until the run is rolled back or finished
                "cutover_reverse",
                "cutover_reverse",
                "cutover_reverse",
                "default_transaction_read_only=on",
                "t",
            ]
            .map(String::from),
            "{context}: [subscriptions on new, slots on old, publications on old, subscriptions on old, publications on new, slots on new, old's settings, new marked switched]"
        );
    }
}

fn has_app(pg: &PgServer) -> bool {
    pg.psql(
        "postgres",
        "SELECT 1 FROM pg_database WHERE datname = 'app'",
    )
    .expect("databases")
    .trim()
        == "1"
}

/// Runs `sql` in `postgres` until its last line reads `want` (10 s at most).
fn wait_for(pg: &PgServer, sql: &str, want: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = pg.psql("postgres", sql).expect("poll");
        if out.lines().last().map(str::trim) == Some(want) {
            return;
        }
        assert!(Instant::now() < deadline, "waited 10 s for {what}: {out}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn count(events: &[Event], f: impl Fn(&Event) -> bool) -> usize {
    events.iter().filter(|e| f(e)).count()
}

fn measured(events: &[Event], of: &str, what: &str) -> usize {
    count(
        events,
        |e| matches!(e, Event::Measured { step, name, .. } if step == of && name == what),
    )
}

/// An event's kind, step and (for measurements) name: what a crash point is recognised by.
fn label(e: &Event) -> String {
    let name = match e {
        Event::Measured { name, .. } => name.as_str(),
        _ => "",
    };
    format!("{} {} {name}", e.name(), e.step().unwrap_or_default())
        .trim()
        .to_string()
}

/// Crash points: a label of the reference run's events, and which one of them.
const POINTS: &[(&str, &str)] = &[
    ("step_started replicate", "after the sync's step_started"),
    (
        "measured replicate tables",
        "mid-sync (after its first measurement)",
    ),
    ("step_applied replicate", "after the sync applied"),
    ("step_started promote", "after the switch's step_started"),
    (
        "measured promote freeze_window",
        "after the switch's first measurement",
    ),
    (
        "measured promote sequences",
        "after the switch's last measurement, before its step_applied",
    ),
];

#[test]
fn sync_and_switch_crashed_after_their_journal_writes_resume_to_one_switch() {
    let r = PgRun::start();
    r.reset(ROWS);
    let writer = r.writer();
    r.cutover(&["apply", "--yes"], None).expect(0);
    r.assert_switched(writer, (1, 0, 1), "a run without a crash");
    let reference: Vec<String> = r.events().iter().map(label).collect();
    for (point, context) in POINTS {
        let n = 1 + reference
            .iter()
            .position(|l| l == point)
            .unwrap_or_else(|| panic!("no `{point}` in the reference run: {reference:#?}"));
        r.reset(ROWS);
        let writer = r.writer();
        let crashed = r.cutover(&["apply", "--yes"], Some(n));
        assert_eq!(crashed.code(), -1, "{context}: no crash at event {n}");
        let last = r.events().last().map(label);
        assert_eq!(
            last.as_deref(),
            Some(*point),
            "{context}: crashed elsewhere"
        );
        r.finish(context);
        r.assert_switched(writer, (1, 0, 1), context);
    }
    // A rollback after the resumed run undoes the switch the interrupted attempt made.
    r.cutover(&["rollback", "--yes"], None).expect(0);
    r.old
        .shell("psql -X -U writer app -c \"INSERT INTO items (name) VALUES ('after rollback')\"")
        .expect("old takes writes again after the rollback");
    assert!(
        !has_app(&r.new),
        "the target database outlived the rollback"
    );
}

impl PgRun {
    fn spawn_apply(&self) -> Child {
        self.command(&["apply", "--yes"], None)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start cutover")
    }

    /// Kills `apply` (SIGKILL: nothing recorded) once `sql` in database `db` on new reads
    /// `want` (an error, e.g. no such database yet, counts as not yet).
    fn kill_when(&self, apply: Child, db: &str, sql: &str, want: &str, what: &str) {
        kill_9_when(apply, what, || {
            self.new.psql(db, sql).unwrap_or_default().trim() == want
        });
    }

    /// Runs the sync stage, then starts `apply` again with a session holding a lock on the
    /// target's subscriptions, and kills it once it waits for that lock to drop the
    /// subscription: inside the freeze, the sequences advanced. The locker session is
    /// returned, still holding the lock.
    fn kill_before_the_drop(&self) -> Child {
        self.cutover(&["apply", "--yes", "--until", "sync"], None)
            .expect(0);
        // Made now so that the switch's own ALTER SUBSCRIPTION does not wait for the lock.
        self.new
            .psql(
                "app",
                "ALTER SUBSCRIPTION cutover SET (synchronous_commit = 'on')",
            )
            .expect("synchronous_commit");
        let locker = self
            .new
            .spawn_shell(&format!("printf 'BEGIN;\\nLOCK TABLE pg_catalog.pg_subscription IN SHARE MODE;\\nSELECT pg_sleep(120);\\n' | PGAPPNAME={LOCKER} psql -X -q -d app"))
            .expect("locker");
        wait_for(&self.new, &format!("SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE a.application_name = '{LOCKER}' AND l.relation = 'pg_subscription'::regclass AND l.granted"), "1", "the lock");
        let apply = self.spawn_apply();
        self.kill_when(
            apply,
            "postgres",
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'DROP SUBSCRIPTION%'",
            "1",
            "the switch to wait to drop the subscription",
        );
        let frozen = self
            .old
            .psql("postgres", "SELECT array_to_string(setconfig, ',') FROM pg_db_role_setting WHERE setrole = 0 AND setdatabase = (SELECT oid FROM pg_database WHERE datname = 'app')")
            .expect("settings");
        assert_eq!(
            frozen.trim(),
            "default_transaction_read_only=on",
            "old not frozen"
        );
        locker
    }

    /// Kills `apply` inside the switch's freeze ([`Self::kill_before_the_drop`]), then lets
    /// the subscription's drop, left waiting for the lock, finish (`dropped`) or cancels it.
    fn kill_inside_the_freeze(&self, dropped: bool) {
        let locker = self.kill_before_the_drop();
        if !dropped {
            wait_for(
                &self.new,
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'DROP SUBSCRIPTION%'; SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'DROP SUBSCRIPTION%'",
                "0",
                "the drop to be cancelled",
            );
        }
        self.release(locker);
        if dropped {
            wait_for(&self.new, SUBSCRIPTIONS, "0", "the drop to finish");
        }
    }

    fn release(&self, mut locker: Child) {
        wait_for(
            &self.new,
            &format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{LOCKER}'; SELECT count(*) FROM pg_stat_activity WHERE application_name = '{LOCKER}'"),
            "0",
            "the lock to be released",
        );
        locker.wait().expect("locker");
    }
}

const SUBSCRIPTIONS: &str = "SELECT count(*) FROM pg_subscription";

#[test]
fn sync_and_switch_killed_inside_resume_to_one_switch() {
    let r = PgRun::start();

    // Enough rows for the initial copy to take a moment: the kill lands inside it.
    let context = "a kill during the initial copy, once the subscription exists";
    r.reset(200_000);
    let writer = r.writer();
    r.kill_when(
        r.spawn_apply(),
        "app",
        "SELECT count(*) FROM pg_subscription_rel WHERE srsubstate NOT IN ('r', 's')",
        "1",
        "the initial copy",
    );
    let events = r.events();
    assert!(
        !events.iter().any(|e| e.step() == Some("replicate")
            && !matches!(e, Event::StepStarted { .. } | Event::SchemaRecorded { .. })),
        "{context}: the sync step got further: {events:#?}"
    );
    r.finish(context);
    r.assert_switched(writer, (1, 0, 1), context);

    let context = "a kill inside the freeze, the subscription not dropped";
    r.reset(ROWS);
    let writer = r.writer();
    r.kill_inside_the_freeze(false);
    assert_eq!(
        r.new.psql("postgres", SUBSCRIPTIONS).expect("subs").trim(),
        "1"
    );
    r.finish(context);
    r.assert_switched(writer, (1, 0, 1), context);

    let context = "a kill inside the freeze, the subscription dropped after it";
    r.reset(ROWS);
    let writer = r.writer();
    r.kill_inside_the_freeze(true);
    r.finish(context);
    r.assert_switched(writer, (1, 0, 0), context);
}

impl PgRun {
    /// `cutover rollback` straight after a kill (no resume first) must leave old the
    /// writable primary, with nothing of the sync left: no replication on either side, the
    /// target database gone, and a new row on old numbered past every row written anywhere.
    fn assert_rolled_back_to_old(&self, context: &str) {
        let r = self.cutover(&["rollback", "--yes"], None);
        assert_eq!(
            r.code(),
            0,
            "{context}: rollback:\n{}\n{}",
            r.stdout(),
            r.stderr()
        );
        let q =
            |pg: &PgServer, sql: &str| pg.psql("postgres", sql).expect("query").trim().to_string();
        let state = [
            q(&self.old, "SELECT count(*) FROM pg_db_role_setting WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = 'app')"),
            q(&self.old, "SELECT count(*) FROM pg_replication_slots"),
            q(&self.old, "SELECT count(*) FROM pg_subscription"),
            q(&self.new, "SELECT count(*) FROM pg_subscription"),
            q(&self.new, "SELECT count(*) FROM pg_database WHERE datname = 'app'"),
            self.old.psql("app", "SELECT count(*) FROM pg_publication").expect("publications").trim().to_string(),
        ];
        assert_eq!(
            state,
            ["0", "0", "0", "0", "0", "0"].map(String::from),
            "{context}: [freeze settings on old, slots on old, subscriptions on old, subscriptions on new, app on new, publications on old]\n{}",
            r.stdout()
        );
        let max = self
            .old
            .psql("app", "SELECT max(id) FROM items")
            .expect("max id");
        let id = self
            .old
            .shell("psql -X -At -U writer app -c \"INSERT INTO items (name) VALUES ('after rollback') RETURNING id\"")
            .expect("old takes writes again after the rollback");
        let (id, max): (i64, i64) = (
            id.lines().next().unwrap_or("").trim().parse().expect("id"),
            max.trim().parse().expect("max"),
        );
        assert!(id > max, "{context}: new row {id}, rows up to {max}");
        let events = self.events();
        assert!(
            matches!(events.last(), Some(Event::RunFinished { outcome }) if outcome == "rolled_back"),
            "{context}: {:?}",
            events.last()
        );
    }
}

/// An operator's reflex after a crash is `cutover rollback`, not `apply`: a switch killed
/// inside its write freeze is undone without being resumed first, before and after it
/// dropped the subscription.
#[test]
fn a_switch_killed_inside_the_freeze_rolls_back_without_a_resume() {
    let r = PgRun::start();

    let context = "rollback after a kill inside the freeze, the subscription not dropped";
    r.reset(ROWS);
    let writer = r.writer();
    r.kill_inside_the_freeze(false);
    r.assert_rolled_back_to_old(context);
    drop(writer);

    let context = "rollback after a kill inside the freeze, the subscription dropped after it";
    r.reset(ROWS);
    let writer = r.writer();
    r.kill_inside_the_freeze(true);
    r.assert_rolled_back_to_old(context);
    drop(writer);
}

/// The status of a run killed inside `postgres.sync`: the step in flight, and a warning
/// naming the replication objects it left running.
const SYNC_KILLED_STATUS: &str = "plan test-plan: run RUN in progress
  sync         replicate            postgres.sync in_flight
  switch       promote              postgres.switch pending
  verify       prove                postgres.verify pending
warning: `replicate` (postgres.sync) left replication objects that no finished step accounts for:
  publication `cutover` on old (database app)
  replication slot `cutover` on old: the server keeps WAL for it until it is dropped
  subscription `cutover` on new (database app)
  hint: `cutover rollback` removes them, or `cutover apply` resumes the sync
";

/// Killed inside `postgres.sync` once it has made the publication, the slot and the
/// subscription (the initial copy is under way), then `cutover rollback` straight away:
/// nothing of the sync may be left (an abandoned active slot makes old keep WAL until its
/// disk fills). `cutover status` warns about the objects until then, and a fresh run
/// replicates anew instead of taking the leftovers for its own.
#[test]
fn a_sync_killed_inside_rolls_back_without_a_resume() {
    let r = PgRun::start();
    let context = "rollback after a kill inside the sync's initial copy";
    r.reset(200_000);
    r.kill_when(
        r.spawn_apply(),
        "app",
        "SELECT count(*) FROM pg_subscription_rel WHERE srsubstate NOT IN ('r', 's')",
        "1",
        "the initial copy",
    );
    // The sync's last journal write before the copy is the source's schema fingerprint.
    let last = r.events().last().map(label);
    assert_eq!(
        last.as_deref(),
        Some("schema_recorded replicate"),
        "{context}: the kill did not land inside the sync"
    );
    assert_eq!(status_text(&r), SYNC_KILLED_STATUS, "{context}");
    r.assert_rolled_back_to_old(context);
    assert_eq!(
        status_text(&r),
        "plan test-plan: run RUN rolled_back
  sync         replicate            postgres.sync rolled_back
  switch       promote              postgres.switch pending
  verify       prove                postgres.verify pending
",
        "{context}: nothing left to warn about"
    );

    let context = "a fresh run after that rollback";
    r.cutover(&["apply", "--yes", "--until", "sync"], None)
        .expect(0);
    let events = r.events();
    assert_eq!(
        (
            count(
                &events,
                |e| matches!(e, Event::StepApplied { step, .. } if step == "replicate")
            ),
            count(
                &events,
                |e| matches!(e, Event::StepSkipped { step, .. } if step == "replicate")
            ),
        ),
        (1, 0),
        "{context}: the sync must be made anew, not found in place"
    );
    r.assert_rolled_back_to_old(context);
}

/// A hotfix run on old while the sync replicates: DDL logical replication does not carry.
const HOTFIX: &str = "ALTER TABLE items ADD COLUMN price numeric(10,2) DEFAULT 0;
CREATE INDEX items_name_idx ON items (lower(name));";

/// DDL on the source while the sync runs: `cutover status` names each object the target
/// lacks; the switch refuses before freezing anything, naming them with the fix; with the
/// same DDL run on the target, `cutover apply` switches and the proof passes.
#[test]
fn ddl_on_the_source_during_the_sync_is_shown_and_holds_the_switch() {
    let r = PgRun::start();
    r.reset(ROWS);
    r.cutover(&["apply", "--yes", "--until", "sync"], None)
        .expect(0);
    r.old.psql("app", HOTFIX).expect("the hotfix on old");
    let status = status_text(&r);
    let warning = status.split_once("warning: ").map(|(_, w)| w);
    assert_eq!(
        warning,
        Some(
            "`replicate` (postgres.sync): the source's schema changed since the sync started, and logical replication does not carry DDL: 2 object(s) differ on the target:
  column public.items.price: missing on target (on source: default 0; type numeric(10,2))
  index public.items_name_idx: missing on target (on source: definition USING btree (lower(name)); table items)
  hint: apply the same DDL on the target; the switch refuses until then
"
        ),
        "{status}"
    );
    let refused = r.cutover(&["apply", "--yes"], None).expect(5);
    assert_eq!(
        refused.stderr(),
        "error: step `promote` failed: the source's schema changed since the sync started, and logical replication does not carry DDL: 2 object(s) differ on the target:
  column public.items.price: missing on target (on source: default 0; type numeric(10,2))
  index public.items_name_idx: missing on target (on source: definition USING btree (lower(name)); table items)
hint: apply the same DDL on the target (nothing was frozen or switched), then run the switch again
"
    );
    // Nothing was frozen: old still takes writes.
    r.old
        .shell("psql -X -U writer app -c \"INSERT INTO items (name) VALUES ('after the refusal')\"")
        .expect("old takes writes after the refusal");
    r.new.psql("app", HOTFIX).expect("the same DDL on new");
    assert!(
        !status_text(&r).contains("warning:"),
        "drift still shown once the target has the DDL"
    );
    r.finish("the same DDL applied on the target");
}
