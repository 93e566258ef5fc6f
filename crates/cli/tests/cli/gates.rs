//! Approval and time gates, and the plan lock.

use crate::fixture::Fixture;
use std::time::{Duration, Instant};

const GATED: &str = r#"
[[stages]]
name = "switch"

[[stages.steps]]
id = "before"
kind = "run"
hosts = ["old"]
command = "echo before >> /srv/effects"

[[stages.steps]]
id = "go-live"
kind = "approve"
message = "move traffic?"
approvers = ["alice", "bob"]

[[stages.steps]]
id = "settle"
kind = "wait"
duration = "1500ms"

[[stages.steps]]
id = "decommission"
kind = "wait"
after = "go-live"
delay = "1s"

[[stages.steps]]
id = "after"
kind = "run"
hosts = ["old"]
command = "echo after >> /srv/effects"
"#;

#[test]
fn an_approval_gate_holds_the_run_until_an_allowed_approver_signs() {
    let f = Fixture::new(GATED);
    let run = f.run(&["apply", "--yes", "--no-wait"]).expect(7);
    assert!(
        run.stdout()
            .contains("waiting go-live: approval: run `cutover approve go-live --by NAME"),
        "{}",
        run.stdout()
    );
    let status = f.run(&["status", "--json"]).expect(0).stdout();
    assert!(
        status.contains("\"waiting_for\": \"go-live: approval"),
        "{status}"
    );
    let refused = f.run(&["approve", "go-live", "--by", "mallory"]).expect(2);
    assert!(
        refused
            .stderr()
            .contains("`mallory` may not approve `go-live`; approvers: alice, bob"),
        "{}",
        refused.stderr()
    );
    let not_gate = f.run(&["approve", "before", "--by", "alice"]).expect(2);
    assert!(
        not_gate
            .stderr()
            .contains("step `before` is a `run` step, not an approval gate"),
        "{}",
        not_gate.stderr()
    );
    f.run(&[
        "approve",
        "go-live",
        "--by",
        "alice",
        "--comment",
        "checked dashboards",
    ])
    .expect(0);
    // Approved, the gate no longer holds the run, though no `apply` has passed it yet.
    let json: serde_json::Value =
        serde_json::from_str(&f.run(&["status", "--json"]).expect(0).stdout()).expect("json");
    assert_eq!(json["waiting_for"], serde_json::Value::Null, "{json}");
    let run = json["run"].as_str().expect("run");
    assert_eq!(
        f.run(&["status"]).expect(0).stdout().replace(run, "RUN"),
        "plan test-plan: run RUN in progress
  switch       before               run      applied    ran on old
  switch       go-live              approve  approved   approved by alice: checked dashboards; `cutover apply` passes the gate
  switch       settle               wait     pending
  switch       decommission         wait     pending
  switch       after                run      pending
"
    );
    let started = Instant::now();
    f.run(&["apply", "--yes"]).expect(0);
    // settle waits 1.5 s from its first start; decommission 1 s after the approval step.
    assert!(
        started.elapsed() >= Duration::from_millis(1400),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(f.host_file("old", "/srv/effects"), "before\nafter\n");
    let report = f.run(&["report"]).expect(0).stdout();
    assert!(report.contains("| go-live | alice |"), "{report}");
    assert!(report.contains("checked dashboards"), "{report}");
    let json = f.run(&["report", "--json"]).expect(0).stdout();
    assert!(json.contains("\"outcome\": \"completed\""), "{json}");
}

#[test]
fn apply_waits_at_the_gate_and_continues_when_approved_from_another_shell() {
    let f = Fixture::new(GATED);
    let mut apply = f
        .command(&["apply", "--yes"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = f.run(&["status", "--json"]).stdout();
        if s.contains("\"waiting_for\": \"go-live") {
            break;
        }
        assert!(Instant::now() < deadline, "never reached the gate: {s}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // While apply holds the lock, a second apply is refused and names the holder.
    let second = f.run(&["apply", "--yes"]).expect(6);
    assert!(
        second
            .stderr()
            .contains(&format!("`cutover apply` (pid {}", apply.id())),
        "{}",
        second.stderr()
    );
    let status = f.run(&["status"]).expect(0).stdout();
    assert!(status.contains("locked by `cutover apply`"), "{status}");
    f.run(&["approve", "go-live", "--by", "bob"]).expect(0);
    let status = apply.wait().unwrap();
    assert!(status.success());
    assert_eq!(f.host_file("old", "/srv/effects"), "before\nafter\n");
}

#[test]
fn a_resumed_time_gate_waits_only_for_what_is_left() {
    let f = Fixture::new(
        r#"
[[stages]]
name = "s"

[[stages.steps]]
id = "pause"
kind = "wait"
duration = "5s"
"#,
    );
    // The gate starts during the first apply, so it opens 5 s after a moment between these
    // two instants; a gate restarted by the resume would open 5 s after `resumed`.
    let first_began = Instant::now();
    f.run(&["apply", "--yes", "--no-wait"]).expect(7);
    let first_ended = Instant::now();
    std::thread::sleep(Duration::from_millis(3000));
    let resumed = Instant::now();
    f.run(&["apply", "--yes"]).expect(0);
    let done = Instant::now();
    let times = format!(
        "first apply {:?}, resumed after {:?}, done after {:?} (from the first apply's start)",
        first_ended - first_began,
        resumed - first_began,
        done - first_began
    );
    assert!(
        done >= first_began + Duration::from_secs(5),
        "the gate did not wait its 5 s: {times}"
    );
    assert!(
        done < resumed + Duration::from_secs(5),
        "the gate restarted instead of resuming: {times}"
    );
}
