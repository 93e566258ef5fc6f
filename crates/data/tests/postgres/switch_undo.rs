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

/// A move back releases its held requests as soon as the source takes writes again, before
/// the forward sync is made again: a write the source takes in that gap must still reach the
/// target, which it can only through a slot made while the source was frozen.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_source_takes_writes_before_the_sync_is_made_again_and_none_is_lost() {
    let (lab, old, new) = servers(16, 18, true);
    old.psql("postgres", "CREATE DATABASE app").expect("db");
    old.psql(
        "app",
        "CREATE TABLE t (id bigserial PRIMARY KEY, v text); INSERT INTO t (v) VALUES ('before');",
    )
    .expect("schema");
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
    new.psql("app", "INSERT INTO t (v) VALUES ('on new')")
        .expect("write on new");
    // What the source and the target look like at the moment the undo says "writable".
    let seen = std::sync::Mutex::new(None);
    let writable = || {
        let wrote = old.psql(
            "app",
            "INSERT INTO t (v) VALUES ('in the gap') RETURNING id",
        );
        let subs = new.psql("app", "SELECT count(*) FROM pg_subscription");
        *seen.lock().expect("seen") = Some((wrote, subs));
    };
    switch::undo_switch_then(&ex, &source, &target, &sw, &writable)
        .await
        .expect("undo")
        .expect("a switch to undo");
    let (wrote, subs) = seen
        .lock()
        .expect("seen")
        .take()
        .expect("writable never said");
    wrote.expect("the source refused a write once the undo said it was writable");
    assert_eq!(
        subs.expect("subscriptions").trim(),
        "0",
        "the forward sync was made before the source took writes: requests were held longer than needed"
    );
    let all = "SELECT string_agg(v, ',' ORDER BY id) FROM t";
    assert_eq!(
        old.psql("app", all).expect("old").trim(),
        "before,on new,in the gap"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let on_new = new.psql("app", all).expect("new");
        if on_new.trim() == "before,on new,in the gap" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the write the source took before the sync was made again never reached the target: {on_new}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    ex.disconnect_all().await;
}

/// A move back prepares the undo while requests are still flowing to the target (beside its
/// hold and drain): the prepared undo only reads. Writes made on the target after it was
/// prepared still reach the source once it is committed, and the source stays frozen until
/// then.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_prepared_undo_changes_nothing_until_committed() {
    let (lab, old, new) = servers(16, 18, true);
    old.psql("postgres", "CREATE DATABASE app").expect("db");
    old.psql(
        "app",
        "CREATE ROLE writer LOGIN; CREATE TABLE t (id bigserial PRIMARY KEY, v text); GRANT ALL ON t TO writer; GRANT USAGE ON SEQUENCE t_id_seq TO writer; INSERT INTO t (v) VALUES ('before');",
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
    let ready = switch::prepare_undo(&ex, &source, &target, &sw)
        .await
        .expect("prepare the undo");
    let write = |pg: &cutover_testbed::PgServer, v: &str| {
        pg.shell(&format!(
            "psql -X -v ON_ERROR_STOP=1 -U writer app -c \"INSERT INTO t (v) VALUES ('{v}')\""
        ))
    };
    write(&new, "after the prepare").expect("the target still takes writes once prepared");
    assert!(
        write(&old, "too early").is_err(),
        "the source took a write before the undo was committed"
    );
    ready
        .commit(&ex, &sw, &|| ())
        .await
        .expect("commit the undo")
        .expect("a switch to undo");
    write(&old, "after the undo").expect("the source takes writes once the undo is committed");
    assert_eq!(
        old.psql("app", "SELECT string_agg(v, ',' ORDER BY id) FROM t")
            .expect("rows")
            .trim(),
        "before,after the prepare,after the undo"
    );
    ex.disconnect_all().await;
}
