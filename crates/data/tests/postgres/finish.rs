//! The end of a switch's way back (`postgres.finish`): what the switch left running is found,
//! then dropped on both servers; a second finish changes nothing; the source stays
//! read-only even for the role that kept writing for the reverse subscription; an undo of the
//! switch is refused afterwards.

use super::fixture::{endpoint, executor, servers};
use cutover_data::postgres::replication::finish::{self, LeftRunning, SourceAfter};
use cutover_data::postgres::replication::switch::{self, Freeze, SwitchOptions};
use cutover_data::postgres::replication::{self, SyncOptions};
use cutover_testbed::PgServer;
use std::time::Duration;

/// Replication objects on `pg`: publications, slots and subscriptions, one a line.
fn objects(pg: &PgServer) -> String {
    pg.psql(
        "app",
        "SELECT 'publication ' || pubname FROM pg_publication UNION ALL SELECT 'slot ' || slot_name FROM pg_replication_slots UNION ALL SELECT 'subscription ' || subname FROM pg_subscription ORDER BY 1",
    )
    .expect("objects")
    .trim()
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn finish_drops_what_the_switch_left_on_both_servers_once_and_refuses_a_later_undo() {
    let (lab, old, new) = servers(16, 18, true);
    old.psql("postgres", "CREATE DATABASE app").expect("db");
    old.psql(
        "app",
        "CREATE TABLE t (id bigserial PRIMARY KEY, v text); CREATE TABLE keyless (v text); INSERT INTO t (v) VALUES ('a'), ('b');",
    )
    .expect("schema");
    let ex = executor(&lab);
    let (source, target) = (endpoint(&old, "app"), endpoint(&new, "app"));
    let options = SyncOptions {
        source_address: old.address().to_string(),
        replica_identity_full: true,
        timeout: Duration::from_secs(120),
        ..SyncOptions::default()
    };
    replication::sync(&ex, &source, &target, &options, &|_| {})
        .await
        .expect("sync");
    let sw = SwitchOptions {
        sync: options.clone(),
        freeze: Freeze::ReadOnly,
        reverse: Some(new.address().to_string()),
        max_wait: Duration::from_secs(30),
    };
    switch::switch(&ex, &source, &target, &sw, &|_| {})
        .await
        .expect("switch");
    let found = finish::left_running(&ex, &source, &target, &sw)
        .await
        .expect("look");
    assert_eq!(
        found,
        LeftRunning {
            reverse_subscription: true,
            reverse_slot: true,
            publication: true,
            source_frozen: true,
        }
    );
    assert_eq!(
        objects(&old),
        "publication cutover\nsubscription cutover_reverse"
    );
    assert_eq!(
        objects(&new),
        "publication cutover_reverse\nslot cutover_reverse"
    );

    let done = finish::finish(&ex, &source, &target, &sw, SourceAfter::ReadOnly)
        .await
        .expect("finish");
    assert_eq!(
        done,
        vec![
            "reverse subscription `cutover_reverse` dropped on old".to_string(),
            "replica identity restored on 1 table(s)".into(),
            "publications and slots dropped on old and new".into(),
            "database `app` on old left read-only".into(),
        ]
    );
    assert_eq!(objects(&old), "");
    assert_eq!(objects(&new), "");
    assert_eq!(
        old.psql(
            "app",
            "SELECT relreplident FROM pg_class WHERE relname = 'keyless'"
        )
        .expect("identity")
        .trim(),
        "d",
        "the keyless table's replica identity is back to default"
    );
    // Read-only for every role now, cutover's own (which the reverse worker wrote as) too.
    let refused = old
        .shell("psql -X -U postgres -d app -c \"INSERT INTO t (v) VALUES ('late')\" 2>&1 || true")
        .unwrap_or_else(|e| e.to_string());
    assert!(
        refused.contains("read-only transaction"),
        "a write on old after finish: {refused}"
    );
    assert!(finish::is_finished(&ex, &source, &target)
        .await
        .expect("state"));
    assert_eq!(
        finish::left_running(&ex, &source, &target, &sw)
            .await
            .expect("look"),
        LeftRunning {
            source_frozen: true,
            ..LeftRunning::default()
        }
    );

    // Idempotent: a second finish finds nothing to drop and changes nothing.
    let again = finish::finish(&ex, &source, &target, &sw, SourceAfter::ReadOnly)
        .await
        .expect("finish again");
    assert_eq!(
        again,
        vec![
            "publications and slots dropped on old and new".to_string(),
            "database `app` on old left read-only".into(),
        ]
    );
    assert_eq!(objects(&old), "");

    // The switch can no longer be undone: the writes made on new would be lost.
    let refusal = switch::undo_switch(&ex, &source, &target, &sw)
        .await
        .expect_err("an undo after finish is refused");
    assert_eq!(
        refusal.to_string(),
        "the reverse replication into the source was ended (database `app` on the target is marked finished): writes made on the target since the switch can no longer go back to the source\nhint: the switch cannot be undone any more; to go back, migrate again in the other direction (a new plan with old and new swapped)"
    );

    // Writable, as a plan may ask instead.
    finish::finish(&ex, &source, &target, &sw, SourceAfter::Writable)
        .await
        .expect("finish writable");
    old.psql("app", "INSERT INTO t (v) VALUES ('writable')")
        .expect("old takes writes");
    ex.disconnect_all().await;
}
