//! Redis through plans and `cutover verify redis`: a sync, switch and proof under a client's
//! writes (Redis 7.0 -> Valkey 9), rolled back with the writes made on new kept; a wrong
//! password (exit 4, the server and user named); the standalone proof's exit codes; the
//! starter plan.

use super::fixture::{contains, Fixture, Run};
use cutover_testbed::{missing_writes, RedisOptions, RedisServer, RedisVersion, RedisWriter};
use std::net::SocketAddr;

/// Sync, switch (old follows new), proof; OLD_ADDRESS and NEW_ADDRESS filled in.
pub const PLAN: &str = r#"
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
watch = "1s"

[[stages]]
name = "switch"

[[stages.steps]]
id = "promote"
kind = "redis.switch"
sync = "replicate"
target_address = "NEW_ADDRESS"
CLIENTS

[[stages.steps]]
id = "prove"
kind = "redis.verify"
source = { host = "old", password = "{{ secrets.redis }}" }
target = { host = "new", password = "{{ secrets.redis }}" }
"#;

/// A lab with the plan (`clients` as the switch's extra lines) and a server on each host.
pub fn setup(
    clients: &str,
    old_version: RedisVersion,
    new_version: RedisVersion,
) -> (Fixture, RedisServer, RedisServer) {
    let f = Fixture::new("");
    f.write_plan(
        &PLAN
            .replace("OLD_ADDRESS", &f.lab.host("old").address().to_string())
            .replace("NEW_ADDRESS", &f.lab.host("new").address().to_string())
            .replace("CLIENTS", clients),
    );
    let old = RedisServer::start(
        f.lab.host("old"),
        old_version,
        6379,
        RedisOptions::default(),
    )
    .expect("old");
    let new = RedisServer::start(
        f.lab.host("new"),
        new_version,
        6379,
        RedisOptions::default(),
    )
    .expect("new");
    old.pipe(&cutover_testbed::redis_data::mixed(0..2000))
        .expect("seed");
    (f, old, new)
}

pub fn cutover(f: &Fixture, args: &[&str]) -> Run {
    let mut c = f.command(args);
    c.env("REDIS_PW", RedisServer::PASSWORD);
    Run(c.output().expect("run cutover"))
}

pub fn addr(r: &RedisServer) -> SocketAddr {
    SocketAddr::from((r.address(), r.port()))
}

pub fn role(r: &RedisServer) -> String {
    r.info_field("replication", "role")
        .unwrap()
        .unwrap_or_default()
}

