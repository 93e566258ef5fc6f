//! Step outputs on the lab: a value captured by one step is used by a later step on another
//! host and by its undo; a secret one reaches its commands through the environment and
//! appears nowhere else (journal, report, status, output, logs, process lists), and a
//! rollback uses the journaled values, not what the host says now.

use crate::fixture::{contains, Fixture};
use std::time::Duration;

const CANARY: &str = "canary-out-5e1b7c93";

fn plan() -> &'static str {
    r#"
[secrets.pw]
env = "CUTOVER_TEST_PW"

[[stages]]
name = "s"

[[stages.steps]]
id = "read"
kind = "run"
hosts = ["old"]
command = "printf '{\"tag\": \"%s\", \"token\": \"%s\"}\n' \"$(cat /srv/tag)\" \"$(cat /srv/token)\""
outputs = { tag = { json = "$.tag" }, token = { json = "$.token", secret = true } }

[[stages.steps]]
id = "deploy"
kind = "run"
hosts = ["new"]
command = "sleep 1; echo 'deployed {{ steps.read.tag }}' > /srv/deployed; printf '%s' \"$TOKEN\" > /srv/token-copy; echo \"token is $TOKEN\"; echo 'was=v0'"
env = { TOKEN = "{{ steps.read.token }}" }
undo = "echo 'restored {{ steps.read.tag }} over {{ steps.deploy.was }}' > /srv/deployed; printf '%s' \"$TOKEN\" > /srv/token-restored"
outputs = { was = { regex = 'was=(\S+)' } }
"#
}

/// Fails when any process list of the controller or the lab's hosts shows the canary.
fn assert_no_canary_in_process_lists(f: &Fixture) {
    let controller = std::process::Command::new("ps")
        .args(["-eo", "args"])
        .output()
        .expect("ps");
    assert!(
        !contains(&controller.stdout, CANARY),
        "canary in the controller's process list"
    );
    for host in ["old", "new"] {
        let list = f.lab.host(host).exec_ok("ps -eo args").unwrap_or_default();
        assert!(!list.contains(CANARY), "canary in {host}'s process list");
    }
}

