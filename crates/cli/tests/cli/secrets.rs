//! A canary secret appears nowhere: journal, report, output, process lists.

use crate::fixture::{contains, Fixture};
use std::time::Duration;

const CANARY: &str = "canary-9d41f7e2c0";

/// A step that carries the secret, and the text of its command as `ps` shows it.
struct SecretStep {
    id: &'static str,
    command: &'static str,
    /// The hosts it runs on.
    hosts: &'static [&'static str],
}

impl SecretStep {
    /// True when the process lists of one round show this step running: on each of its
    /// hosts, the shell running the command (its environment holds the secret); on the
    /// controller, the ssh client that started it.
    fn running_in(&self, lists: &[(&str, String)]) -> bool {
        lists.iter().all(|(whose, list)| {
            let prefix = match *whose {
                "controller" => "ssh ",
                host if self.hosts.contains(&host) => "sh -c ",
                _ => return true,
            };
            list.lines()
                .any(|line| line.starts_with(prefix) && line.contains(self.command))
        })
    }
}

/// Both secret-carrying steps sleep first, so that the sampling can catch them.
const STEPS: [SecretStep; 2] = [
    SecretStep {
        id: "use-it",
        command: "sleep 1.5; echo",
        hosts: &["old", "new"],
    },
    SecretStep {
        id: "pipe-it",
        command: "sleep 1.2; printf",
        hosts: &["old"],
    },
];

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
from = { host = "old", command = "sleep 1.2; printf '%s' \"$T\"", env = { T = "{{ secrets.token }}" } }
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
    let mut child = f
        .command(&["apply", "--yes"])
        .env("CUTOVER_TEST_TOKEN", CANARY)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Sample the process lists of the controller and both hosts until apply ends. A round
    // counts for a step only when its lists show that step running (see `running_in`):
    // samples taken before or after the secret-carrying steps would prove nothing.
    let mut rounds_during = [0; STEPS.len()];
    let mut rounds = 0;
    while child.try_wait().unwrap().is_none() {
        let mut lists = vec![(
            "controller",
            String::from_utf8_lossy(
                &std::process::Command::new("ps")
                    .args(["-eo", "args"])
                    .output()
                    .unwrap()
                    .stdout,
            )
            .into_owned(),
        )];
        for host in ["old", "new"] {
            lists.push((host, f.lab.host(host).exec_ok("ps -eo args").unwrap()));
        }
        for (whose, list) in &lists {
            assert!(!list.contains(CANARY), "canary in {whose}'s process list");
        }
        for (i, step) in STEPS.iter().enumerate() {
            if step.running_in(&lists) {
                rounds_during[i] += 1;
            }
        }
        rounds += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    for (step, during) in STEPS.iter().zip(rounds_during) {
        assert!(
            during >= 1,
            "none of {rounds} process-list rounds caught step `{}` running",
            step.id
        );
    }
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
