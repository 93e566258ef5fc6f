//! A redis.switch whose `cutover apply` is killed (SIGKILL, nothing recorded) inside the
//! write pause, after the target's promotion, while the clients command runs: applied again,
//! the switch finishes (old follows new, its writes unpaused: refused as a replica's, never
//! hanging); rolled back straight away instead, old is the primary again and takes writes.
//! No write acknowledged on old is missing on the server that ends up primary.

use super::fixture::Fixture;
use super::redis::{addr, cutover, role, setup};
use cutover_testbed::{missing_writes, RedisServer, RedisVersion, RedisWriter};
use std::time::{Duration, Instant};

/// The clients command: the first time it marks the pause and waits to be killed.
const CLIENTS: &str = r#"clients_command = { host = "new", command = "if [ ! -e /tmp/killed ]; then touch /tmp/in-pause; sleep 60; fi" }"#;

/// Runs `apply` and kills it inside the pause, after the promotion.
fn kill_inside_the_pause(f: &Fixture, new: &RedisServer) {
    let mut c = f.command(&["apply", "--yes"]);
    c.env("REDIS_PW", RedisServer::PASSWORD)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut apply = c.spawn().expect("start apply");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !f.lab.host("new").fs_path("/tmp/in-pause").exists() {
        assert!(
            Instant::now() < deadline,
            "the switch never reached its clients command"
        );
        assert!(
            apply.try_wait().unwrap().is_none(),
            "apply ended before the pause"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(role(new), "master", "promoted inside the pause");
    apply.kill().expect("kill -9");
    let _ = apply.wait();
    new.host_shell("touch /tmp/killed").unwrap();
}

/// A write on `r` answers within a second (OK or an error): the server is not paused.
fn answers_promptly(r: &RedisServer) -> String {
    let started = Instant::now();
    let out = r.cli(&["SET", "probe", "1"]).unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "a write waited {:?}: still paused",
        started.elapsed()
    );
    out.trim().to_string()
}

#[test]
fn a_switch_killed_inside_the_pause_is_finished_by_apply() {
    let (f, old, new) = setup(CLIENTS, RedisVersion::Redis70, RedisVersion::Redis70);
    let writer = RedisWriter::start(addr(&old), RedisServer::PASSWORD, 1, "w");
    kill_inside_the_pause(&f, &new);
    let out = cutover(&f, &["apply", "--yes"]).expect(0).stdout();
    assert!(
        out.contains("finished the switch an interrupted attempt began"),
        "{out}"
    );
    assert_eq!(
        (role(&old), role(&new)),
        ("slave".to_string(), "master".to_string())
    );
    assert!(
        answers_promptly(&old).starts_with("READONLY"),
        "old refuses writes as a replica"
    );
    let written = writer.stop();
    let missing = missing_writes(&written, addr(&new), RedisServer::PASSWORD, "w").unwrap();
    assert!(missing.is_empty(), "{missing:?}");
    assert!(written.total() > 10, "{written:?}");
}

#[test]
fn a_switch_killed_inside_the_pause_is_rolled_back_without_a_resume() {
    let (f, old, new) = setup(CLIENTS, RedisVersion::Redis70, RedisVersion::Redis70);
    let writer = RedisWriter::start(addr(&old), RedisServer::PASSWORD, 1, "w");
    kill_inside_the_pause(&f, &new);
    let out = cutover(&f, &["rollback", "--yes"]).expect(0).stdout();
    assert!(
        out.contains("the target took no writes since its promotion: it follows the source again and the source's writes are unpaused"),
        "{out}"
    );
    assert_eq!(role(&old), "master");
    assert_eq!(answers_promptly(&old), "OK", "old takes writes again");
    let written = writer.stop();
    let missing = missing_writes(&written, addr(&old), RedisServer::PASSWORD, "w").unwrap();
    assert!(missing.is_empty(), "{missing:?}");
    assert!(
        written.refused == 0,
        "old never refused a write: {written:?}"
    );
}
