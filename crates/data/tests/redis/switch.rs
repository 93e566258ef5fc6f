//! The version matrix under a client's writes: sync, switch with reverse replication, proof,
//! switch undone (the old server primary again with the writes made on the new one), sync
//! undone (the new server an empty primary again). No acknowledged write may be missing on
//! the new server after the switch.

use super::fixture::{addr, pair, seed, servers, switch_options, Lines};
use cutover_data::redis::VerifyOptions;
use cutover_testbed::{missing_writes, RedisOptions, RedisServer, RedisVersion, RedisWriter};
use std::time::Duration;

/// `depth`: writes the client keeps in flight on its connection (pipelined above 1).
async fn sync_switch_prove_and_undo(
    old_version: RedisVersion,
    new_version: RedisVersion,
    depth: usize,
) {
    let (lab, old, new) = servers(
        old_version,
        new_version,
        RedisOptions::default(),
        RedisOptions::default(),
    );
    seed(&old, 0..3000);
    let writer = RedisWriter::pipelined(addr(&old), RedisServer::PASSWORD, 1, depth, "w");
    let mut pair = pair(&lab, &old, &new).await;
    let o = switch_options(&old, &new);
    let lines = Lines::default();
    let show = |l: String| lines.push(l);

    let diskless_load = new.cli(&["CONFIG", "GET", "repl-diskless-load"]).unwrap();
    let pre = pair.preflight(&o.sync).await.expect("preflight");
    assert!(!pre.running, "nothing runs yet");
    assert_eq!(pre.previous.primary, None);
    // A watch's looks read INFO alone: what the sync's watch below needs, without settings.
    let (light_source, light_target) = pair.progress_states().await.expect("progress states");
    for light in [&light_source, &light_target] {
        assert!(light.facts.config.is_empty(), "{:?}", light.facts.config);
        assert!(light.version.is_some() && light.info("role").is_some());
    }
    pair.start_sync(&o.sync).await.expect("start");
    let synced = pair.watch_sync(&o.sync, &show).await.expect("sync");
    assert!(synced.keys >= 3000, "{synced:?}");
    assert_eq!(synced.full_syncs, 1, "{synced:?}");
    // Counted by the target, not sampled: a sync this small is over between two samples.
    assert!(synced.full_sync_bytes > 10_000, "{synced:?}");
    assert!(pair.is_syncing(&o.sync).await.unwrap());
    assert_eq!(
        new.cli(&["CONFIG", "GET", "repl-diskless-load"]).unwrap(),
        diskless_load,
        "the sync's own setting (on-empty-db while it loads) is restored"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;

    let switched = pair.switch(&o, &show).await.expect("switch");
    assert!(!switched.resumed && switched.reverse, "{switched:?}");
    assert!(switched.pause_window < 1.0, "{switched:?}");
    assert!(
        switched.notes.is_empty(),
        "the reverse link came up: {:?}",
        switched.notes
    );
    assert!(pair.is_switched(&o).await.unwrap());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let written = writer.stop();
    assert!(written.total() > 50, "the writer wrote: {written:?}");
    let missing = missing_writes(&written, addr(&new), RedisServer::PASSWORD, "w").unwrap();
    assert!(
        missing.is_empty(),
        "acknowledged writes missing on new: {missing:?}"
    );
    assert!(
        written.errors.iter().all(|e| e.starts_with("-READONLY")),
        "writes to old after the switch are refused, never lost: {:?}",
        written.errors
    );
    assert_eq!(
        old.info_field("replication", "role").unwrap().as_deref(),
        Some("slave")
    );

    let proof = pair
        .verify(&VerifyOptions::default(), &show)
        .await
        .expect("verify");
    assert!(proof.matches(), "{}", proof.render());
    assert!(proof.source.keys() >= 3000);

    new.cli(&["SET", "written-on-new", "1"]).unwrap();
    let undone = pair
        .undo_switch(&o, Some(false))
        .await
        .expect("undo switch");
    assert!(undone.is_some_and(|t| t.contains("the source is the primary again")));
    assert_eq!(
        old.info_field("replication", "role").unwrap().as_deref(),
        Some("master")
    );
    assert_eq!(
        old.cli(&["GET", "written-on-new"]).unwrap().trim(),
        "1",
        "the write made on new came back"
    );
    assert_eq!(
        new.info_field("replication", "role").unwrap().as_deref(),
        Some("slave")
    );

    let undone = pair
        .undo_sync(&o.sync, Some(&pre.previous))
        .await
        .expect("undo sync");
    assert!(undone.contains("the target is a primary again"), "{undone}");
    assert_eq!(
        new.info_field("replication", "role").unwrap().as_deref(),
        Some("master")
    );
    assert_eq!(new.cli(&["DBSIZE"]).unwrap().trim(), "0");
    assert!(old.cli(&["DBSIZE"]).unwrap().trim().parse::<u64>().unwrap() > 3000);
    pair.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_62_to_70() {
    sync_switch_prove_and_undo(RedisVersion::Redis62, RedisVersion::Redis70, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_70_to_70_under_a_pipelining_writer() {
    // Refused writes inside a window (old read-only after the switch) must not hide the
    // acknowledged ones after them from the check on new.
    sync_switch_prove_and_undo(RedisVersion::Redis70, RedisVersion::Redis70, 4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_70_to_valkey_9() {
    sync_switch_prove_and_undo(RedisVersion::Redis70, RedisVersion::Valkey9, 1).await;
}
