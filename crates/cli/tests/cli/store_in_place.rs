//! dnscontrol's "zero corrections" rule for the store steps, as the engine's table test has
//! it for `run` and `pipe`: after a completed run, a fresh run (a new journal: another
//! controller, or the journal lost) finds a store step's work in place through the servers
//! themselves, skips it, and neither redoes nor fails it. One row per store step.

use super::fixture::{Fixture, Run};
use cutover_testbed::{
    MariaOptions, MariaServer, PgOptions, PgServer, RedisOptions, RedisServer, RedisVersion,
};
use std::any::Any;

/// A store step of the table: its plan (only the step, id `ID`) and the servers it needs,
/// started on the lab's hosts and kept alive by the returned value.
struct Row {
    kind: &'static str,
    id: &'static str,
    plan: &'static str,
    servers: fn(&Fixture) -> Box<dyn Any>,
}

const POSTGRES_SYNC: Row = Row {
    kind: "postgres.sync",
    id: "replicate",
    plan: r#"
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
"#,
    servers: postgres_servers,
};

const POSTGRES_COPY: Row = Row {
    kind: "postgres.copy",
    id: "copy-db",
    plan: r#"
[secrets.db]
env = "DB_PW"

[[stages]]
name = "copy"

[[stages.steps]]
id = "copy-db"
kind = "postgres.copy"
source = { host = "old", address = "127.0.0.1", db = "app", password = "{{ secrets.db }}" }
target = { host = "new", address = "127.0.0.1", db = "app", password = "{{ secrets.db }}" }
"#,
    servers: postgres_servers,
};

/// PostgreSQL 16 on old with a small database, 18 on new.
fn postgres_servers(f: &Fixture) -> Box<dyn Any> {
    let options = PgOptions {
        logical: true,
        ..PgOptions::default()
    };
    let old = PgServer::start(f.lab.host("old"), 16, 5432, options.clone()).expect("pg16");
    let new = PgServer::start(f.lab.host("new"), 18, 5432, options).expect("pg18");
    old.psql("postgres", "CREATE DATABASE app")
        .expect("database");
    old.psql(
        "app",
        "CREATE TABLE items (id serial PRIMARY KEY, name text);
         INSERT INTO items (name) SELECT 'item ' || i FROM generate_series(1, 100) i;",
    )
    .expect("schema");
    Box::new((old, new))
}

const REDIS_SYNC: Row = Row {
    kind: "redis.sync",
    id: "replicate",
    plan: r#"
[secrets.redis]
env = "REDIS_PW"

[[stages]]
name = "sync"

[[stages.steps]]
id = "replicate"
kind = "redis.sync"
source = { host = "old", password = "{{ secrets.redis }}" }
target = { host = "new", password = "{{ secrets.redis }}" }
source_address = "OLD_ADDRESS"
"#,
    servers: |f| {
        let start = |host: &str| {
            RedisServer::start(
                f.lab.host(host),
                RedisVersion::Redis70,
                6379,
                RedisOptions::default(),
            )
            .expect(host)
        };
        let (old, new) = (start("old"), start("new"));
        old.pipe(&cutover_testbed::redis_data::mixed(0..200))
            .expect("seed");
        Box::new((old, new))
    },
};

/// A MariaDB copy, alone in its plan (the copy's row) or followed by its sync.
macro_rules! mysql_copy_step {
    () => {
        r#"
[secrets.db]
env = "DB_PW"

[secrets.repl]
env = "REPL_PW"

[[stages]]
name = "copy"

[[stages.steps]]
id = "copy-db"
kind = "mysql.copy"
source = { host = "old", password = "{{ secrets.db }}" }
target = { host = "new", password = "{{ secrets.db }}" }
databases = ["shop"]
address = "NEW_ADDRESS"
"#
    };
}

const MYSQL_COPY: Row = Row {
    kind: "mysql.copy",
    id: "copy-db",
    plan: mysql_copy_step!(),
    servers: mysql_servers,
};

const MYSQL_SYNC: Row = Row {
    kind: "mysql.sync",
    id: "replicate",
    plan: concat!(
        mysql_copy_step!(),
        r#"
[[stages.steps]]
id = "replicate"
kind = "mysql.sync"
copy = "copy-db"
source_address = "OLD_ADDRESS"
replication_password = "{{ secrets.repl }}"
"#
    ),
    servers: mysql_servers,
};

/// MariaDB on old (binary log on) with the application's database, and on new.
fn mysql_servers(f: &Fixture) -> Box<dyn Any> {
    let start = |host: &str, id: u32| {
        MariaServer::start(f.lab.host(host), 3306, MariaOptions::primary(id)).expect(host)
    };
    let (old, new) = (start("old", 1), start("new", 2));
    old.sql(&super::mysql::APP.replace("ROWS", "200"))
        .expect("schema");
    Box::new((old, new))
}

fn apply(f: &Fixture) -> Run {
    let mut c = f.command(&["apply", "--yes"]);
    c.env("DB_PW", PgServer::PASSWORD)
        .env("REDIS_PW", RedisServer::PASSWORD)
        .env("REPL_PW", "repl-pw");
    Run(c.output().expect("run cutover"))
}

/// The lines of `out` about the step `id`.
fn step_lines<'a>(out: &'a str, id: &str) -> Vec<&'a str> {
    out.lines().filter(|l| l.contains(id)).collect()
}

