//! The end of a coordinated move (issue 19): `cutover status` lists what the switch left
//! running until a `postgres.finish` step ends it; HAProxy keeps the move across a restart
//! (its config file follows the switch); the finish drops the replication objects, gives
//! old its writes back as the plan asks, and a rollback afterwards is refused naming it.
//! Status and the report show the window users saw during the move.

use super::soak::{cutover, get, haproxy_plan_header, setup};
use crate::fixture::Run;
use cutover_testbed::{PgOptions, PgServer};

fn plan(lab: &cutover_testbed::Lab) -> String {
    let header = format!(
        "{}config = \"{}\"\n",
        haproxy_plan_header(lab, "finish-test"),
        cutover_testbed::proxy::HAPROXY_CONFIG
    );
    format!(
        r#"{header}
[secrets.db]
env = "DB_PW"

[[stages]]
name = "sync"
[[stages.steps]]
id = "replicate"
kind = "postgres.sync"
source = {{ host = "old", address = "127.0.0.1", db = "app", password = "{{{{ secrets.db }}}}" }}
target = {{ host = "new", address = "127.0.0.1", db = "app", password = "{{{{ secrets.db }}}}" }}
source_address = "{{{{ hosts.old.address }}}}"

[[stages]]
name = "switch"
[[stages.steps]]
id = "db-switch"
kind = "postgres.switch"
sync = "replicate"
reverse = true
max_wait = "3s"
[[stages.steps]]
id = "move"
kind = "proxy.switch"
proxy = "front"
to = "{{{{ hosts.new.address }}}}:8080"
health_path = "/healthz"
data = ["db-switch"]
max_hold = "8s"
drain = "200ms"

[[stages]]
name = "finish"
[[stages.steps]]
id = "finish"
kind = "postgres.finish"
switch = "db-switch"
source = "writable"
"#
    )
}

/// Replication objects on `pg` in database app, one a line.
fn objects(pg: &PgServer) -> String {
    pg.psql(
        "app",
        "SELECT 'publication ' || pubname FROM pg_publication UNION ALL SELECT 'slot ' || slot_name FROM pg_replication_slots UNION ALL SELECT 'subscription ' || subname FROM pg_subscription ORDER BY 1",
    )
    .expect("objects")
    .trim()
    .to_string()
}

#[test]
fn status_lists_what_a_move_left_running_until_finish_ends_it_and_rollback_is_refused_after() {
    let mut s = setup();
    let opts = PgOptions {
        logical: true,
        ..PgOptions::default()
    };
    let old = PgServer::start(s.lab.host("old"), 16, 5432, opts.clone()).expect("pg16");
    let new = PgServer::start(s.lab.host("new"), 18, 5432, opts).expect("pg18");
    old.psql("postgres", "CREATE DATABASE app").expect("db");
    old.psql(
        "app",
        "CREATE TABLE orders (id bigserial PRIMARY KEY, note text); INSERT INTO orders (note) VALUES ('before');",
    )
    .expect("schema");
    let plan_path = s.dir.path().join("cutover.toml");
    std::fs::write(&plan_path, plan(&s.lab)).unwrap();
    let run = |args: &[&str]| {
        let mut c = cutover(&plan_path, args);
        c.env("DB_PW", PgServer::PASSWORD);
        Run(c.output().expect("run cutover"))
    };
    run(&["apply", "--yes", "--until", "switch"]).expect(0);
    let status = run(&["status"]).expect(0).stdout();
    let left = status
        .lines()
        .skip_while(|l| !l.starts_with("left running:"))
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(
        left,
        "left running: by `db-switch` (postgres.switch):
  old: subscription `cutover_reverse`: writes made on new flow back
  new: replication slot `cutover_reverse`: new keeps WAL for it until it is dropped
  old: publication `cutover`
  old: the database is frozen read-only
  until step `finish` (postgres.finish) runs: `cutover apply` runs it",
        "{status}"
    );

    // The user-visible window of the move, in status and in the report.
    let saw: Vec<&str> = status
        .lines()
        .filter(|l| l.starts_with("users saw:"))
        .collect();
    assert_eq!(saw.len(), 1, "{status}");
    assert!(
        saw[0].starts_with("users saw: move of `move`: requests held ")
            && saw[0].ends_with(", 0 failed (0 reads, 0 writes)"),
        "{status}"
    );
    assert!(
        status.contains("\n  (writes are requests with a method other than GET, HEAD, OPTIONS or TRACE, read from the first request of each held connection)\n"),
        "{status}"
    );
    let report = run(&["report"]).expect(0).stdout();
    assert!(
        report.contains("## What users saw\n\n| step | window | requests held (s) | requests held | of them writes | longest held (s) | longest write held (s) | unavailable (s) | failed requests | of them writes |\n|---|---|---|---|---|---|---|---|---|---|\n| move | move | "),
        "{report}"
    );
    assert!(
        report.contains("\nReads and writes: writes are requests with a method other than GET, HEAD, OPTIONS or TRACE, read from the first request of each held connection.\n"),
        "{report}"
    );

    // HAProxy restarted (its runtime state gone): it reads the moved upstream from its file.
    s.front.restart_haproxy(s.lab.host("old")).unwrap();
    assert!(get(s.front.listen, "/").contains("hello from new"));

    let out = run(&["apply", "--yes"]).expect(0);
    assert!(
        out.stdout().contains("reverse replication of `db-switch` ended: reverse subscription `cutover_reverse` dropped on old, publications and slots dropped on old and new, database `app` on old writable again (sessions opened during the freeze ended)"),
        "{}",
        out.stdout()
    );
    assert_eq!(objects(&old), "");
    assert_eq!(objects(&new), "");
    old.psql("app", "INSERT INTO orders (note) VALUES ('old writable')")
        .expect("old takes writes again, as the plan asked");
    let status = run(&["status"]).expect(0).stdout();
    assert!(
        !status.contains("left running") && !status.contains("warning"),
        "{status}"
    );

    let out = run(&["rollback", "--yes"]);
    assert_eq!(out.code(), 8, "{}{}", out.stdout(), out.stderr());
    let text = out.stdout() + &out.stderr();
    assert!(
        text.contains("`finish` (postgres.finish) ended the reverse replication of `db-switch`: writes made on the new database since then can no longer go back to the old one, so the run cannot be rolled back past `finish`. Nothing was changed."),
        "{text}"
    );
    assert!(get(s.front.listen, "/").contains("hello from new"));
}
