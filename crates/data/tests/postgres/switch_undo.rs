//! Undoing a switch with a reverse subscription makes the target read-only while its last
//! writes flow back; an application's pool reconnecting in that window must not be left
//! with read-only sessions once the target is writable again (found by seed 000: after a
//! soak's rollback and a second switch, the new server's app could not write).

use super::fixture::{endpoint, executor, servers};
use cutover_data::postgres::replication::switch::{self, Freeze, SwitchOptions};
use cutover_data::postgres::replication::{self, SyncOptions};
use std::collections::BTreeSet;
use std::time::Duration;

/// Opens a session on the target every 100 ms that records its pid and whether it started
/// read-only, then stays open, as a pool's connections do.
const PROBES: &str = "rm -f /tmp/probes /tmp/stop-probes; \
    while [ ! -e /tmp/stop-probes ]; do \
      psql -X -At -U writer app -c \"SELECT pg_backend_pid() || ' ' || current_setting('default_transaction_read_only')\" -c 'SELECT pg_sleep(120)' >> /tmp/probes 2>/dev/null & \
      sleep 0.1; \
    done";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sessions_opened_on_the_target_while_a_switch_is_undone_are_ended_after_it() {
    let (lab, old, new) = servers(16, 18, true);
    old.psql("postgres", "CREATE DATABASE app").expect("db");
    old.psql(
        "app",
        "CREATE ROLE writer LOGIN; CREATE TABLE t (id bigserial PRIMARY KEY, v text); GRANT ALL ON t TO writer;",
    )
    .expect("schema");
    new.psql("postgres", "CREATE ROLE writer LOGIN")
        .expect("role");
    let ex = executor(&lab);
    let (source, target) = (endpoint(&old, "app"), endpoint(&new, "app"));
    let options = SyncOptions {
        source_address: old.address().to_string(),
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
    let mut probes = new.spawn_shell(PROBES).expect("probes");
    tokio::time::sleep(Duration::from_millis(300)).await;
    switch::undo_switch(&ex, &source, &target, &sw)
        .await
        .expect("undo")
        .expect("a switch to undo");
    new.shell("touch /tmp/stop-probes").expect("stop probes");
    let _ = probes.kill();
    let _ = probes.wait();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started_read_only: BTreeSet<String> = new
        .shell("cat /tmp/probes")
        .expect("probes")
        .lines()
        .filter_map(|l| l.strip_suffix(" on").map(str::to_string))
        .collect();
    assert!(
        !started_read_only.is_empty(),
        "no session was opened while the target was read-only: the test exercised nothing"
    );
    let alive: BTreeSet<String> = new
        .psql(
            "postgres",
            "SELECT pid FROM pg_stat_activity WHERE datname = 'app' AND backend_type = 'client backend'",
        )
        .expect("sessions")
        .lines()
        .map(|l| l.trim().to_string())
        .collect();
    let stuck: Vec<&String> = started_read_only.intersection(&alive).collect();
    assert!(
        stuck.is_empty(),
        "sessions opened read-only during the undo are still open: {stuck:?}"
    );
    ex.disconnect_all().await;
}
