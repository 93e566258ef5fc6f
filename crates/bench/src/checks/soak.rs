//! `cutover apply` of a HAProxy switch and a soak on the lab; the new app is broken after
//! the switch. The bench's own client, a fresh connection through the proxy every 10 ms,
//! times what users see: from the first request that failed to the first one the old app
//! served. cutover's own account of its rollback is kept beside it.

use crate::report::Target;
use crate::rounds::Samples;
use crate::Options;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The targets: users back within 5 s (detection within 3 s at 1 probe/s, then rollback
/// within 2 s), and the rollback itself within 2 s.
pub fn run(options: &Options) -> anyhow::Result<Vec<Target>> {
    let (mut outage, mut rollback) = (Samples::default(), Samples::default());
    for round in 0..options.rounds {
        let (users, own) = once()?;
        eprintln!(
            "     round {}: users saw failures for {users:.2} s; cutover: rolled back in {own:.3} s",
            round + 1
        );
        outage.0.push(users);
        rollback.0.push(own);
    }
    Ok(vec![
        Target {
            what: format!(
                "soak at 1 probe/s, 3 failures to fire: users' failed requests until the old app served them, at the bench's client ({} rounds)",
                options.rounds
            ),
            bound: 5.0,
            unit: "s",
            measured: outage,
            own: Some(("rolled back switch in".into(), rollback.clone())),
        },
        Target {
            what: "proxy switch rolled back after detection, cutover's own figure".into(),
            bound: 2.0,
            unit: "s",
            measured: rollback,
            own: None,
        },
    ])
}

fn get(addr: SocketAddr) -> String {
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = write!(s, "GET / HTTP/1.0\r\n\r\n");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

fn plan(lab: &cutover_testbed::Lab, front: SocketAddr) -> String {
    format!(
        r#"name = "bench-soak"
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
socket = "{dir}/admin.sock"
backend = "app"
server = "web"
[checks.users]
kind = "http"
url = "http://{front}/healthz"
timeout = "2s"
[[stages]]
name = "switch"
[[stages.steps]]
id = "switch"
kind = "proxy.switch"
proxy = "front"
to = "{new}:8080"
[[stages.steps]]
id = "soak"
kind = "soak"
checks = "users"
interval = "1s"
duration = "60s"
triggers = [{{ consecutive_failures = 3 }}]
"#,
        ssh = lab.ssh_config().display(),
        old = lab.host("old").address(),
        new = lab.host("new").address(),
        dir = cutover_testbed::proxy::HAPROXY_DIR,
    )
}

/// One round: (seconds users saw failures, cutover's rollback figure).
fn once() -> anyhow::Result<(f64, f64)> {
    let lab = cutover_testbed::Lab::start()?;
    let old_app = cutover_testbed::app::start_on(lab.host("old"), 8080)?;
    let new_app = cutover_testbed::app::start_on(lab.host("new"), 8080)?;
    let front = cutover_testbed::proxy::start_haproxy(lab.host("old"), 8000, old_app.addr)?;
    let dir = tempfile::tempdir()?;
    let plan_path = dir.path().join("cutover.toml");
    std::fs::write(&plan_path, plan(&lab, front.listen))?;
    let child = Command::new(crate::files::cutover_bin()?)
        .arg("-f")
        .arg(&plan_path)
        .args(["apply", "--yes"])
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let started = Instant::now();
    while !get(front.listen).contains("hello from new") {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(30),
            "the switch never happened"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Let the soak settle into its rhythm, then break the new app.
    std::thread::sleep(Duration::from_millis(2500));
    let mut s = std::net::TcpStream::connect(new_app.addr)?;
    write!(
        s,
        "POST /_control/fail HTTP/1.0\r\nContent-Length: 0\r\n\r\n"
    )?;
    let mut reply = String::new();
    s.read_to_string(&mut reply)?;
    anyhow::ensure!(
        reply.contains("200"),
        "the test app refused to fail: {reply}"
    );
    let broken = Instant::now();
    let mut first_failed = None;
    let first_good = loop {
        let sent = Instant::now();
        let body = get(front.listen);
        if body.contains("hello from old") {
            break sent;
        }
        if first_failed.is_none() && !body.contains("hello from new") {
            first_failed = Some(sent);
        }
        anyhow::ensure!(
            broken.elapsed() < Duration::from_secs(30),
            "no automatic rollback"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let first_failed =
        first_failed.ok_or_else(|| anyhow::anyhow!("the client saw no failed request"))?;
    let out = child.wait_with_output()?;
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    let at = text
        .find("rolled back switch in ")
        .ok_or_else(|| anyhow::anyhow!("no rollback in cutover's output:\n{text}"))?;
    let figure: String = text[at + "rolled back switch in ".len()..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    Ok(((first_good - first_failed).as_secs_f64(), figure.parse()?))
}
