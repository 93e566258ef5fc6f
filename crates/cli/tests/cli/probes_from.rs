//! Probes from a host (`from = "new"`): HTTP and TCP checks of an upstream that listens only
//! on the host's loopback, opened through the host's SSH connection; and the `proxy.switch`
//! health gate asked from the proxy's host, so an upstream only the proxy can reach passes.

use crate::fixture::Run;
use cutover_testbed::Lab;
use std::process::Command;

/// A port nothing listens on here, so that a probe from this machine cannot pass by accident.
const PORT: u16 = 18088;

fn plan(lab: &Lab, checks: &str, steps: &str) -> String {
    format!(
        r#"name = "probes-from"
[ssh]
config = "{ssh}"
[hosts.old]
ssh = "old"
address = "{old}"
[hosts.new]
ssh = "new"
address = "{new}"
[checks.loopback-health]
kind = "http"
url = "http://127.0.0.1:{PORT}/healthz"
from = "new"
json = ['$.ok == true']
[checks.loopback-port]
kind = "tcp"
address = "127.0.0.1:{PORT}"
from = "new"
[checks.closed-port]
kind = "tcp"
address = "127.0.0.1:{closed}"
from = "new"
timeout = "5s"
[checks.from-here]
kind = "http"
url = "http://127.0.0.1:{PORT}/healthz"
timeout = "2s"
{checks}
[[stages]]
name = "s"
{steps}"#,
        ssh = lab.ssh_config().display(),
        old = lab.host("old").address(),
        new = lab.host("new").address(),
        closed = PORT + 1,
    )
}

#[test]
fn checks_from_a_host_reach_its_loopback_and_the_proxy_gate_asks_from_the_proxy() {
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", PORT)).is_err(),
        "something listens on 127.0.0.1:{PORT} here: the test would prove nothing"
    );
    let lab = Lab::builder().host("old").host("new").start().unwrap();
    let new = lab.host("new");
    let site = new.fs_path("/srv/loopback");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("healthz"), r#"{"ok": true}"#).unwrap();
    // Killed and reaped by the lab at teardown.
    let mut server = new
        .spawn(&format!(
            "exec python3 -m http.server {PORT} --bind 127.0.0.1 --directory /srv/loopback"
        ))
        .unwrap();
    new.exec_ok(&format!(
        "for i in $(seq 100); do curl -sf http://127.0.0.1:{PORT}/healthz >/dev/null && exit 0; sleep 0.05; done; exit 1"
    ))
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str, text: String, args: &[&str]| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        Run(Command::new(env!("CARGO_BIN_EXE_cutover"))
            .arg("-f")
            .arg(&path)
            .args(args)
            .env("NO_COLOR", "1")
            .output()
            .unwrap())
    };

    let gate = r#"[[stages.steps]]
id = "gate"
kind = "check"
checks = ["loopback-health", "loopback-port"]
"#;
    let shown = run("gate.toml", plan(&lab, "", gate), &["plan"])
        .expect(0)
        .stdout();
    assert!(
        shown.contains(&format!("GET http://127.0.0.1:{PORT}/healthz from new")),
        "{shown}"
    );
    let out = run("gate.toml", plan(&lab, "", gate), &["apply", "--yes"]).expect(0);
    let text = out.stdout() + &out.stderr();
    assert!(
        text.contains(&format!("127.0.0.1:{PORT} from new")),
        "the checklist says where the probe came from: {text}"
    );

    // A closed port on the host, and the same URL asked from here, fail with the reason.
    let closed = r#"[[stages.steps]]
id = "gate"
kind = "check"
checks = ["closed-port"]
retries = 0
"#;
    let out = run("closed.toml", plan(&lab, "", closed), &["apply", "--yes"]).expect(9);
    let text = out.stdout() + &out.stderr();
    assert!(
        text.contains(&format!(
            "cannot open a connection from new to 127.0.0.1:{}",
            PORT + 1
        )),
        "{text}"
    );
    let here = r#"[[stages.steps]]
id = "gate"
kind = "check"
checks = ["from-here"]
retries = 0
"#;
    let out = run("here.toml", plan(&lab, "", here), &["apply", "--yes"]).expect(9);
    let text = out.stdout() + &out.stderr();
    assert!(text.contains("cannot connect to 127.0.0.1"), "{text}");

    // The proxy on new points at an upstream on new's loopback: only new can ask it.
    let front = cutover_testbed::proxy::start_haproxy(
        new,
        8000,
        std::net::SocketAddr::from((new.address(), 8999)),
    )
    .unwrap();
    let proxy = r#"[proxies.front]
kind = "haproxy"
host = "new"
socket = "/tmp/cutover-haproxy/admin.sock"
backend = "app"
server = "web"
"#;
    let switch = format!(
        r#"[[stages.steps]]
id = "flip"
kind = "proxy.switch"
proxy = "front"
to = "127.0.0.1:{PORT}"
health_path = "/healthz"
"#
    );
    let out = run(
        "switch.toml",
        plan(&lab, proxy, &switch),
        &["apply", "--yes"],
    )
    .expect(0);
    let text = out.stdout() + &out.stderr();
    assert!(
        text.contains(&format!("GET /healthz on 127.0.0.1:{PORT} (from new): 200")),
        "{text}"
    );
    let body = Command::new("curl")
        .args(["-sS", &format!("http://{}/healthz", front.listen)])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&body.stdout),
        r#"{"ok": true}"#,
        "users reach the loopback upstream through the proxy"
    );
    drop(front);
    let _ = server.kill();
    let _ = server.wait();
}
