//! dnscontrol's "zero corrections" rule for the store steps, as the engine's table test has
//! it for `run` and `pipe`: after a completed run, a fresh run (a new journal: another
//! controller, or the journal lost) finds a store step's work in place through the servers
//! themselves, skips it, and neither redoes nor fails it. One row per store step.

use super::fixture::{Fixture, Run};
use cutover_testbed::{PgOptions, PgServer, RedisOptions, RedisServer, RedisVersion};
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

fn apply(f: &Fixture) -> Run {
    let mut c = f.command(&["apply", "--yes"]);
    c.env("DB_PW", PgServer::PASSWORD)
        .env("REDIS_PW", RedisServer::PASSWORD);
    Run(c.output().expect("run cutover"))
}

/// The lines of `out` about the step `id`.
fn step_lines<'a>(out: &'a str, id: &str) -> Vec<&'a str> {
    out.lines().filter(|l| l.contains(id)).collect()
}

/// Applies the row's plan, then applies it again with a fresh journal: the second run
/// finds the step in place and does nothing else with it.
fn found_in_place_with_a_fresh_journal(row: &Row) {
    let f = Fixture::new("");
    let _servers = (row.servers)(&f);
    f.write_plan(
        &row.plan
            .replace("OLD_ADDRESS", &f.lab.host("old").address().to_string()),
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
