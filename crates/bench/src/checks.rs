//! The checks benchmark: the probe engine's throughput on loopback against a curl loop (what
//! runbooks use), the CPU the downtime prober and a soak spend at 10 probes/s, and, end to
//! end through `cutover apply` on the lab, how fast a soak detects a failing new host and
//! rolls a HAProxy switch back (the issue's targets: detection within 3 s at 1 probe/s,
//! rollback within 2 s of detection).

use crate::table::Row;
use cutover_checks::http::{Client, HttpProbe};
use cutover_checks::soak::{self, SoakSpec, SoakState};
use cutover_checks::{NamedProbe, Probe, ProbeEnv, Prober};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PROBES: usize = 20_000;
const CONCURRENCY: usize = 16;
const CURL_PROBES: usize = 300;

pub fn run() -> anyhow::Result<Vec<Row>> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let app = LocalApp::start(18_181)?;
    let url = format!("http://{}/healthz", app.addr);
    let mut rows = Vec::new();

    // Throughput: keep-alive probes with JSON assertions, 16 at a time.
    let probe = http_probe(&url);
    let ours = rt.block_on(async {
        let client = Client::default();
        let started = Instant::now();
        let per = PROBES / CONCURRENCY;
        let tasks: Vec<_> = (0..CONCURRENCY)
            .map(|_| {
                let (p, c) = (probe.clone(), client.clone());
                tokio::spawn(async move {
                    let mut failed = 0;
                    for _ in 0..per {
                        failed += usize::from(!p.run(&c).await.ok);
                    }
                    failed
                })
            })
            .collect();
        let mut failed = 0;
        for t in tasks {
            failed += t.await.unwrap_or(per);
        }
        (started.elapsed(), failed)
    });
    anyhow::ensure!(ours.1 == 0, "{} probes failed on loopback", ours.1);
    let ours_rate = PROBES as f64 / ours.0.as_secs_f64();
    let started = Instant::now();
    for _ in 0..CURL_PROBES {
        let ok = Command::new("curl")
            .args(["-sf", "-o", "/dev/null", &url])
            .status()?
            .success();
        anyhow::ensure!(ok, "curl failed against {url}");
    }
    let curl_rate = CURL_PROBES as f64 / started.elapsed().as_secs_f64();
    eprintln!(
        "probe engine: {ours_rate:.0} probes/s ({PROBES} keep-alive HTTP probes with a JSON assertion, {CONCURRENCY} at a time); curl loop {curl_rate:.0}/s; target > 2,000/s: {}",
        if ours_rate > 2000.0 { "met" } else { "NOT met" }
    );
    rows.push(Row {
        what: "time per 1,000 health probes on loopback".into(),
        baseline: "curl -sf in a loop".into(),
        baseline_value: 1000.0 / curl_rate,
        ours: 1000.0 / ours_rate,
        unit: "s".into(),
        target: None,
    });

    // CPU at 10 probes/s, for the prober and for a soak, against a curl loop at the same rate.
    let window = Duration::from_secs(10);
    let (prober_cpu, report) = rt.block_on(async {
        let before = cpu_self();
        let named = NamedProbe::new("users", Probe::Http(http_probe(&url)));
        let h = Prober::start(named, ProbeEnv::default(), Duration::from_millis(100));
        tokio::time::sleep(window).await;
        let r = h.stop().await;
        (cpu_self() - before, r)
    });
    let soak_cpu = rt.block_on(async {
        let before = cpu_self();
        let spec = SoakSpec {
            probes: vec![NamedProbe::new("users", Probe::Http(http_probe(&url)))],
            interval: Duration::from_millis(100),
            ends_at_ms: now_ms() + window.as_millis() as i64,
            triggers: Vec::new(),
            prometheus: None,
            logs: Vec::new(),
        };
        let mut state = SoakState::default();
        let _ = soak::run(&spec, &ProbeEnv::default(), &mut state, |_| {}).await;
        cpu_self() - before
    });
    let before = cpu_children();
    let started = Instant::now();
    for i in 0..100u32 {
        let _ = Command::new("curl")
            .args(["-sf", "-o", "/dev/null", &url])
            .status();
        let next = Duration::from_millis(100) * (i + 1);
        if let Some(wait) = next.checked_sub(started.elapsed()) {
            std::thread::sleep(wait);
        }
    }
    let curl_cpu = cpu_children() - before;
    let share = |cpu: f64| cpu / window.as_secs_f64() * 100.0;
    eprintln!(
        "CPU at 10 probes/s: prober {:.2}% of a core ({}), soak {:.2}%, curl loop {:.2}%; target < 2%: {}",
        share(prober_cpu),
        report.line(),
        share(soak_cpu),
        share(curl_cpu),
        if share(prober_cpu) < 2.0 && share(soak_cpu) < 2.0 { "met" } else { "NOT met" }
    );
    for (what, cpu) in [("prober", prober_cpu), ("soak", soak_cpu)] {
        rows.push(Row {
            what: format!("{what} CPU at 10 probes/s (% of a core)"),
            baseline: "curl loop at 10/s".into(),
            baseline_value: share(curl_cpu),
            ours: share(cpu),
            unit: "%".into(),
            target: None,
        });
    }
    drop(app);

    let (detect, rollback) = soak_rollback()?;
    eprintln!(
        "soak on the lab: failure detected {detect:.2} s after the new app broke (target 3 s: {}), HAProxy switch rolled back {rollback:.3} s after detection (target 2 s: {})",
        if detect <= 3.0 { "met" } else { "NOT met" },
        if rollback <= 2.0 { "met" } else { "NOT met" }
    );
    rows.push(Row {
        what: "soak: failure detected at 1 probe/s".into(),
        baseline: "issue target".into(),
        baseline_value: 3.0,
        ours: detect,
        unit: "s".into(),
        target: Some(1.0),
    });
    rows.push(Row {
        what: "soak: proxy switch rolled back after detection".into(),
        baseline: "issue target".into(),
        baseline_value: 2.0,
        ours: rollback,
        unit: "s".into(),
        target: Some(1.0),
    });
    Ok(rows)
}

