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

/// Every file under the host's cutover cache whose bytes hold `needle`.
fn cache_files_holding(f: &Fixture, host: &str, needle: &str) -> Vec<String> {
    let root = f.lab.host(host).fs_path("/root/.cache/cutover");
    let mut found = Vec::new();
    let mut dirs = vec![root];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if contains(&std::fs::read(&path).unwrap_or_default(), needle) {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

/// Tracked commands that print the secret they are given, then one that fails.
const PRINTS_THE_TOKEN: &str = r#"
[secrets.token]
env = "CUTOVER_TEST_TOKEN"

[[stages]]
name = "s"

[[stages.steps]]
id = "print-it"
kind = "run"
hosts = ["new"]
command = "echo \"token=$TOKEN\"; echo \"to stderr $TOKEN\" >&2"
undo = "echo \"undo with $TOKEN\""
env = { TOKEN = "{{ secrets.token }}" }

[[stages.steps]]
id = "fail-with-it"
kind = "run"
hosts = ["new"]
command = "echo \"bad $TOKEN\"; echo \"bad $TOKEN\" >&2; exit 3"
env = { TOKEN = "{{ secrets.token }}" }
"#;

/// Command output kept on the hosts (`~/.cache/cutover/runs/RUN/*.out`) never holds a
/// secret the command was given: not after a failed run, not after a rolled-back one, not
/// while a command runs with its controller killed.
#[test]
fn no_file_under_the_hosts_cutover_cache_holds_the_canary() {
    let f = Fixture::new(PRINTS_THE_TOKEN);
    let run = |args: &[&str]| {
        super::fixture::Run(
            f.command(args)
                .env("CUTOVER_TEST_TOKEN", CANARY)
                .output()
                .expect("cutover"),
        )
    };
    let failed = run(&["apply", "--yes"]).expect(5);
    assert!(
        failed.stdout().contains("token=[redacted:token]"),
        "{}",
        failed.stdout()
    );
    assert_eq!(
        cache_files_holding(&f, "new", CANARY),
        Vec::<String>::new(),
        "after a failed run"
    );
    run(&["rollback", "--yes"]).expect(0);
    assert_eq!(
        cache_files_holding(&f, "new", CANARY),
        Vec::<String>::new(),
        "after a rolled-back run"
    );
    let runs = f.lab.host("new").fs_path("/root/.cache/cutover/runs");
    assert_eq!(
        std::fs::read_dir(&runs).map(|d| d.count()).unwrap_or(0),
        0,
        "the rolled-back run's files outlived it"
    );

    // Killed while a command that printed the token still runs: its output on the host is
    // already redacted.
    let slow = PRINTS_THE_TOKEN.replace(
        r#"echo \"to stderr $TOKEN\" >&2""#,
        r#"echo \"to stderr $TOKEN\" >&2; echo more; sleep 3""#,
    );
    assert_ne!(slow, PRINTS_THE_TOKEN);
    f.write_plan(&slow);
    let apply = f
        .command(&["apply", "--yes"])
        .env("CUTOVER_TEST_TOKEN", CANARY)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("apply");
    let written = || !cache_files_holding(&f, "new", "token=").is_empty();
    super::fixture::kill_9_when(apply, "the command printed the token", written);
    assert_eq!(
        cache_files_holding(&f, "new", CANARY),
        Vec::<String>::new(),
        "while the command runs"
    );
    run(&["rollback", "--yes"]).expect(0);
    assert_eq!(
        cache_files_holding(&f, "new", CANARY),
        Vec::<String>::new(),
        "after the rollback of the killed run"
    );
}