#[test]
fn a_plan_syncs_switches_under_writes_proves_and_rolls_back() {
    let (f, old, new) = setup("", RedisVersion::Redis70, RedisVersion::Valkey9);
    let plan = cutover(&f, &["plan"]).expect(0).stdout();
    assert!(
        plan.contains("replicate 127.0.0.1:6379 (agent on old) into 127.0.0.1:6379 (agent on new)"),
        "{plan}"
    );
    assert!(
        plan.contains(
            "pause writes on the source of step `replicate` (CLIENT PAUSE ... WRITE: clients wait)"
        ),
        "{plan}"
    );

    let writer = RedisWriter::start(addr(&old), RedisServer::PASSWORD, 1, "w");
    let out = cutover(&f, &["apply", "--yes"]).expect(0).stdout();
    let written = writer.stop();
    assert!(written.total() > 50, "{written:?}");
    let missing = missing_writes(&written, addr(&new), RedisServer::PASSWORD, "w").unwrap();
    assert!(
        missing.is_empty(),
        "acknowledged writes missing on new: {missing:?}"
    );
    assert!(
        out.contains("target is the primary: writes paused"),
        "{out}"
    );
    assert!(
        out.contains("identical on both servers (Redis 7.0.15 vs Valkey 9.1.2)"),
        "{out}"
    );
    assert_eq!(
        (role(&old), role(&new)),
        ("slave".to_string(), "master".to_string())
    );

    let report = cutover(&f, &["report"]).expect(0).stdout();
    assert!(report.contains("pause_window"), "{report}");
    // The pause is on the timeline where it began and ended, as PostgreSQL's freeze is.
    assert!(
        report.lines().any(|l| l.contains("writes paused from ")),
        "{report}"
    );
    let proof = super::fixture::proof_section(&report, "prove (old + new)");
    assert!(proof.contains("verdict: identical"), "{proof}");
    assert!(
        !contains(&f.journal_bytes(), RedisServer::PASSWORD),
        "password in the journal"
    );

    new.cli(&["SET", "written-on-new", "1"]).unwrap();
    let out = cutover(&f, &["rollback", "--yes"]).expect(0).stdout();
    assert!(
        out.contains("the source is the primary again with every write made on the target"),
        "{out}"
    );
    assert_eq!(role(&old), "master");
    assert_eq!(old.cli(&["GET", "written-on-new"]).unwrap().trim(), "1");
    assert_eq!(
        role(&new),
        "master",
        "the sync's undo made new a primary again"
    );
    assert_eq!(
        new.cli(&["DBSIZE"]).unwrap().trim(),
        "0",
        "and removed the copied keys"
    );
    assert_eq!(
        old.cli(&["CONFIG", "GET", "masterauth"])
            .unwrap()
            .lines()
            .nth(1)
            .unwrap_or_default(),
        "",
        "old's masterauth cleared as it was"
    );
}

#[test]
fn a_wrong_password_stops_the_sync_with_exit_4_naming_server_and_user() {
    let (f, _old, new) = setup("", RedisVersion::Redis70, RedisVersion::Redis70);
    let mut c = f.command(&["apply", "--yes"]);
    c.env("REDIS_PW", "wrong-password");
    let run = Run(c.output().unwrap()).expect(4);
    let err = run.stderr();
    assert!(
        err.contains("step `replicate` failed: source: the Redis server at 127.0.0.1:6379 refused user `default`: wrong password, or the user does not exist or is disabled\nhint: check the password of the source (its secret) and `user` (`default`)"),
        "{err}"
    );
    assert!(!err.contains("wrong-password") && !run.stdout().contains("wrong-password"));
    assert_eq!(role(&new), "master", "nothing changed");
}

