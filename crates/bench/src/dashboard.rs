//! The dashboard's own cost while a run soaks: the release `cutover dashboard` watching a
//! lab run whose soak probes the test app once a second, with 20 viewers on its event
//! stream. Its resident memory (now and at its peak) and CPU are read from /proc over a
//! window after the soak has settled, against the issue's bounds (20 MB, 1% of a core).

use crate::report::{Section, Target};
use crate::rounds::Samples;
use crate::Options;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Viewers on the event stream.
const VIEWERS: usize = 20;
/// From the dashboard's start to the measuring window.
const SETTLE: Duration = Duration::from_secs(10);
/// The measuring window.
const WINDOW: Duration = Duration::from_secs(30);

/// Runs the dashboard benchmark.
pub fn run(options: &Options) -> anyhow::Result<Section> {
    let (mut rss, mut peak, mut cpu) = (Samples::default(), Samples::default(), Samples::default());
    for round in 0..options.rounds {
        let m = once()?;
        eprintln!(
            "     round {}: RSS {:.1} MiB (peak {:.1} MiB), CPU {:.2}% of a core, {} events to {VIEWERS} viewers",
            round + 1,
            m.rss_mib,
            m.peak_mib,
            m.cpu_percent,
            m.events
        );
        rss.0.push(m.rss_mib);
        peak.0.push(m.peak_mib);
        cpu.0.push(m.cpu_percent);
    }
    let target = |what: &str, bound, unit, measured| Target {
        what: format!("{what} ({} rounds)", options.rounds),
        bound,
        unit,
        measured,
        own: None,
    };
    Ok(Section {
        name: "dashboard",
        setup: format!("`scripts/bench.sh dashboard`: the release `cutover dashboard` watching a lab run that soaks (1 probe/s), {VIEWERS} viewers on its event stream; read from /proc over {} s after {} s of settling.", WINDOW.as_secs(), SETTLE.as_secs()),
        rounds: options.rounds,
        rows: Vec::new(),
        targets: vec![
            target("dashboard resident memory at the end of the window", 20.0, "MiB", rss),
            target("dashboard peak resident memory (VmHWM)", 20.0, "MiB", peak),
            target("dashboard CPU over the window", 1.0, "%", cpu),
        ],
        tables: Vec::new(),
        notes: vec!["The issue's bounds are 20 MB and 1% of a core while a run soaks; MiB is the stricter reading.".into()],
    })
}

struct Measured {
    rss_mib: f64,
    peak_mib: f64,
    cpu_percent: f64,
    events: usize,
}

/// Kills a child when the round ends, however it ends.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn plan(lab: &cutover_testbed::Lab, app: SocketAddr) -> String {
    format!(
        r#"name = "bench-dashboard"
[ssh]
config = "{ssh}"
[hosts.old]
ssh = "old"
[hosts.new]
ssh = "new"
[checks.app]
kind = "http"
url = "http://{app}/healthz"
timeout = "2s"
[[stages]]
name = "watch"
[[stages.steps]]
id = "soak"
kind = "soak"
checks = ["app"]
interval = "1s"
duration = "{secs}s"
triggers = [{{ consecutive_failures = 5 }}]
"#,
        ssh = lab.ssh_config().display(),
        secs = (SETTLE + WINDOW).as_secs() + 20,
    )
}

fn once() -> anyhow::Result<Measured> {
    let lab = cutover_testbed::Lab::start()?;
    let app = cutover_testbed::app::start_on(lab.host("new"), 8080)?;
    let dir = tempfile::tempdir()?;
    let plan_path = dir.path().join("cutover.toml");
    std::fs::write(&plan_path, plan(&lab, app.addr))?;
    let cutover = |args: &[&str]| {
        let mut c = Command::new(crate::files::cutover_bin()?);
        c.arg("-f").arg(&plan_path).args(args).env("NO_COLOR", "1");
        anyhow::Ok(c)
    };
    let _apply = Reaped(
        cutover(&["apply", "--yes"])?
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    let mut dash = Reaped(cutover(&["dashboard"])?.stdout(Stdio::piped()).spawn()?);
    let mut out = BufReader::new(dash.0.stdout.take().expect("piped"));
    let mut line = String::new();
    out.read_line(&mut line)?;
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    let url = line
        .trim()
        .strip_prefix("dashboard: http://")
        .ok_or_else(|| anyhow::anyhow!("the dashboard printed {line:?}"))?;
    let (addr, token) = url
        .split_once("/?token=")
        .ok_or_else(|| anyhow::anyhow!("no token in {url}"))?;
    let addr: SocketAddr = addr.parse()?;
    let viewers: Vec<_> = (0..VIEWERS)
        .map(|_| viewer(addr, token))
        .collect::<anyhow::Result<_>>()?;
    let counts: Vec<_> = viewers
        .into_iter()
        .map(|s| std::thread::spawn(move || count_events(s)))
        .collect();
    std::thread::sleep(SETTLE);
    let pid = dash.0.id();
    let (cpu0, t0) = (cpu_seconds(pid)?, Instant::now());
    std::thread::sleep(WINDOW);
    let cpu_percent = (cpu_seconds(pid)? - cpu0) / t0.elapsed().as_secs_f64() * 100.0;
    let rss_mib = status_kib(pid, "VmRSS:")? / 1024.0;
    let peak_mib = status_kib(pid, "VmHWM:")? / 1024.0;
    drop(dash);
    let events = counts.into_iter().map(|c| c.join().unwrap_or(0)).sum();
    anyhow::ensure!(
        events >= VIEWERS,
        "the viewers got no events: the run did not show"
    );
    Ok(Measured {
        rss_mib,
        peak_mib,
        cpu_percent,
        events,
    })
}

/// A viewer on the event stream.
fn viewer(addr: SocketAddr, token: &str) -> anyhow::Result<TcpStream> {
    let mut s = TcpStream::connect(addr)?;
    write!(s, "GET /events HTTP/1.1\r\nHost: {addr}\r\nx-cutover-token: {token}\r\nAccept: text/event-stream\r\n\r\n")?;
    Ok(s)
}

/// The events a viewer read until the stream closed.
fn count_events(s: TcpStream) -> usize {
    let mut n = 0;
    let mut buf = [0u8; 16 * 1024];
    let mut r = s;
    let mut tail = Vec::new();
    while let Ok(k) = r.read(&mut buf) {
        if k == 0 {
            break;
        }
        tail.extend_from_slice(&buf[..k]);
        n += tail.windows(7).filter(|w| w == b"\nevent:").count();
        let keep = tail.len().saturating_sub(6);
        tail.drain(..keep);
    }
    n
}

/// User + system CPU seconds of `pid`.
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after = stat.rsplit_once(')').map(|(_, a)| a).unwrap_or_default();
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| -> anyhow::Result<f64> {
        Ok(f.get(i)
            .ok_or_else(|| anyhow::anyhow!("short /proc/{pid}/stat"))?
            .parse()?)
    };
    // utime and stime, fields 14 and 15 (11 and 12 after the command's name).
    Ok((ticks(11)? + ticks(12)?) / clock_ticks())
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf reads a constant of the system.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// A `/proc/PID/status` figure in KiB (`VmRSS:`...).
fn status_kib(pid: u32, field: &str) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let v = status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .ok_or_else(|| anyhow::anyhow!("no {field} in /proc/{pid}/status"))?;
    Ok(v.parse()?)
}
