//! How fast a soak notices a broken new backend behind HAProxy and rolls the switch back,
//! whatever the failure: the backend killed (HAProxy's connects are refused and it retries)
//! and the backend hung (stopped with SIGSTOP: the kernel still accepts connections, nothing
//! answers). Probes go out every 250 ms whatever earlier ones do, and one unanswered after
//! the check's 1 s `timeout` counts as failed then; 3 failures in a row fire. The bound, 3 s
//! from the moment the test broke the backend to the moment HAProxy's runtime API shows the
//! server back on old, is measured with the test's own clock. And the other way round: a
//! controller paused while probes were outstanding does not count the answers that came in
//! meanwhile as failures (one stall would otherwise fail every outstanding probe at once).

use super::soak::{control, cutover, haproxy_plan_header, setup, Setup};
use crate::fixture::Run;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// The issue's bound: from the failure to traffic back on old.
const BOUND: Duration = Duration::from_secs(3);

fn plan(s: &Setup) -> String {
    let header = haproxy_plan_header(&s.lab, "soak-detection");
    format!(
        r#"{header}
[checks.users]
kind = "http"
url = "http://{front}/healthz"
json = ['$.status == "ok"']
timeout = "1s"

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
interval = "250ms"
duration = "60s"
triggers = [{{ consecutive_failures = 3 }}]
"#,
        front = s.front.listen
    )
}

/// Where HAProxy's server `app/web` points now, from its runtime API (`ADDRESS:PORT`).
fn haproxy_server(s: &Setup) -> String {
    let socket = s.lab.host("old").fs_path(format!(
        "{}/admin.sock",
        cutover_testbed::proxy::HAPROXY_DIR
    ));
    let Ok(mut c) = UnixStream::connect(&socket) else {
        return String::new();
    };
    let _ = c.set_read_timeout(Some(Duration::from_secs(1)));
    let _ = c.write_all(b"show servers state app\n");
    let mut out = String::new();
    let _ = c.read_to_string(&mut out);
    let header: Vec<&str> = out
        .lines()
        .find(|l| l.starts_with("# be_id"))
        .map(|l| l.trim_start_matches('#').split_whitespace().collect())
        .unwrap_or_default();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let (Some(name), Some(addr), Some(port)) = (col("srv_name"), col("srv_addr"), col("srv_port"))
    else {
        return String::new();
    };
    out.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.get(name) == Some(&"web"))
        .map(|f| format!("{}:{}", f[addr], f[port]))
        .unwrap_or_default()
}

/// Polls the runtime API every 10 ms until the server points at `to`; the time it took.
fn wait_for_server(s: &Setup, to: SocketAddr, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < within {
        if haproxy_server(s) == to.to_string() {
            return Some(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

/// Starts `cutover apply` of the switch + soak and returns once HAProxy points at new and
/// the soak has probed it healthy for a while.
fn apply_until_soaking(s: &Setup) -> Child {
    let plan_path = s.dir.path().join("cutover.toml");
    std::fs::write(&plan_path, plan(s)).unwrap();
    let child = cutover(&plan_path, &["apply", "--yes"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(
        wait_for_server(s, s.new_app.addr, Duration::from_secs(30)).is_some(),
        "the switch never happened"
    );
    std::thread::sleep(Duration::from_millis(1500));
    child
}

/// Waits for the rollback after the test broke the backend at `broken`; the time from the
/// failure to HAProxy back on old, and the run's output.
fn recovery(s: &Setup, child: Child, broken: Instant, how: &str) -> (Duration, String) {
    let waited = wait_for_server(s, s.old_app.addr, Duration::from_secs(20));
    let recovered = broken.elapsed();
    let out = Run(child.wait_with_output().unwrap());
    let text = format!("{}{}", out.stdout(), out.stderr());
    assert!(waited.is_some(), "no automatic rollback ({how})\n{text}");
    let out = out.expect(5);
    let text_ok = format!("{}{}", out.stdout(), out.stderr());
    assert!(
        text_ok.contains("trigger fired: users fails 3 times in a row"),
        "{text_ok}"
    );
    assert!(
        text_ok.contains("evidence: users failed 3 times in a row; last failure: "),
        "{text_ok}"
    );
    assert!(text_ok.contains("rolled back switch in"), "{text_ok}");
    // Users reach old again through the proxy.
    assert!(super::soak::get(s.front.listen, "/").contains("hello from old"));
    (recovered, text)
}

/// Prints the figures: from the failure to HAProxy back on old, and the rollback's share.
fn report(how: &str, recovered: Duration, text: &str) {
    let rollback = super::soak::figure(text, "rolled back switch in ");
    eprintln!(
        "soak detection, {how} backend: HAProxy back on old {:.3} s after the failure (detected after {:.3} s, rollback {rollback:.3} s)",
        recovered.as_secs_f64(),
        recovered.as_secs_f64() - rollback
    );
}

#[test]
fn a_killed_backend_is_rolled_back_within_3_s() {
    let s = setup();
    let child = apply_until_soaking(&s);
    // The new app is killed: HAProxy's connections to it are refused.
    let pid = s.new_app.pid() as libc::pid_t;
    let broken = Instant::now();
    // SAFETY: kill(2) on the app process this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    let (recovered, text) = recovery(&s, child, broken, "killed backend");
    report("killed", recovered, &text);
    assert!(
        recovered < BOUND,
        "HAProxy back on old {recovered:?} after the kill\n{text}"
    );
}

#[test]
fn a_hung_backend_is_rolled_back_within_3_s() {
    let s = setup();
    let child = apply_until_soaking(&s);
    // The new app stops: the kernel still completes handshakes, no request is ever answered.
    let pid = s.new_app.pid() as libc::pid_t;
    let broken = Instant::now();
    // SAFETY: kill(2) on the app process this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    let (recovered, text) = recovery(&s, child, broken, "hung backend");
    // SAFETY: as above; its handle kills it at the end.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    report("hung", recovered, &text);
    assert!(
        text.contains("last failure: no answer within 1000 ms"),
        "a hang is a timeout\n{text}"
    );
    assert!(
        recovered < BOUND,
        "HAProxy back on old {recovered:?} after the hang\n{text}"
    );
}

#[test]
fn a_paused_controller_does_not_count_answers_that_came_in_meanwhile() {
    let s = setup();
    let plan_path = s.dir.path().join("cutover.toml");
    std::fs::write(
        &plan_path,
        plan(&s).replace("duration = \"60s\"", "duration = \"8s\""),
    )
    .unwrap();
    let child = cutover(&plan_path, &["apply", "--yes"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(
        wait_for_server(&s, s.new_app.addr, Duration::from_secs(30)).is_some(),
        "the switch never happened"
    );
    // A slow but healthy app: a probe or two is always outstanding. The controller is then
    // paused past their deadlines (a starved machine), their answers arriving meanwhile.
    control(s.new_app.addr, "delay?ms=400");
    std::thread::sleep(Duration::from_millis(1500));
    let pid = child.id() as libc::pid_t;
    // SAFETY: kill(2) on the `cutover` process this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    std::thread::sleep(Duration::from_millis(2500));
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGCONT) }, 0);
    let out = Run(child.wait_with_output().unwrap()).expect(0);
    let text = out.stdout();
    let probes = super::soak::figure(&text, "soaked 8s with no trigger firing: users: ");
    assert!(
        text.contains(&format!("users: {probes} probes, 0 failed (0.00%)")),
        "{text}"
    );
}
