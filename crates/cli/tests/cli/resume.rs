//! Resume after the controller dies at any point: every step's effect happens exactly once.

use crate::fixture::{Backend, Fixture};
use std::time::Duration;

const PLAN: &str = r#"
[[stages]]
name = "copy"

[[stages.steps]]
id = "s1"
kind = "run"
hosts = ["old"]
command = "echo s1 >> /srv/effects"

[[stages.steps]]
id = "s2"
kind = "run"
hosts = ["old", "new"]
command = "sleep 0.1; echo s2 >> /srv/effects"

[[stages.steps]]
id = "s3"
kind = "pipe"
from = { host = "old", command = "printf payload" }
to = { host = "new", command = "cat > /srv/piped" }
check = "test -s /srv/piped"

[[stages]]
name = "switch"

[[stages.steps]]
id = "gate"
kind = "approve"

[[stages.steps]]
id = "s5"
kind = "wait"
duration = "100ms"

[[stages.steps]]
id = "s6"
kind = "run"
hosts = ["new"]
command = "echo s6 >> /srv/effects"
undo = "echo undo-s6 >> /srv/effects"
"#;

/// Runs `apply` until the run completes, approving the gate when it stops there.
fn finish(f: &Fixture) {
    for _ in 0..10 {
        let r = f.run(&["apply", "--yes", "--no-wait"]);
        match r.code() {
            0 => return,
            7 if r.stdout().contains("waiting gate") => {
                f.run(&["approve", "gate", "--by", "tester"]).expect(0);
            }
            7 => std::thread::sleep(Duration::from_millis(100)),
            _ => panic!(
                "apply failed while resuming:\n{}\n{}",
                r.stdout(),
                r.stderr()
            ),
        }
    }
    panic!("the run did not complete");
}

fn reset(f: &Fixture) {
    for host in ["old", "new"] {
        f.lab
            .host(host)
            .exec_ok("rm -rf /srv/effects /srv/piped /root/.cache/cutover")
            .unwrap();
    }
    f.reset_journal();
}

fn assert_exactly_once(f: &Fixture, context: &str) {
    assert_eq!(
        f.host_file("old", "/srv/effects"),
        "s1\ns2\n",
        "old after {context}"
    );
    assert_eq!(
        f.host_file("new", "/srv/effects"),
        "s2\ns6\n",
        "new after {context}"
    );
    assert_eq!(
        f.host_file("new", "/srv/piped"),
        "payload",
        "piped after {context}"
    );
}

/// Every step journaled as applied by this run: one whose effect the crashed attempt made
/// (found in place on resume) is not "skipped", or `cutover rollback` would not undo it.
fn assert_all_applied(f: &Fixture, context: &str) {
    let report: serde_json::Value =
        serde_json::from_str(&f.run(&["report", "--format", "json"]).expect(0).stdout())
            .expect("report JSON");
    let outcomes: Vec<(String, String)> = report["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap_or_default().to_string(),
                s["outcome"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert!(
        outcomes.iter().all(|(_, o)| o == "applied"),
        "after {context}: {outcomes:?}"
    );
}

#[test]
fn a_crash_after_any_journal_write_resumes_with_every_step_applied_once() {
    crash_after_any_journal_write(Backend::Sqlite);
}

/// The same crash points with the run kept in a shared PostgreSQL journal.
#[test]
fn a_crash_after_any_postgres_journal_write_resumes_with_every_step_applied_once() {
    crash_after_any_journal_write(Backend::Postgres);
}

fn crash_after_any_journal_write(backend: Backend) {
    let f = Fixture::with_backend(PLAN, backend);
    let mut crashed = 0;
    for n in 1..=60 {
        reset(&f);
        let first = f
            .command(&["apply", "--yes", "--no-wait"])
            .env("CUTOVER_TEST_CRASH_AFTER_EVENTS", n.to_string())
            .output()
            .unwrap();
        if first.status.code().is_some()
            && !String::from_utf8_lossy(&first.stdout).contains("waiting gate")
        {
            // The run got through without reaching event n: every point has been covered.
            assert_eq!(
                first.status.code(),
                Some(0),
                "{}",
                String::from_utf8_lossy(&first.stderr)
            );
            assert_exactly_once(&f, &format!("a run without crash (n = {n})"));
            break;
        }
        if first.status.code().is_none() {
            crashed += 1;
        }
        finish(&f);
        assert_exactly_once(&f, &format!("a crash after event {n}"));
        assert_all_applied(&f, &format!("a crash after event {n}"));
    }
    assert!(crashed >= 20, "only {crashed} crash points were exercised");
}

/// Starts `apply`, waits until it prints a line containing `mark` (the phase that line opens
/// is then under way), waits `after` more, and sends SIGKILL. Panics unless the kill hit the
/// live apply: a kill sent after apply had exited, or one the process outran, tests nothing.
fn kill_apply_at(f: &Fixture, mark: &str, after: Duration, context: &str) {
    use std::io::BufRead;
    use std::os::unix::process::ExitStatusExt;
    let mut child = f
        .command(&["apply", "--yes", "--no-wait"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines, printed) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = lines.send(line);
        }
    });
    let mut seen = Vec::new();
    loop {
        match printed.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => {
                let found = line.contains(mark);
                seen.push(line);
                if found {
                    break;
                }
            }
            Err(_) => panic!(
                "{context}: apply ended or stalled before printing `{mark}`:\n{}",
                seen.join("\n")
            ),
        }
    }
    std::thread::sleep(after);
    let before = child.try_wait().unwrap();
    assert!(
        before.is_none(),
        "{context}: apply had exited ({before:?}) before the kill:\n{}",
        seen.join("\n")
    );
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(
        status.signal(),
        Some(9),
        "{context}: apply exited ({status:?}) before the kill landed:\n{}",
        seen.join("\n")
    );
    reader.join().unwrap();
}

#[test]
fn kill_9_at_arbitrary_moments_never_runs_a_step_twice() {
    kill_9_at_arbitrary_moments(Backend::Sqlite);
}

/// The same kills with the run kept in a shared PostgreSQL journal: the lock each killed
/// controller held is released by the server.
#[test]
fn kill_9_at_arbitrary_moments_with_a_postgres_journal_never_runs_a_step_twice() {
    kill_9_at_arbitrary_moments(Backend::Postgres);
}

fn kill_9_at_arbitrary_moments(backend: Backend) {
    let f = Fixture::with_backend(PLAN, backend);
    // Kill points spread over the run, each after the line that opens its phase, so that
    // every kill lands in a live apply however fast or loaded the machine is.
    let points = [
        ("starting run", 0u64),
        ("-> s1 (run)", 0),
        ("-> s2 (run)", 0),
        ("-> s2 (run)", 50),
        ("ok s2", 0),
        ("-> s3 (pipe)", 0),
    ];
    for (round, (mark, after)) in points.iter().enumerate() {
        reset(&f);
        f.run(&["approve", "gate", "--by", "tester"]).expect(2); // no run yet: refused
        let context = format!("round {round}, kill {after} ms after `{mark}`");
        kill_apply_at(&f, mark, Duration::from_millis(*after), &context);
        // A second kill during the resume, as it starts its first step.
        kill_apply_at(
            &f,
            "-> ",
            Duration::ZERO,
            &format!("{context}, then in the resume"),
        );
        finish(&f);
        assert_exactly_once(&f, &context);
    }
}