#[test]
fn verify_redis_names_differences_with_exit_9_and_refuses_bad_credentials_with_exit_4() {
    let f = Fixture::new("");
    let old = RedisServer::start(
        f.lab.host("old"),
        RedisVersion::Redis70,
        6379,
        RedisOptions::default(),
    )
    .unwrap();
    let new = RedisServer::start(
        f.lab.host("new"),
        RedisVersion::Redis70,
        6379,
        RedisOptions::default(),
    )
    .unwrap();
    for r in [&old, &new] {
        r.cli(&["SET", "same", "1"]).unwrap();
        r.cli(&["HSET", "h", "a", "1", "b", "2"]).unwrap();
    }
    new.cli(&["HSET", "h", "b", "3"]).unwrap();
    let url = |r: &RedisServer| format!("redis://{}:{}", r.address(), r.port());
    let verify = |pw: &str, source: String| {
        let mut c = f.command(&["verify", "redis", &source, &url(&new)]);
        c.env("CUTOVER_SOURCE_REDIS_PASSWORD", pw)
            .env("CUTOVER_TARGET_REDIS_PASSWORD", RedisServer::PASSWORD);
        Run(c.output().unwrap())
    };
    let run = verify(RedisServer::PASSWORD, url(&old)).expect(9);
    let out = run.stdout();
    assert!(out.contains("verdict: 1 difference(s): 1 value differs\n  ✗ db 0 key \"h\": value differs (hash, 2 elements on source, hash, 2 elements on target: field \"b\" differs)"), "{out}");
    // The `redis.verify` step judges the same proof through the runner every store's proof
    // shares: exit 9, the difference listed, and the journaled end of its command says how
    // many differ (it once said "identical" there, whatever the verdict).
    f.write_plan(
        r#"
[secrets.redis]
env = "REDIS_PW"
[[stages]]
name = "prove"
[[stages.steps]]
id = "prove"
kind = "redis.verify"
source = { host = "old", password = "{{ secrets.redis }}" }
target = { host = "new", password = "{{ secrets.redis }}" }
"#,
    );
    let step = cutover(&f, &["apply", "--yes"]).expect(9);
    let text = step.stdout() + &step.stderr();
    assert!(
        text.contains(
            "the target differs from the source in 1 place(s):\n  ✗ db 0 key \"h\": value differs"
        ),
        "{text}"
    );
    let journal = String::from_utf8_lossy(&f.journal_bytes()).into_owned();
    assert!(
        journal.contains("1 difference(s) (1 value differs) among 2 keys in 1 database(s)")
            && !journal.contains("identical on both servers"),
        "the journaled verdict of the step"
    );
    new.cli(&["HSET", "h", "b", "2"]).unwrap();
    let out = verify(RedisServer::PASSWORD, url(&old)).expect(0).stdout();
    assert!(out.contains("verdict: identical"), "{out}");
    // Its reader gone (`| head -0`), it ends quietly with the verdict's exit code.
    let mut c = f.command(&["verify", "redis", &url(&old), &url(&new)]);
    c.env("CUTOVER_SOURCE_REDIS_PASSWORD", RedisServer::PASSWORD)
        .env("CUTOVER_TARGET_REDIS_PASSWORD", RedisServer::PASSWORD)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    drop(child.stdout.take());
    let closed = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&closed.stderr);
    assert_eq!(closed.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let run = verify("nope", url(&old)).expect(4);
    assert!(
        run.stderr().contains(&format!(
            "source: the Redis server at {}:6379 refused user `default`",
            old.address()
        )),
        "{}",
        run.stderr()
    );
    let run = verify("x", format!("redis://app:hunter2@{}:6379", old.address())).expect(2);
    assert!(
        run.stderr()
            .contains("it contains a password, which `ps` would show")
            && !run.stderr().contains("hunter2"),
        "{}",
        run.stderr()
    );
}

#[test]
fn the_redis_starter_is_written_and_checks_offline() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cutover.toml");
    let run = |args: &[&str]| {
        Run(std::process::Command::new(env!("CARGO_BIN_EXE_cutover"))
            .arg("-f")
            .arg(&file)
            .args(args)
            .env("NO_COLOR", "1")
            .output()
            .unwrap())
    };
    let out = run(&["init", "-t", "redis"]).expect(0).stdout();
    assert!(
        out.contains("Redis on old to Valkey or a newer Redis on new by replication"),
        "{out}"
    );
    let check = run(&["check", "--offline"]).expect(0).stdout();
    // What the store cannot carry, declared by the data crate, at the step's line.
    let limit = check
        .lines()
        .position(|l| {
            l.starts_with("! step replicate") && l.contains("redis.sync cannot carry ACL users")
        })
        .unwrap_or_else(|| panic!("no declared limit of redis.sync: {check}"));
    let line = check.lines().nth(limit).unwrap_or_default();
    assert!(
        line.contains(&format!("{}:", file.display())),
        "the limit does not say where: {line}"
    );
    assert!(
        check.lines().nth(limit + 1).is_some_and(
            |h| h.starts_with("  hint: define users and settings in new's configuration")
        ),
        "{check}"
    );
    let plan = run(&["plan"]).expect(0).stdout();
    for line in [
        "replicate 127.0.0.1:6379 (agent on old) into 127.0.0.1:6379 (agent on new)",
        "the source follows the target (reverse replication), then its writes are unpaused: it refuses writes from now on",
        "every key of every database: type, value and TTL (within 1000 ms)",
    ] {
        assert!(plan.contains(line), "{line}\n{plan}");
    }
}
