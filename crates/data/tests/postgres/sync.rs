//! Logical replication under a write load: the initial sync, the switch with its freeze
//! window, no acknowledged write lost, sequences advanced, the reverse subscription and both
//! rollbacks; and the preflight that refuses a source which cannot publish.

use super::fixture::{endpoint, executor, servers};
use cutover_data::postgres::replication::drift;
use cutover_data::postgres::replication::switch::{self, Freeze, SwitchOptions};
use cutover_data::postgres::replication::{self, SyncOptions};
use cutover_data::postgres::{verify, PgError, VerifyOptions};
use cutover_exec::Command;
use cutover_testbed::PgServer;
use std::collections::BTreeSet;
use std::time::Duration;

const SCHEMA: &str = "
CREATE ROLE writer LOGIN;
CREATE TABLE ledger (id bigserial PRIMARY KEY, note text NOT NULL, at timestamptz DEFAULT now());
CREATE TABLE tags (ledger_id bigint, tag text);
CREATE INDEX tags_ledger_idx ON tags (ledger_id);
GRANT INSERT, SELECT ON ledger, tags TO writer;
GRANT USAGE ON SEQUENCE ledger_id_seq TO writer;
INSERT INTO ledger (note) SELECT 'seed ' || i FROM generate_series(1, 5000) i;
INSERT INTO tags SELECT i, 't' || (i % 7) FROM generate_series(1, 5000) i;
";

/// Inserts rows one transaction each as role `writer`, as fast as the server takes them,
/// printing every acknowledged id to /tmp/acked on the host.
const WRITER: &str =
    "seq 1 10000000 | sed 's/.*/INSERT INTO ledger (note) VALUES (md5(&::text)) RETURNING id;/' \
   | psql -X -q -At -U writer app > /tmp/acked 2>/tmp/writer.err & echo $! > /tmp/writer.pid; wait";

fn acked(old: &PgServer) -> BTreeSet<i64> {
    let text = old.shell("cat /tmp/acked").expect("read acked ids");
    text.lines().filter_map(|l| l.trim().parse().ok()).collect()
}

