//! `redis.finish` on real servers (issue 19): until it runs, `cutover status` lists old
//! following new; an apply killed inside it (nothing changed yet) cannot be rolled back and
//! is finished by the next apply; then old no longer receives new's writes, refuses writes
//! of its own (the plan's default), its credentials from the switch are cleared, and a
//! rollback is refused naming the finish.

use super::fixture::{kill_9_when, Fixture};
use super::redis::{cutover, role, setup, PLAN};
use cutover_testbed::{RedisServer, RedisVersion};
use std::process::Stdio;
use std::time::{Duration, Instant};

const FINISH: &str = r#"
[[stages]]
name = "finish"

[[stages.steps]]
id = "finish"
kind = "redis.finish"
switch = "promote"
"#;

const REFUSAL: &str = "`finish` (redis.finish) ended the reverse replication of `promote`: writes made on the new server since then can no longer go back to the old one, so the run cannot be rolled back past `finish`. Nothing was changed. To go back, migrate again in the other direction (a plan with old and new swapped)";

/// The `left running:` part of status.
fn left_running(f: &Fixture) -> String {
    let status = cutover(f, &["status"]).expect(0).stdout();
    status
        .lines()
        .skip_while(|l| !l.starts_with("left running:"))
        .take_while(|l| l.starts_with("left running:") || l.starts_with("  "))
        .collect::<Vec<_>>()
        .join("\n")
}

fn get(r: &RedisServer, key: &str) -> String {
    r.cli(&["GET", key]).unwrap().trim().to_string()
}

#[test]
fn redis_finish_ends_the_reverse_replication_and_refuses_a_rollback_even_when_killed() {
    let (f, old, new) = setup("", RedisVersion::Redis70, RedisVersion::Redis70);
    f.write_plan(
        &(PLAN
            .replace("OLD_ADDRESS", &f.lab.host("old").address().to_string())
            .replace("NEW_ADDRESS", &f.lab.host("new").address().to_string())
            .replace("CLIENTS", "")
            + FINISH),
    );
    cutover(&f, &["apply", "--yes", "--until", "switch"]).expect(0);
    assert_eq!(
        left_running(&f),
        "left running: by `promote` (redis.switch):
  old: follows new (REPLICAOF): writes made on new flow back, and old refuses writes as a replica
  until step `finish` (redis.finish) runs: `cutover apply` runs it"
    );
    new.cli(&["SET", "before-finish", "1"]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while get(&old, "before-finish") != "1" {
        assert!(Instant::now() < deadline, "new's write never reached old");
        std::thread::sleep(Duration::from_millis(50));
    }

    // Every command on old waits: the finish journals that it began, then blocks on old,
    // where it is killed before it changed anything.
    old.cli(&["CLIENT", "PAUSE", "8000", "ALL"]).unwrap();
    let paused = Instant::now();
    let mut apply = f.command(&["apply", "--yes"]);
    apply
        .env("REDIS_PW", RedisServer::PASSWORD)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    kill_9_when(apply.spawn().expect("apply"), "the finish began", || {
        super::fixture::contains(&f.journal_bytes(), "finish_began")
    });
    std::thread::sleep(Duration::from_millis(8500).saturating_sub(paused.elapsed()));
    let refused = cutover(&f, &["rollback", "--yes"]);
    assert_eq!(
        refused.code(),
        8,
        "{}{}",
        refused.stdout(),
        refused.stderr()
    );
    assert!(
        (refused.stdout() + &refused.stderr()).contains(REFUSAL),
        "{}{}",
        refused.stdout(),
        refused.stderr()
    );
    assert_eq!(role(&old), "slave", "the refused rollback changed nothing");

    let out = cutover(&f, &["apply", "--yes"]).expect(0).stdout();
    assert!(
        out.contains("reverse replication of `promote` ended: old no longer follows new (REPLICAOF NO ONE), old's masterauth cleared, new's masterauth cleared, old refuses writes (min-replicas-to-write 2147483647: NOREPLICAS)"),
        "{out}"
    );
    assert_eq!((role(&old), role(&new)), ("master".into(), "master".into()));
    new.cli(&["SET", "after-finish", "1"]).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(get(&old, "after-finish"), "", "old no longer replicates");
    assert_eq!(get(&old, "before-finish"), "1");
    let write = old.cli(&["SET", "on-old", "1"]).unwrap();
    assert!(
        write.starts_with("NOREPLICAS"),
        "old refuses writes, as the plan asked: {write}"
    );
    for server in [&old, &new] {
        assert_eq!(
            server
                .cli(&["CONFIG", "GET", "masterauth"])
                .unwrap()
                .lines()
                .nth(1)
                .unwrap_or_default(),
            "",
            "masterauth cleared on {}, as it was before the plan",
            server.host()
        );
    }
    assert_eq!(left_running(&f), "");

    let refused = cutover(&f, &["rollback", "--yes"]);
    assert_eq!(
        refused.code(),
        8,
        "{}{}",
        refused.stdout(),
        refused.stderr()
    );
    assert!(
        (refused.stdout() + &refused.stderr()).contains(REFUSAL),
        "{}{}",
        refused.stdout(),
        refused.stderr()
    );
    assert_eq!(role(&new), "master", "new is left as it was");

    // Nor can the switch be undone on its own.
    let refused = cutover(&f, &["rollback", "--yes", "--only", "promote"]);
    assert_eq!(
        refused.code(),
        8,
        "{}{}",
        refused.stdout(),
        refused.stderr()
    );
    assert!(
        (refused.stdout() + &refused.stderr()).contains(REFUSAL),
        "{}{}",
        refused.stdout(),
        refused.stderr()
    );
    assert_eq!(role(&old), "master", "old is left as the finish made it");
}