fn http_probe(url: &str) -> HttpProbe {
    let mut p = HttpProbe::get(url.parse().expect("a URL"));
    p.json = vec![
        cutover_plan::checks::assert::parse_json_assert("$.status == \"ok\"")
            .expect("an assertion"),
    ];
    p
}

/// The test app on loopback (outside the lab: the probe engine alone is measured).
struct LocalApp {
    addr: SocketAddr,
    child: std::process::Child,
}

impl LocalApp {
    fn start(port: u16) -> anyhow::Result<LocalApp> {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let bin = cutover_testbed::app::binary()?;
        let child = Command::new(bin)
            .args(["--listen", &addr.to_string(), "--name", "bench"])
            .stdout(Stdio::null())
            .spawn()?;
        let started = Instant::now();
        while std::net::TcpStream::connect(addr).is_err() {
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(5),
                "the test app does not listen on {addr}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(LocalApp { addr, child })
    }
}

impl Drop for LocalApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cpu(who: libc::c_int) -> f64 {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct we own.
    unsafe { libc::getrusage(who, &mut u) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

fn cpu_self() -> f64 {
    cpu(libc::RUSAGE_SELF)
}

fn cpu_children() -> f64 {
    cpu(libc::RUSAGE_CHILDREN)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
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

/// `cutover apply` of switch + soak on the lab; the new app is broken after the switch.
/// Returns (detection, rollback) in seconds.
fn soak_rollback() -> anyhow::Result<(f64, f64)> {
    let lab = cutover_testbed::Lab::start()?;
    let old_app = cutover_testbed::app::start_on(lab.host("old"), 8080)?;
    let new_app = cutover_testbed::app::start_on(lab.host("new"), 8080)?;
    let front = cutover_testbed::proxy::start_haproxy(lab.host("old"), 8000, old_app.addr)?;
    let dir = tempfile::tempdir()?;
    let plan = dir.path().join("cutover.toml");
    std::fs::write(
        &plan,
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
            front = front.listen,
        ),
    )?;
    let bin = std::env::current_exe()?.with_file_name("cutover");
    anyhow::ensure!(
        bin.exists(),
        "{} is missing: run scripts/bench.sh",
        bin.display()
    );
    let child = Command::new(bin)
        .arg("-f")
        .arg(&plan)
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
    std::thread::sleep(Duration::from_millis(2500));
    let mut s = std::net::TcpStream::connect(new_app.addr)?;
    write!(
        s,
        "POST /_control/fail HTTP/1.0\r\nContent-Length: 0\r\n\r\n"
    )?;
    let broken = Instant::now();
    while !get(front.listen).contains("hello from old") {
        anyhow::ensure!(
            broken.elapsed() < Duration::from_secs(20),
            "no automatic rollback"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let recovered = broken.elapsed().as_secs_f64();
    let out = child.wait_with_output()?;
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    let at = text
        .find("rolled back switch in ")
        .ok_or_else(|| anyhow::anyhow!("no rollback in the output:\n{text}"))?;
    let figure: String = text[at + 22..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let rollback: f64 = figure.parse()?;
    Ok((recovered - rollback, rollback))
}