fn present(pg: &PgServer) -> BTreeSet<i64> {
    pg.psql("app", "SELECT id FROM ledger")
        .expect("ids")
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

fn prepare(old: &PgServer, new: &PgServer) {
    old.psql("postgres", "CREATE DATABASE app").expect("db");
    old.psql("app", SCHEMA).expect("schema");
    new.psql("postgres", "CREATE ROLE writer LOGIN")
        .expect("role on the target");
}

fn sync_options(old: &PgServer) -> SyncOptions {
    SyncOptions {
        source_address: old.address().to_string(),
        replica_identity_full: true,
        timeout: Duration::from_secs(120),
        ..SyncOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn switch_under_writes_loses_no_acknowledged_row_and_rolls_back_through_the_reverse_subscription(
) {
    let (lab, old, new) = servers(16, 18, true);
    prepare(&old, &new);
    let ex = executor(&lab);
    let (source, target) = (endpoint(&old, "app"), endpoint(&new, "app"));
    // Multi-statement transactions from several clients up to the freeze, committed
    // asynchronously (the test servers run with synchronous_commit = off): regression test
    // for losing the last commits that were acknowledged but not yet flushed at the freeze.
    old.shell("pgbench -q -i -s 1 app >/dev/null 2>&1 && psql -X -q -d app -c 'GRANT ALL ON ALL TABLES IN SCHEMA public TO writer'")
        .expect("pgbench tables");
    let mut writer = old.spawn_shell(WRITER).expect("start the writer");
    let mut pgbench = old
        .spawn_shell("pgbench -n -c 4 -j 2 -T 600 -R 500 -U writer app >/dev/null 2>&1")
        .expect("start pgbench");
    let options = sync_options(&old);
    let report = replication::sync(&ex, &source, &target, &options, &|_| {})
        .await
        .expect("sync");
    assert_eq!(report.tables, 6);
    assert_eq!(
        report.identity_full,
        vec![
            "public.pgbench_history".to_string(),
            "public.tags".to_string()
        ]
    );
    assert!(replication::is_running(&ex, &source, &target, &options)
        .await
        .expect("state"));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let l = replication::lag(&ex, &source, "cutover")
        .await
        .expect("lag");
    assert!(l.bytes < 10 << 20, "{l:?}");

    let sw = SwitchOptions {
        sync: options.clone(),
        freeze: Freeze::ReadOnly,
        reverse: Some(new.address().to_string()),
        max_wait: Duration::from_secs(30),
    };
    let done = switch::switch(&ex, &source, &target, &sw, &|_| {})
        .await
        .expect("switch");
    assert!(done.sessions_ended >= 5, "{done:?}");
    assert!(done.freeze_window < 5.0, "{done:?}");
    assert!(done.sequences >= 1, "{done:?}");
    // The writers' sessions were ended by the freeze.
    let _ = tokio::task::spawn_blocking(move || (writer.wait(), pgbench.wait())).await;
    let acked = acked(&old);
    assert!(
        acked.len() > 100,
        "the writer wrote only {} rows",
        acked.len()
    );
    let on_target = present(&new);
    let lost: Vec<&i64> = acked.difference(&on_target).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged rows missing on the target: {:?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );
    let proof = verify(&ex, &source, &target, &VerifyOptions::default(), &|_| {})
        .await
        .expect("verify");
    assert!(proof.matches(), "{}", proof.render());
    // The source refuses writes now; the target takes them (with ids past the source's).
    assert!(old
        .shell("psql -X -U writer app -c \"INSERT INTO ledger (note) VALUES ('late')\"")
        .is_err());
    let id = new
        .psql(
            "app",
            "INSERT INTO ledger (note) VALUES ('written on new') RETURNING id",
        )
        .expect("write on new");
    let id: i64 = id.trim().parse().expect("id");
    assert!(id > *acked.iter().max().unwrap_or(&0), "{id}");
    assert!(switch::is_switched(&ex, &source, &target)
        .await
        .expect("state"));

    // Rollback after the switch: the write made on new is carried back, the source thaws.
    let undone = switch::undo_switch(&ex, &source, &target, &sw)
        .await
        .expect("undo switch")
        .expect("a switch to undo");
    assert!(undone.contains("replayed back"), "{undone}");
    // Undone once: a second undo finds nothing switched and changes nothing.
    assert_eq!(
        switch::undo_switch(&ex, &source, &target, &sw)
            .await
            .expect("second undo"),
        None
    );
    assert!(
        present(&old).contains(&id),
        "the write made on new did not flow back"
    );
    old.shell("psql -X -U writer app -c \"INSERT INTO ledger (note) VALUES ('old again')\"")
        .expect("the source takes writes again");
    let undone = replication::undo_sync(&ex, &source, &target, &options)
        .await
        .expect("undo sync");
    assert!(undone.contains("dropped"), "{undone}");
    assert_eq!(
        old.psql("app", "SELECT count(*) FROM pg_publication")
            .expect("pubs")
            .trim(),
        "0"
    );
    assert_eq!(
        old.psql("app", "SELECT count(*) FROM pg_replication_slots")
            .expect("slots")
            .trim(),
        "0"
    );
    assert_eq!(
        old.psql(
            "app",
            "SELECT relreplident FROM pg_class WHERE relname = 'tags'"
        )
        .expect("identity")
        .trim(),
        "d"
    );
    ex.disconnect_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_plan_command_can_freeze_the_writes_instead() {
    let (lab, old, new) = servers(16, 18, true);
    prepare(&old, &new);
    let ex = executor(&lab);
    let (source, target) = (endpoint(&old, "app"), endpoint(&new, "app"));
    let mut writer = old.spawn_shell(WRITER).expect("start the writer");
    let options = sync_options(&old);
    replication::sync(&ex, &source, &target, &options, &|_| {})
        .await
        .expect("sync");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sw = SwitchOptions {
        sync: options.clone(),
        freeze: Freeze::Command {
            // The "maintenance mode" of this app: stop its writer and wait for it to exit.
            freeze: Box::new(Command::shell("old", "p=$(cat /tmp/writer.pid); kill $p; while kill -0 $p 2>/dev/null; do sleep 0.01; done")),
            unfreeze: Some(Box::new(Command::shell("new", "touch /tmp/unfrozen"))),
        },
        reverse: None,
        max_wait: Duration::from_secs(30),
    };
    let done = switch::switch(&ex, &source, &target, &sw, &|_| {})
        .await
        .expect("switch");
    assert_eq!(done.sessions_ended, 0);
    let _ = tokio::task::spawn_blocking(move || writer.wait()).await;
    assert!(
        lab.host("new").fs_path("/tmp/unfrozen").exists(),
        "unfreeze ran on new"
    );
    let acked = acked(&old);
    let on_target = present(&new);
    assert!(
        acked.len() > 100 && acked.is_subset(&on_target),
        "{} acked, {} missing",
        acked.len(),
        acked.difference(&on_target).count()
    );
    ex.disconnect_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_preflight_names_what_the_source_lacks_with_the_fix() {
    let (lab, old, new) = servers(16, 18, false);
    prepare(&old, &new);
    let ex = executor(&lab);
    let (source, target) = (endpoint(&old, "app"), endpoint(&new, "app"));
    let mut options = sync_options(&old);
    let err = replication::sync(&ex, &source, &target, &options, &|_| {})
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("wal_level is `replica`")
            && text.contains("ALTER SYSTEM SET wal_level = logical"),
        "{text}"
    );
    drop(old);
    drop(new);
    let (lab2, old, new) = servers(16, 18, true);
    drop(lab);
    prepare(&old, &new);
    let ex = executor(&lab2);
    options.replica_identity_full = false;
    options.source_address = old.address().to_string();
    let err = replication::sync(&ex, &source, &target, &options, &|_| {})
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, PgError::Precondition { .. }), "{text}");
    assert!(
        text.contains("public.tags")
            && text.contains("ALTER TABLE \"public\".\"tags\" REPLICA IDENTITY FULL;"),
        "{text}"
    );
    old.psql(
        "app",
        "ALTER TABLE tags ADD PRIMARY KEY (ledger_id); SELECT lo_from_bytea(0, '\\x01')",
    )
    .expect("fix, then add a large object");
    let err = replication::sync(&ex, &source, &target, &options, &|_| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("large object"), "{err}");
    // Nothing was created on either side.
    assert_eq!(
        old.psql("app", "SELECT count(*) FROM pg_publication")
            .expect("pubs")
            .trim(),
        "0"
    );
    assert!(!new
        .psql("postgres", "SELECT datname FROM pg_database")
        .expect("dbs")
        .contains("app"));
    ex.disconnect_all().await;
}

/// DDL run on the source while the sync runs (logical replication does not carry it): the
/// switch refuses before freezing anything, naming each object with both definitions and
/// what to do; once the same DDL runs on the target, the switch goes ahead.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ddl_on_the_source_during_a_sync_stops_the_switch_until_the_target_has_it() {
    let (lab, old, new) = servers(16, 18, true);
    prepare(&old, &new);
    let ex = executor(&lab);
    let (source, target) = (endpoint(&old, "app"), endpoint(&new, "app"));
    let recorded = drift::fingerprint(&ex, &source)
        .await
        .expect("the source's schema");
    let options = sync_options(&old);
    replication::sync(&ex, &source, &target, &options, &|_| {})
        .await
        .expect("sync");
    let sw = SwitchOptions {
        sync: options.clone(),
        freeze: Freeze::ReadOnly,
        reverse: None,
        max_wait: Duration::from_secs(30),
    };
    let hotfix = "ALTER TABLE ledger ADD COLUMN channel text DEFAULT 'web';
        CREATE INDEX tags_tag_idx ON tags (tag) WHERE tag <> '';
        ALTER TABLE ledger ALTER COLUMN at SET DEFAULT clock_timestamp();";
    old.psql("app", hotfix).expect("a hotfix on the source");
    let err = switch::switch_checked(&ex, &source, &target, &sw, Some(&recorded), &|_| {})
        .await
        .expect_err("the switch must refuse");
    assert_eq!(
        err.to_string(),
        "the source's schema changed since the sync started, and logical replication does not carry DDL: 3 object(s) differ on the target:
  column public.ledger.at: default differs (source: clock_timestamp(); target: now())
  column public.ledger.channel: missing on target (on source: default 'web'::text; type text)
  index public.tags_tag_idx: missing on target (on source: definition USING btree (tag) WHERE (tag <> ''::text); table tags)
hint: apply the same DDL on the target (nothing was frozen or switched), then run the switch again"
    );
    // Nothing was frozen: the source still takes writes, the sync still runs.
    old.shell(
        "psql -X -U writer app -c \"INSERT INTO ledger (note) VALUES ('after the refusal')\"",
    )
    .expect("the source takes writes");
    assert!(replication::is_running(&ex, &source, &target, &options)
        .await
        .expect("state"));
    new.psql("app", hotfix).expect("the same DDL on the target");
    let done = switch::switch_checked(&ex, &source, &target, &sw, Some(&recorded), &|_| {})
        .await
        .expect("the switch goes ahead");
    assert!(done.freeze_window < 5.0, "{done:?}");
    let proof = verify(&ex, &source, &target, &VerifyOptions::default(), &|_| {})
        .await
        .expect("verify");
    assert!(proof.matches(), "{}", proof.render());
    ex.disconnect_all().await;
}
