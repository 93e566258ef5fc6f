//! A run kept in a shared PostgreSQL journal (the lab's, on host `new`): controllers on
//! different machines race for it, take it over after a SIGKILL, and look at it, approve it
//! and roll it back from anywhere; no secret reaches the database.

use crate::fixture::{kill_9_when, Backend, Fixture, JOURNAL_PW};
use std::process::{Command, Stdio};

const CANARY: &str = "canary-5be7d2a913";

const PLAN: &str = r#"
[secrets.token]
env = "CUTOVER_TEST_TOKEN"

[[stages]]
name = "move"

[[stages.steps]]
id = "s1"
kind = "run"
hosts = ["old"]
command = "echo s1 >> /srv/effects"
undo = "echo undo-s1 >> /srv/effects"

[[stages.steps]]
id = "slow"
kind = "run"
hosts = ["new"]
command = "echo slow-start >> /srv/effects; sleep 2; echo slow-end >> /srv/effects"
undo = "echo undo-slow >> /srv/effects"

[[stages.steps]]
id = "token"
kind = "run"
hosts = ["old"]
command = "test -n \"$TOKEN\" && echo \"the token is $TOKEN\" && echo token >> /srv/effects"
env = { TOKEN = "{{ secrets.token }}" }
undo = "echo undo-token >> /srv/effects"

[[stages.steps]]
id = "gate"
kind = "approve"

[[stages.steps]]
id = "s4"
kind = "run"
hosts = ["new"]
command = "echo s4 >> /srv/effects"
undo = "echo undo-s4 >> /srv/effects"
"#;

fn fixture() -> Fixture {
    Fixture::with_backend(PLAN, Backend::Postgres)
}

/// `cutover ARGS` on the controller, with the canary secret.
fn here(f: &Fixture, args: &[&str]) -> Command {
    let mut c = f.command(args);
    c.env("CUTOVER_TEST_TOKEN", CANARY);
    c
}

/// `cutover ARGS` run inside lab host `host`: another machine, reaching the journal over
/// the lab network, with the same plan file and journal URL.
fn on_host(f: &Fixture, host: &str, args: &[&str]) -> Command {
    let shared = f.shared.as_ref().expect("a shared journal");
    let mut line = format!(
        "exec {} -f {}",
        env!("CARGO_BIN_EXE_cutover"),
        f.plan_path().display()
    );
    for a in args {
        line.push_str(&format!(" '{a}'"));
    }
    let mut c = f.lab.host(host).command(&line);
    c.env("NO_COLOR", "1")
        .env_remove("CUTOVER_TEST_CRASH_AFTER_EVENTS")
        .env("CUTOVER_JOURNAL", &shared.url)
        .env("CUTOVER_TEST_JOURNAL_PW", JOURNAL_PW)
        .env("CUTOVER_TEST_TOKEN", CANARY);
    c
}

