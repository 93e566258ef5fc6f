//! A canary secret appears nowhere: journal, report, output, process lists.

use crate::fixture::{contains, Fixture};
use std::time::Duration;

const CANARY: &str = "canary-9d41f7e2c0";

fn plan() -> String {
    r#"
[secrets.token]
env = "CUTOVER_TEST_TOKEN"

[[stages]]
name = "s"

[[stages.steps]]
id = "use-it"
kind = "run"
hosts = ["old", "new"]
command = "sleep 1.5; echo \"token=$TOKEN\"; test ${#TOKEN} -gt 5"
env = { TOKEN = "{{ secrets.token }}" }

[[stages.steps]]
id = "pipe-it"
kind = "pipe"
from = { host = "old", command = "printf '%s' \"$T\"", env = { T = "{{ secrets.token }}" } }
to = { host = "new", command = "cat > /srv/token" }

[[stages.steps]]
id = "leak-on-failure"
kind = "run"
hosts = ["new"]
command = "echo \"bad token $TOKEN\" >&2; exit 1"
env = { TOKEN = "{{ secrets.token }}" }
"#
    .to_string()
}

#[test]
fn a_canary_secret_appears_in_no_journal_report_output_or_process_list() {
    let f = Fixture::new(&plan());
    let child = f
        .command(&["apply", "--yes"])
        .env("CUTOVER_TEST_TOKEN", CANARY)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Sample the process lists of the controller and both hosts while the step runs.
    let mut samples = 0;
    for _ in 0..10 {
        std::thread::sleep(Duration::from_millis(120));
        let local = std::process::Command::new("ps")
            .args(["-eo", "args"])
            .output()
            .unwrap();
        assert!(
            !contains(&local.stdout, CANARY),
            "canary in the controller's process list"
        );
        for host in ["old", "new"] {
            let remote = f.lab.host(host).exec_ok("ps -eo args").unwrap();
            assert!(!remote.contains(CANARY), "canary in {host}'s process list");
        }
        samples += 1;
    }
    assert_eq!(samples, 10);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(5), "the last step fails on purpose");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !contains(&out.stdout, CANARY) && !contains(&out.stderr, CANARY),
        "canary in cutover's output"
    );
    assert!(stdout.contains("token=[redacted:token]"), "{stdout}");
    assert!(stdout.contains("bad token [redacted:token]"), "{stdout}");
    // The secret did reach its destination.
    assert_eq!(f.host_file("new", "/srv/token"), CANARY);
    assert!(
        !contains(&f.journal_bytes(), CANARY),
        "canary in the journal"
    );
    for args in [
        &["report"][..],
        &["report", "--json"],
        &["status", "--json"],
        &["plan"],
    ] {
        let r = f.run(args);
        assert!(
            !contains(&r.0.stdout, CANARY) && !contains(&r.0.stderr, CANARY),
            "canary in `cutover {args:?}`"
        );
    }
}

#[test]
fn a_missing_secret_stops_apply_before_anything_runs() {
    let f = Fixture::new(&plan());
    let r = f.run(&["apply", "--yes"]).expect(4);
    assert!(
        r.stderr()
            .contains("secret `token`: environment variable CUTOVER_TEST_TOKEN is not set"),
        "{}",
        r.stderr()
    );
    assert!(!f.journal_path().exists() || f.run(&["status"]).stdout().contains("not started"));
}
