//! Faults, each with the exact message the operator sees: a wrong password, a target that
//! holds data, a target too old for the source's RDB format, a source whose CONFIG and
//! REPLICAOF are renamed; the link cut in the middle of a full sync and after it (a partial
//! resync); a switch cut off inside its write pause, before and after the promotion, then
//! undone or resumed: the source is writable again either way and no acknowledged write is
//! lost.

use super::fixture::{
    addr, agent, endpoint, executor, pair, seed, servers, switch_options, sync_options, Lines,
};
use cutover_data::redis::protocol::{RedisReply, RedisRequest};
use cutover_data::redis::{Pair, RedisError};
use cutover_exec::SecretValue;
use cutover_testbed::{missing_writes, RedisOptions, RedisServer, RedisVersion, RedisWriter};
use std::time::{Duration, Instant};

fn settings(list: &[(&str, &str)]) -> RedisOptions {
    RedisOptions {
        settings: list
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..RedisOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_wrong_password_is_an_access_error_naming_the_server_and_user() {
    let (lab, old, new) = servers(
        RedisVersion::Redis70,
        RedisVersion::Redis70,
        RedisOptions::default(),
        RedisOptions::default(),
    );
    let mut target = endpoint(&new);
    target.password = Some(SecretValue::new("not-the-password".into()));
    let mut pair = Pair::open(&executor(&lab), &agent(), &endpoint(&old), &target)
        .await
        .unwrap();
    let err = pair
        .preflight(&sync_options(&old))
        .await
        .expect_err("refused");
    assert_eq!(err.class(), cutover_exec::FailureClass::Auth, "{err:?}");
    assert_eq!(
        err.to_string(),
        "target: the Redis server at 127.0.0.1:6379 refused user `default`: wrong password, or the user does not exist or is disabled\nhint: check the password of the target (its secret) and `user` (`default`)"
    );
    assert!(!format!("{err:?}").contains("not-the-password"));
    pair.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_target_holding_data_or_too_old_or_a_source_with_renamed_commands_is_refused() {
    let renamed = RedisOptions {
        renamed: vec![
            ("CONFIG".into(), "cfg-9f2".into()),
            ("REPLICAOF".into(), String::new()),
        ],
        ..RedisOptions::default()
    };
    let (lab, old, new) = servers(
        RedisVersion::Redis70,
        RedisVersion::Redis62,
        renamed,
        RedisOptions::default(),
    );
    new.cli(&["SET", "precious", "1"]).unwrap();
    let mut pair = pair(&lab, &old, &new).await;
    let err = pair
        .preflight(&sync_options(&old))
        .await
        .expect_err("refused");
    assert!(matches!(err, RedisError::Precondition { .. }));
    assert_eq!(err.class(), cutover_exec::FailureClass::Precondition);
    assert_eq!(
        err.to_string(),
        "the target 127.0.0.1:6379 (from host `new`) holds 1 key(s) (database(s) 0): a sync replaces everything on it\n\
hint: empty it (FLUSHALL) if those keys may go, or set `replace = true` in the step\n\
the target 127.0.0.1:6379 (from host `new`) runs Redis 6.2.14, which cannot load the RDB format 10 that the source (Redis 7.0.15) sends in a full sync: it would retry for ever\n\
hint: replicate into a server of the same or a newer version\n\
`CONFIG` is renamed or disabled on the source 127.0.0.1:6379 (from host `old`): cutover needs it to read the settings checked here and set the reverse replication's credentials\n\
hint: remove `rename-command CONFIG ...` from the source's configuration (a restart), or move this server another way\n\
`REPLICAOF` is renamed or disabled on the source 127.0.0.1:6379 (from host `old`): cutover needs it to follow the new server after the switch (reverse replication) and get its role back on rollback\n\
hint: remove `rename-command REPLICAOF ...` from the source's configuration (a restart), or move this server another way"
    );
    assert_eq!(
        new.info_field("replication", "role").unwrap().as_deref(),
        Some("master"),
        "nothing touched"
    );
    assert_eq!(new.cli(&["GET", "precious"]).unwrap().trim(), "1");
    pair.close().await;
}

/// Waits until `f` holds (at most 30 s).
async fn until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_link_cut_mid_full_sync_is_retried_and_a_later_cut_resumes_partially() {
    // A slow full sync (1 ms per key saved), quick failure detection, a big backlog.
    let (lab, old, new) = servers(
        RedisVersion::Redis70,
        RedisVersion::Redis70,
        settings(&[
            ("rdb-key-save-delay", "1000"),
            ("repl-timeout", "2"),
            ("repl-backlog-size", "64mb"),
        ]),
        settings(&[("repl-timeout", "2")]),
    );
    seed(&old, 0..3000);
    let writer = RedisWriter::start(addr(&old), RedisServer::PASSWORD, 1, "w");
    let mut pair = pair(&lab, &old, &new).await;
    let o = sync_options(&old);
    pair.preflight(&o).await.unwrap();
    pair.start_sync(&o).await.unwrap();
    let cut = format!("ip route add blackhole {}/32", old.address());
    let mend = format!("ip route del blackhole {}/32", old.address());
    let lines = Lines::default();
    let show = |l: String| lines.push(l);
    let watched = async {
        let r = pair.watch_sync(&o, &show).await;
        (r, pair)
    };
    let cutter = async {
        // Seen on the source (a diskless transfer shows as `wait_bgsave`): the target,
        // loading straight from the socket, answers only between chunks.
        until("a full sync in progress", || {
            let replica = old.info_field("replication", "slave0").ok().flatten();
            replica
                .is_some_and(|r| r.contains("state=wait_bgsave") || r.contains("state=send_bulk"))
        })
        .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        new.host_shell(&cut).unwrap();
        tokio::time::sleep(Duration::from_secs(4)).await;
        new.host_shell(&mend).unwrap();
        old.cli(&["CONFIG", "SET", "rdb-key-save-delay", "0"])
            .unwrap();
    };
    let ((report, mut pair), ()) = tokio::join!(watched, cutter);
    let report = report.expect("the sync finishes once the link is back");
    assert!(
        report.full_syncs >= 2,
        "the cut full sync was started again: {report:?}"
    );
    assert!(
        lines
            .all()
            .iter()
            .any(|l| l.starts_with("link to the source down")),
        "{:?}",
        lines.all()
    );

    // Once in sync, a cut link resumes from the source's backlog.
    new.host_shell(&cut).unwrap();
    until("the target to notice", || {
        new.info_field("replication", "master_link_status")
            .ok()
            .flatten()
            .as_deref()
            == Some("down")
    })
    .await;
    new.host_shell(&mend).unwrap();
    let report = pair.watch_sync(&o, &show).await.unwrap();
    assert!(report.partial_resyncs >= 1, "{report:?}");
    let written = writer.stop();
    let missing = missing_writes(&written, addr(&new), RedisServer::PASSWORD, "w").unwrap();
    assert!(
        missing.len() as u64 <= 1,
        "at most the write in flight: {missing:?}"
    );
    pair.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_switch_cut_off_inside_the_pause_leaves_the_source_writable_on_undo_or_resume() {
    let (lab, old, new) = servers(
        RedisVersion::Redis70,
        RedisVersion::Redis70,
        RedisOptions::default(),
        RedisOptions::default(),
    );
    seed(&old, 0..500);
    let writer = RedisWriter::start(addr(&old), RedisServer::PASSWORD, 1, "w");
    let mut pair = pair(&lab, &old, &new).await;
    let o = switch_options(&old, &new);
    let quiet = |_: String| {};
    pair.preflight(&o.sync).await.unwrap();
    pair.start_sync(&o.sync).await.unwrap();
    pair.watch_sync(&o.sync, &quiet).await.unwrap();
    let pause = |pair: &Pair| RedisRequest::Pause {
        server: pair.source.conn(),
        timeout_ms: 60_000,
    };

    // Cut off after the pause, before the promotion: undone, the source takes writes again.
    let r = pause(&pair);
    assert!(matches!(
        pair.source.ask(r).await.unwrap(),
        RedisReply::Paused { .. }
    ));
    let undone = pair.undo_switch(&o, Some(false)).await.unwrap();
    assert_eq!(
        undone.as_deref(),
        Some("the target had not been promoted: the source's writes are unpaused")
    );
    assert_eq!(old.cli(&["SET", "writable", "1"]).unwrap().trim(), "OK");

    // Cut off after the promotion: undone, the target follows the source again.
    let offset = paused_and_promoted(&mut pair).await;
    assert!(offset > 0);
    let undone = pair.undo_switch(&o, Some(false)).await.unwrap();
    assert_eq!(
        undone.as_deref(),
        Some("the target took no writes since its promotion: it follows the source again and the source's writes are unpaused")
    );
    assert_eq!(old.cli(&["SET", "writable", "2"]).unwrap().trim(), "OK");
    pair.watch_sync(&o.sync, &quiet).await.unwrap();

    // Cut off after the promotion, then applied again: the switch is finished.
    paused_and_promoted(&mut pair).await;
    let lines = Lines::default();
    let show = |l: String| lines.push(l);
    let resumed = pair.switch(&o, &show).await.unwrap();
    assert!(resumed.resumed, "{resumed:?}");
    assert_eq!(lines.all(), ["an interrupted attempt promoted the target; the source took no writes since: finishing the switch"]);
    assert_eq!(
        old.info_field("replication", "role").unwrap().as_deref(),
        Some("slave")
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let written = writer.stop();
    let missing = missing_writes(&written, addr(&new), RedisServer::PASSWORD, "w").unwrap();
    assert!(missing.is_empty(), "{missing:?}");
    pair.close().await;
}

/// Pauses the source and promotes the target as a switch does, and stops there.
async fn paused_and_promoted(pair: &mut Pair) -> u64 {
    let r = RedisRequest::Pause {
        server: pair.source.conn(),
        timeout_ms: 60_000,
    };
    let RedisReply::Paused { offset } = pair.source.ask(r).await.unwrap() else {
        panic!("not paused")
    };
    let r = RedisRequest::CatchUpAndPromote {
        server: pair.target.conn(),
        offset,
        max_wait_ms: 5000,
    };
    assert!(matches!(
        pair.target.ask(r).await.unwrap(),
        RedisReply::Promoted { .. }
    ));
    offset
}