fn rollback(f: &Fixture, only: Option<&str>) -> Run {
    let mut args = vec!["rollback", "--yes"];
    if let Some(id) = only {
        args.extend(["--only", id]);
    }
    let mut c = f.command(&args);
    c.env("DB_PW", PgServer::PASSWORD)
        .env("REDIS_PW", RedisServer::PASSWORD)
        .env("REPL_PW", "repl-pw");
    Run(c.output().expect("run cutover"))
}

/// Applies the row's plan, then applies it again with a fresh journal: the second run
/// finds the step in place and does nothing else with it. Its rollback leaves the step as
/// found and names it; `rollback --only` undoes it, so that a third fresh run applies it
/// again rather than finding it in place.
fn found_in_place_with_a_fresh_journal(row: &Row) {
    let f = Fixture::new("");
    let _servers = (row.servers)(&f);
    f.write_plan(
        &row.plan
            .replace("OLD_ADDRESS", &f.lab.host("old").address().to_string())
            .replace("NEW_ADDRESS", &f.lab.host("new").address().to_string()),
    );
    let first = apply(&f).expect(0).stdout();
    assert!(
        step_lines(&first, row.id)
            .iter()
            .any(|l| l.trim_start().starts_with(&format!("ok {}: ", row.id))),
        "the first run did not apply the step: {first}"
    );
    f.reset_journal();
    let again = apply(&f).expect(0).stdout();
    assert_eq!(
        step_lines(&again, row.id),
        vec![
            format!("-> {} ({})", row.id, row.kind),
            format!("   skip {}: already in place (its check passed)", row.id)
        ],
        "{again}"
    );
    let whole = rollback(&f, None).expect(0).stdout();
    assert!(
        whole.contains(&format!(
            "   left {id}: found in place by this run, so not undone (this run did not make it); `cutover rollback --only {id}` undoes it\n",
            id = row.id
        )) && whole
            .lines()
            .any(|l| l.contains("rolled back (0 step(s) undone, ")
                && l.contains(" found in place and not undone: ")
                && l.contains(row.id)),
        "{whole}"
    );
    let only = rollback(&f, Some(row.id)).expect(0).stdout();
    assert!(
        only.contains(&format!("   ok {}: ", row.id)) && only.contains("(1 step(s) undone)"),
        "{only}"
    );
    f.reset_journal();
    let third = apply(&f).expect(0).stdout();
    assert!(
        step_lines(&third, row.id)
            .iter()
            .any(|l| l.trim_start().starts_with(&format!("ok {}: ", row.id))),
        "the undo left the step in place: {third}"
    );
}

#[test]
fn a_postgres_sync_in_place_is_found_by_a_fresh_run_not_redone() {
    found_in_place_with_a_fresh_journal(&POSTGRES_SYNC);
}

#[test]
fn a_redis_sync_in_place_is_found_by_a_fresh_run_not_redone() {
    found_in_place_with_a_fresh_journal(&REDIS_SYNC);
}

#[test]
fn a_postgres_copy_in_place_is_found_by_a_fresh_run_not_redone() {
    found_in_place_with_a_fresh_journal(&POSTGRES_COPY);
}

#[test]
fn a_mysql_copy_in_place_is_found_by_a_fresh_run_not_redone() {
    found_in_place_with_a_fresh_journal(&MYSQL_COPY);
}

#[test]
fn a_mysql_sync_in_place_is_found_by_a_fresh_run_not_redone() {
    found_in_place_with_a_fresh_journal(&MYSQL_SYNC);
}

/// A run with a fresh journal whose sync is no longer running (replication removed on new by
/// hand) starts it from the position the copy marked on new: a write made on old after the
/// copy reaches new, and no row is applied twice.
#[test]
fn a_mysql_sync_with_a_fresh_journal_starts_from_the_copys_marker() {
    let f = Fixture::new("");
    let servers = mysql_servers(&f);
    let (old, new) = servers
        .downcast_ref::<(MariaServer, MariaServer)>()
        .expect("servers");
    f.write_plan(
        &MYSQL_SYNC
            .plan
            .replace("OLD_ADDRESS", &f.lab.host("old").address().to_string())
            .replace("NEW_ADDRESS", &f.lab.host("new").address().to_string()),
    );
    apply(&f).expect(0);
    new.sql("STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only = 0")
        .expect("replication removed");
    old.sql("INSERT INTO shop.notes VALUES ('after', 'the copy')")
        .expect("write on old");
    f.reset_journal();
    let again = apply(&f).expect(0).stdout();
    assert_eq!(
        step_lines(&again, "copy-db")[1],
        "   skip copy-db: already in place (its check passed)",
        "{again}"
    );
    assert!(
        step_lines(&again, "replicate")
            .iter()
            .any(|l| l.trim_start().starts_with("ok replicate: ")),
        "{again}"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while new
        .sql("SELECT body FROM shop.notes WHERE code = 'after'")
        .expect("read new")
        .trim()
        != "the copy"
    {
        assert!(
            std::time::Instant::now() < deadline,
            "old's write never reached new"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let status = new.sql("SHOW SLAVE STATUS").expect("status");
    assert!(
        !status.contains("Duplicate entry"),
        "replication replayed what the copy held: {status}"
    );
}