fn output(mut c: Command) -> (i32, String, String) {
    let out = c.output().expect("run cutover");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn two_controllers_race_for_one_plan_and_the_loser_names_the_winner() {
    let f = fixture();
    let start = |f: &Fixture| {
        here(f, &["apply", "--yes", "--no-wait"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("apply")
    };
    let (a, b) = (start(&f), start(&f));
    let pids = [a.id(), b.id()];
    let outs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
    let codes: Vec<_> = outs.iter().map(|o| o.status.code()).collect();
    let winner = codes
        .iter()
        .position(|c| *c == Some(7))
        .unwrap_or_else(|| panic!("no controller reached the gate: {codes:?}"));
    let loser = 1 - winner;
    assert_eq!(codes[loser], Some(6), "the loser's exit code");
    let stderr = String::from_utf8_lossy(&outs[loser].stderr);
    let expected_start = format!(
        "error: the plan is locked by `cutover apply` (pid {}, {}@{}) since ",
        pids[winner],
        std::env::var("USER").unwrap_or_else(|_| "root".into()),
        hostname_of_controller()
    );
    assert!(
        stderr.starts_with(&expected_start),
        "{stderr}\nexpected: {expected_start}"
    );
    assert!(
        stderr.ends_with("hint: wait for that run to finish, or stop it; if it is gone, the lock is released by itself\n"),
        "{stderr}"
    );
    assert_eq!(f.host_file("old", "/srv/effects"), "s1\ntoken\n");
    assert_eq!(f.host_file("new", "/srv/effects"), "slow-start\nslow-end\n");

    // Nothing the run wrote carries the secret, in any table.
    let dump = f.shared.as_ref().unwrap().dump();
    // The step's output did reach the journal, redacted: the check below looks where the
    // secret would be.
    assert!(dump.contains("the token is [redacted:token]"), "{dump}");
    assert!(
        !dump.contains(CANARY),
        "the canary is in the journal database"
    );
    assert!(
        !dump.contains(JOURNAL_PW),
        "the journal's password is in it"
    );
}

fn hostname_of_controller() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

#[test]
fn a_controller_killed_mid_step_is_taken_over_from_another_host_within_5_s() {
    let f = fixture();
    let shared = f.shared.as_ref().unwrap();
    let first = here(&f, &["apply", "--yes", "--no-wait"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("apply");
    kill_9_when(first, "the slow step started", || {
        f.host_file("new", "/srv/effects").contains("slow-start")
    });
    let killed_ms = now_ms();
    // The second controller, on host `old`, starts at once: the server has released the
    // lock by the time it asks, or it would be refused (exit 6).
    let (code, out, err) = output(on_host(&f, "old", &["apply", "--yes", "--no-wait"]));
    assert_eq!(
        code, 7,
        "the takeover did not reach the gate:\n{out}\n{err}"
    );
    let resumed_ms: i64 = shared
        .pg
        .psql(
            "journal",
            "SELECT at_ms FROM cutover.events WHERE kind = 'apply_started' ORDER BY seq DESC LIMIT 1",
        )
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let takeover = resumed_ms - killed_ms;
    println!("takeover: {takeover} ms from the SIGKILL to the second controller's apply_started");
    assert!(takeover < 5000, "takeover took {takeover} ms");

    // Anyone with the plan and the URL: status here, approve there, apply there.
    let (code, status, err) = output(here(&f, &["status"]));
    assert_eq!(code, 0, "{status}\n{err}");
    assert!(status.contains("gate"), "{status}");
    let (code, out, err) = output(on_host(&f, "new", &["approve", "gate", "--by", "bob"]));
    assert_eq!(code, 0, "{out}\n{err}");
    let (code, out, err) = output(on_host(&f, "old", &["apply", "--yes", "--no-wait"]));
    assert_eq!(code, 0, "{out}\n{err}");
    // Each effect once: the slow command the first controller started was re-attached to,
    // not run again.
    assert_eq!(f.host_file("old", "/srv/effects"), "s1\ntoken\n");
    assert_eq!(
        f.host_file("new", "/srv/effects"),
        "slow-start\nslow-end\ns4\n"
    );
    let (code, report, err) = output(on_host(&f, "new", &["report"]));
    assert_eq!(code, 0, "{err}");
    assert!(report.contains("hash chain intact over all"), "{report}");
    assert!(
        report.contains("bob"),
        "the approval is not in the report:\n{report}"
    );

    // And rolled back from the first machine.
    let (code, out, err) = output(here(&f, &["rollback", "--yes"]));
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(
        f.host_file("new", "/srv/effects"),
        "slow-start\nslow-end\ns4\nundo-s4\nundo-slow\n"
    );
    assert!(
        !shared.dump().contains(CANARY),
        "the canary is in the journal database"
    );
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[test]
fn a_journal_refusing_the_login_is_exit_4_naming_it_without_its_password() {
    let f = fixture();
    let shared = f.shared.as_ref().unwrap();
    let (code, out, err) = output({
        let mut c = here(&f, &["status"]);
        c.env("CUTOVER_TEST_JOURNAL_PW", "wrong-pw-123");
        c
    });
    assert_eq!(code, 4, "{out}");
    let shown = shared.url.replace(":{{ secrets.journal_pw }}", "");
    assert_eq!(
        err,
        format!(
            "error: journal {shown}: cannot connect: password authentication failed for user \"cutover\" (28P01)\nhint: check that the server is up and reachable from this machine, and the role, the password's secret and the TLS settings of the journal URL\n"
        )
    );
}