#[test]
fn outputs_reach_later_steps_and_undo_and_a_secret_one_appears_nowhere_else() {
    let f = Fixture::new(plan());
    let old = f.lab.host("old");
    old.exec_ok("printf app:1.4 > /srv/tag").expect("tag");
    old.exec_ok(&format!("printf {CANARY} > /srv/token"))
        .expect("token");

    let mut apply = f
        .command(&["apply", "--yes"])
        .env("CUTOVER_TEST_PW", "pw-value-1")
        .env("CUTOVER_LOG", "debug")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("apply");
    while apply.try_wait().expect("apply").is_none() {
        assert_no_canary_in_process_lists(&f);
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = apply.wait_with_output().expect("apply");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !contains(&out.stdout, CANARY) && !contains(&out.stderr, CANARY),
        "canary in apply's output or logs"
    );
    assert!(stdout.contains("steps.read.tag = app:1.4"), "{stdout}");
    assert!(
        stdout.contains("steps.read.token captured (secret)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("token is [redacted:steps.read.token]"),
        "{stdout}"
    );
    // The values reached their commands: the plain one in the command line, the secret one
    // through the environment.
    assert_eq!(f.host_file("new", "/srv/deployed"), "deployed app:1.4\n");
    assert_eq!(f.host_file("new", "/srv/token-copy"), CANARY);
    assert!(
        !contains(&f.journal_bytes(), CANARY),
        "canary in the journal"
    );

    let report = f.run(&["report"]).expect(0);
    assert!(
        report.stdout().contains("steps.read.tag = app:1.4"),
        "{}",
        report.stdout()
    );
    assert!(report
        .stdout()
        .contains("steps.read.token captured (secret, sealed)"));
    for args in [&["report", "--json"][..], &["status", "--json"], &["plan"]] {
        let r = f.run(args);
        assert!(
            !contains(&r.0.stdout, CANARY) && !contains(&r.0.stderr, CANARY),
            "canary in `cutover {args:?}`"
        );
    }

    // The host's values change; the undo uses the journaled ones. With other secret values
    // the sealed output cannot be opened: the rollback says why and changes nothing.
    old.exec_ok("printf app:2.0 > /srv/tag; printf other > /srv/token")
        .expect("change");
    let refused = f
        .command(&["rollback", "--yes"])
        .env("CUTOVER_TEST_PW", "pw-value-2")
        .output()
        .expect("rollback");
    let text = String::from_utf8_lossy(&refused.stdout).into_owned()
        + &String::from_utf8_lossy(&refused.stderr);
    assert_ne!(refused.status.code(), Some(0), "{text}");
    assert!(
        text.contains("the journaled value of secret output `steps.read.token` cannot be unsealed: the plan's secrets are not the ones it was captured with"),
        "{text}"
    );
    assert_eq!(f.host_file("new", "/srv/deployed"), "deployed app:1.4\n");

    let rollback = f
        .command(&["rollback", "--yes"])
        .env("CUTOVER_TEST_PW", "pw-value-1")
        .output()
        .expect("rollback");
    assert_eq!(
        rollback.status.code(),
        Some(0),
        "{}\n{}",
        String::from_utf8_lossy(&rollback.stdout),
        String::from_utf8_lossy(&rollback.stderr)
    );
    assert!(!contains(&rollback.stdout, CANARY) && !contains(&rollback.stderr, CANARY));
    assert_eq!(
        f.host_file("new", "/srv/deployed"),
        "restored app:1.4 over v0\n"
    );
    assert_eq!(f.host_file("new", "/srv/token-restored"), CANARY);
    assert!(
        !contains(&f.journal_bytes(), CANARY),
        "canary in the journal"
    );
}

/// A plan whose `read` step captures the tag on old (also through a pipe) and whose `deploy`
/// step writes it on new.
const RESUME_PLAN: &str = r#"
[secrets.pw]
env = "CUTOVER_TEST_PW"

[[stages]]
name = "s"

[[stages.steps]]
id = "read"
kind = "run"
hosts = ["old"]
command = "echo \"tag=$(cat /srv/tag)\""
outputs = { tag = { regex = 'tag=(\S+)' }, sealed = { regex = 'tag=(\S+)', secret = true } }

[[stages.steps]]
id = "piped"
kind = "pipe"
from = { host = "old", command = "cat /srv/tag" }
to = { host = "new", command = "printf 'got=%s\n' \"$(cat)\"" }
outputs = { tag = { regex = 'got=(\S+)' } }

[[stages.steps]]
id = "deploy"
kind = "run"
hosts = ["new"]
command = "printf '%s %s %s' '{{ steps.read.tag }}' \"$S\" '{{ steps.piped.tag }}' > /srv/deployed"
env = { S = "{{ steps.read.sealed }}" }
"#;

/// Cut off after every journal write in turn, then resumed after the host's value changed: the
/// later step always gets the values the run captured first (never a second reading), the
/// secret one unsealed from the journal.
#[test]
fn a_run_cut_off_after_any_journal_write_resumes_with_the_values_it_captured() {
    let f = Fixture::new(RESUME_PLAN);
    let (old, new) = (f.lab.host("old"), f.lab.host("new"));
    for n in 1..=40 {
        // Every earlier point crashed (or the run would have returned).
        let crashed = n - 1;
        old.exec_ok("rm -rf /root/.cache/cutover; printf app:1.4 > /srv/tag")
            .expect("reset old");
        new.exec_ok("rm -rf /root/.cache/cutover /srv/deployed")
            .expect("reset new");
        for suffix in ["", "-wal", "-shm"] {
            let mut p = f.journal_path().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
        let first = f
            .command(&["apply", "--yes"])
            .env("CUTOVER_TEST_PW", "pw")
            .env("CUTOVER_TEST_CRASH_AFTER_EVENTS", n.to_string())
            .output()
            .expect("apply");
        if first.status.code() == Some(0) {
            assert_eq!(
                f.host_file("new", "/srv/deployed"),
                "app:1.4 app:1.4 app:1.4"
            );
            assert!(crashed >= 10, "only {crashed} crash points were exercised");
            return;
        }
        assert_eq!(first.status.code(), None, "crash expected after event {n}");
        // Whatever was read before the crash stays what the run uses.
        let journal = f.run(&["report"]).stdout();
        old.exec_ok("printf app:2.0 > /srv/tag").expect("change");
        let resumed = f
            .command(&["apply", "--yes"])
            .env("CUTOVER_TEST_PW", "pw")
            .output()
            .expect("resume");
        assert_eq!(
            resumed.status.code(),
            Some(0),
            "after a crash at event {n}: {}",
            String::from_utf8_lossy(&resumed.stdout)
        );
        let deployed = f.host_file("new", "/srv/deployed");
        let read_tag = if journal.contains("steps.read.tag = app:1.4") {
            "app:1.4"
        } else {
            deployed.split(' ').next().unwrap_or_default()
        };
        assert_eq!(
            deployed.split(' ').take(2).collect::<Vec<_>>(),
            [read_tag, read_tag],
            "after a crash at event {n}: the plain and the sealed capture disagree"
        );
        if journal.contains("steps.piped.tag = app:1.4") {
            assert!(
                deployed.ends_with(" app:1.4"),
                "after a crash at event {n}: {deployed}"
            );
        }
    }
    panic!("the run never completed without a crash");
}
