//! Health gates and the soak window end to end: users reach the app through HAProxy on `old`;
//! `proxy.switch` points it at `new`; a `check` gate pins a probe to the new host before the
//! switch; the soak watches the users' path and, when the new app starts failing, rolls the
//! switch back by itself within the targets (detection within 3 s at 1 probe/s, rollback
//! within 2 s of detection). A clean soak passes and journals its figures.

use crate::fixture::Run;
use cutover_testbed::Lab;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) fn get(addr: SocketAddr, path: &str) -> String {
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = write!(s, "GET {path} HTTP/1.0\r\n\r\n");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

pub(crate) fn control(app: SocketAddr, action: &str) {
    let mut s = std::net::TcpStream::connect(app).unwrap();
    write!(
        s,
        "POST /_control/{action} HTTP/1.0\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    assert!(out.contains("200"), "{out}");
}

/// A plan's start: the lab's hosts with their addresses, and `front`, the HAProxy on old
/// (the testbed's, see [`setup`]) switched through its runtime API.
pub(crate) fn haproxy_plan_header(lab: &Lab, name: &str) -> String {
    format!(
        r#"name = "{name}"
[ssh]
config = "{ssh}"
[hosts.old]
ssh = "old"
address = "{old}"
[hosts.new]
ssh = "new"
address = "{new}"
[proxies.front]
kind = "haproxy"
host = "old"
socket = "{haproxy_dir}/admin.sock"
backend = "app"
server = "web"
"#,
        ssh = lab.ssh_config().display(),
        old = lab.host("old").address(),
        new = lab.host("new").address(),
        haproxy_dir = cutover_testbed::proxy::HAPROXY_DIR,
    )
}

pub(crate) fn plan(lab: &Lab, front: SocketAddr, soak: &str) -> String {
    let header = haproxy_plan_header(lab, "soak-test");
    format!(
        r#"{header}
[checks.new_health]
kind = "http"
url = "http://app.example.test:8080/healthz"
resolve = "{{{{ hosts.new.address }}}}"
json = ['$.status == "ok"', '$.host == "new"', '$.db == "ok"']

[checks.users]
kind = "http"
url = "http://{front}/healthz"
json = ['$.status == "ok"']
timeout = "2s"

[[stages]]
name = "rehearse"
[[stages.steps]]
id = "gate"
kind = "check"
checks = "new_health"
deadline = "10s"
interval = "500ms"

[[stages]]
name = "switch"
[[stages.steps]]
id = "switch"
kind = "proxy.switch"
proxy = "front"
to = "{{{{ hosts.new.address }}}}:8080"
health = "/healthz"

[[stages]]
name = "soak"
[[stages.steps]]
id = "soak"
kind = "soak"
checks = "users"
interval = "1s"
{soak}
"#
    )
}

pub(crate) fn cutover(plan: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cutover"));
    c.arg("-f").arg(plan).args(args).env("NO_COLOR", "1");
    c
}

pub(crate) struct Setup {
    pub(crate) lab: Lab,
    pub(crate) dir: tempfile::TempDir,
    pub(crate) old_app: cutover_testbed::app::AppProcess,
    pub(crate) new_app: cutover_testbed::app::AppProcess,
    pub(crate) front: cutover_testbed::proxy::Proxy,
}

pub(crate) fn setup() -> Setup {
    let lab = Lab::start().unwrap();
    let old_app = cutover_testbed::app::start_on(lab.host("old"), 8080).unwrap();
    let new_app = cutover_testbed::app::start_on(lab.host("new"), 8080).unwrap();
    let front = cutover_testbed::proxy::start_haproxy(lab.host("old"), 8000, old_app.addr).unwrap();
    let dir = tempfile::tempdir().unwrap();
    Setup {
        lab,
        dir,
        old_app,
        new_app,
        front,
    }
}

#[test]
fn a_soak_rolls_the_switch_back_when_the_new_app_starts_failing() {
    let s = setup();
    let plan_path = s.dir.path().join("cutover.toml");
    std::fs::write(
        &plan_path,
        plan(
            &s.lab,
            s.front.listen,
            "duration = \"60s\"\ntriggers = [{ consecutive_failures = 3 }]",
        ),
    )
    .unwrap();
    assert!(get(s.front.listen, "/").contains("hello from old"));
    let child = cutover(&plan_path, &["apply", "--yes"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // Wait until users are on the new host, then break it.
    let started = Instant::now();
    while !get(s.front.listen, "/").contains("hello from new") {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the switch never happened"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(1500));
    control(s.new_app.addr, "fail");
    // Users are back on the old host without anyone acting. Measured as users see it, at
    // the client: from the first request that failed to the first one the old app served
    // (each taken when it was sent, so the polling's own latency is not counted).
    let watching = Instant::now();
    let mut first_failed = None;
    let first_good = loop {
        let asked = Instant::now();
        let body = get(s.front.listen, "/");
        if body.contains("hello from old") {
            break asked;
        }
        if first_failed.is_none() && body.contains("failing on purpose") {
            first_failed = Some(asked);
        }
        assert!(
            asked - watching < Duration::from_secs(15),
            "no automatic rollback"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let recovered = first_good - first_failed.expect("users never saw the new app fail");
    let out = Run(child.wait_with_output().unwrap()).expect(5);
    let text = format!("{}{}", out.stdout(), out.stderr());
    assert!(
        text.contains("trigger fired: users fails 3 times in a row"),
        "{text}"
    );
    assert!(
        text.contains("evidence: users failed 3 times in a row; last failure: 503"),
        "{text}"
    );
    assert!(text.contains("rolled back switch in"), "{text}");
    // Detection within 3 s at 1 probe/s, rollback within 2 s of it: 5 s from breakage.
    assert!(
        recovered < Duration::from_secs(5),
        "users recovered after {recovered:?}"
    );
    let rollback = figure(&text, "rolled back switch in ");
    assert!(rollback < 2.0, "rollback took {rollback} s");
    eprintln!("soak: users back on old {recovered:?} after the failure; rollback {rollback:.3} s");

    // The journal holds the evidence; status names the failed soak; old serves on.
    let report = Run(cutover(&plan_path, &["report", "--format", "json"])
        .output()
        .unwrap())
    .expect(0);
    assert!(
        report.stdout().contains("users failed 3 times in a row"),
        "{}",
        report.stdout()
    );
    assert!(get(s.front.listen, "/").contains("hello from old"));
    // The automatic rollback is over: the run stands failed at the soak, not "rolling back".
    let status = Run(cutover(&plan_path, &["status", "--json"]).output().unwrap()).expect(0);
    assert!(
        status.stdout().contains("\"state\": \"failed\""),
        "{}",
        status.stdout()
    );
    drop(s.old_app);
}

#[test]
fn a_clean_soak_passes_and_journals_its_figures() {
    let s = setup();
    let plan_path = s.dir.path().join("cutover.toml");
    std::fs::write(
        &plan_path,
        plan(&s.lab, s.front.listen, "duration = \"4s\"\ntriggers = [{ consecutive_failures = 2 }, { error_rate = \"10%\", over = \"1m\", min_samples = 3 }, { p95 = \"800ms\", over = \"1m\", min_samples = 3 }]"),
    )
    .unwrap();
    let started = Instant::now();
    let out = Run(cutover(&plan_path, &["apply", "--yes"]).output().unwrap()).expect(0);
    let took = started.elapsed();
    let text = out.stdout();
    assert!(text.contains("✓ new_health"), "{text}");
    assert!(
        text.contains("soaked 4s with no trigger firing: users: 4 probes, 0 failed"),
        "{text}"
    );
    assert!(took >= Duration::from_secs(4), "{took:?}");
    assert!(get(s.front.listen, "/").contains("hello from new"));
    let report = Run(cutover(&plan_path, &["report", "--format", "json"])
        .output()
        .unwrap())
    .expect(0);
    assert!(report.stdout().contains("users.p95"), "{}", report.stdout());
}

#[test]
fn a_failing_gate_stops_the_run_before_traffic_moves() {
    let s = setup();
    let plan_path = s.dir.path().join("cutover.toml");
    std::fs::write(
        &plan_path,
        plan(&s.lab, s.front.listen, "duration = \"4s\""),
    )
    .unwrap();
    control(s.new_app.addr, "db?state=down");
    let out = Run(cutover(&plan_path, &["apply", "--yes"]).output().unwrap()).expect(9);
    let text = out.stdout() + &out.stderr();
    assert!(text.contains("$.db == \"ok\": found \"down\""), "{text}");
    assert!(
        text.contains("1 of 1 check(s) failed within 10s: new_health"),
        "{text}"
    );
    assert!(
        get(s.front.listen, "/").contains("hello from old"),
        "traffic moved"
    );
}

/// The number after `prefix` in `text`.
pub(crate) fn figure(text: &str, prefix: &str) -> f64 {
    let at = text
        .find(prefix)
        .unwrap_or_else(|| panic!("no `{prefix}` in {text}"))
        + prefix.len();
    let rest: String = text[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    rest.parse().unwrap()
}

#[test]
fn a_soak_killed_midway_resumes_its_window() {
    let s = setup();
    let plan_path = s.dir.path().join("cutover.toml");
    std::fs::write(
        &plan_path,
        plan(&s.lab, s.front.listen, "duration = \"10s\""),
    )
    .unwrap();
    // The soak starts after the switch, and the switch comes after the last request that
    // still reached the old app: the window cannot end before that request plus 10 s.
    let spawned = Instant::now();
    let mut before_switch = spawned;
    let mut child = cutover(&plan_path, &["apply", "--yes"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    loop {
        let asked = Instant::now();
        if get(s.front.listen, "/").contains("hello from new") {
            break;
        }
        before_switch = asked;
        assert!(
            asked - spawned < Duration::from_secs(30),
            "the switch never happened"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Past a few checkpoints (every 2 s, in the journal), then the controller dies.
    std::thread::sleep(Duration::from_millis(6500));
    child.kill().unwrap();
    child.wait().unwrap();
    let resumed = Instant::now();
    let out = Run(cutover(&plan_path, &["apply", "--yes"]).output().unwrap()).expect(0);
    let done = Instant::now();
    let text = out.stdout();
    assert!(text.contains("resuming the soak window: "), "{text}");
    let times = format!(
        "resumed {:?} after the last request old served, done {:?} after",
        resumed - before_switch,
        done - before_switch
    );
    // About 3.5 s were left of the 10 s window. A window restarted by the resume could not
    // end before 10 s after the resume began; one cut short would end before 10 s after the
    // switch.
    assert!(
        done < resumed + Duration::from_secs(10),
        "the window restarted: {times}\n{text}"
    );
    assert!(
        done >= before_switch + Duration::from_secs(10),
        "the window was cut short: {times}\n{text}"
    );
    // The probes before the crash count: more than one a second over the resumed part
    // alone could make.
    let probes = figure(&text, "no trigger firing: users: ");
    let resumed_alone = (done - resumed).as_secs_f64().floor() + 1.0;
    assert!(
        probes > resumed_alone,
        "{probes} probes, no more than the resumed part alone ({resumed_alone}): {times}\n{text}"
    );
}

#[test]
fn cutover_probe_pins_a_request_and_judges_it() {
    let s = setup();
    let new = s.lab.host("new").address();
    let url = "http://app.example.test:8080/healthz";
    let pin = format!("app.example.test:8080:{new}");
    let probe = |assert: &str| {
        Run(Command::new(env!("CARGO_BIN_EXE_cutover"))
            .args(["probe", url, "--resolve", &pin, "--assert", assert])
            .env("NO_COLOR", "1")
            .output()
            .unwrap())
    };
    let ok = probe("$.host == \"new\"").expect(0);
    assert!(
        ok.stdout().starts_with(&format!("✓ GET {url}  200 in")),
        "{}",
        ok.stdout()
    );
    let bad = probe("$.host == \"old\"").expect(9);
    assert!(
        bad.stdout().contains("$.host == \"old\": found \"new\""),
        "{}",
        bad.stdout()
    );
    let usage = probe("host == old").expect(2);
    assert!(
        usage
            .stderr()
            .contains("--assert: JSON path `host` must start with `$`"),
        "{}",
        usage.stderr()
    );
}

#[test]
fn a_run_step_waits_for_its_health_checks() {
    let s = setup();
    let plan_path = s.dir.path().join("cutover.toml");
    let full = plan(&s.lab, s.front.listen, "duration = \"1s\"");
    let header = &full[..full.find("[[stages]]").unwrap()];
    std::fs::write(
        &plan_path,
        format!("{header}[[stages]]\nname = \"deploy\"\n[[stages.steps]]\nid = \"start\"\nkind = \"run\"\nhosts = [\"new\"]\ncommand = \"true\"\nhealth = [\"new_health\"]\nhealth_deadline = \"3s\"\n"),
    )
    .unwrap();
    let plan_out = Run(cutover(&plan_path, &["plan"]).output().unwrap()).expect(0);
    assert!(
        plan_out
            .stdout()
            .contains("probe new_health: GET http://app.example.test:8080/healthz via "),
        "{}",
        plan_out.stdout()
    );
    control(s.new_app.addr, "db?state=down");
    let started = Instant::now();
    let out = Run(cutover(&plan_path, &["apply", "--yes"]).output().unwrap()).expect(9);
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "gave up before its deadline"
    );
    assert!(
        (out.stdout() + &out.stderr()).contains("$.db == \"ok\": found \"down\""),
        "{}",
        out.stdout()
    );
    control(s.new_app.addr, "ok");
    let out = Run(cutover(&plan_path, &["apply", "--yes"]).output().unwrap()).expect(0);
    assert!(
        out.stdout().contains("1 check(s) passed: new_health"),
        "{}",
        out.stdout()
    );
}
