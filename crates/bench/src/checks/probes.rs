//! The probe engine on loopback: time per 1,000 keep-alive probes with a JSON assertion, and
//! the CPU of the prober and of a soak at 10 probes/s, each against curl in the same rounds.

use crate::report::{Row, Target};
use crate::rounds::{self, Cache, Contender, Samples};
use crate::Options;
use cutover_checks::http::{Client, HttpProbe};
use cutover_checks::soak::{self, SoakSpec, SoakState};
use cutover_checks::{NamedProbe, Probe, ProbeEnv, Prober};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CONCURRENCY: usize = 16;
const CURL_LOOP: usize = 300;
/// The window of each CPU measure, at 10 probes/s.
const WINDOW: Duration = Duration::from_secs(5);

/// The rows and targets of the probe measures.
pub fn run(options: &Options) -> anyhow::Result<(Vec<Row>, Vec<Target>)> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let app = LocalApp::start(18_181)?;
    let url = format!("http://{}/healthz", app.addr);
    let probes = options.scaled(20_000, 2_000) as usize / CONCURRENCY * CONCURRENCY;
    let parallel = options.scaled(2_000, 500) as usize;
    let config = tempfile::NamedTempFile::new()?;
    std::fs::write(
        config.path(),
        format!("url = \"{url}\"\noutput = \"/dev/null\"\n").repeat(parallel),
    )?;
    let per_thousand = |n: usize, t: Duration| t.as_secs_f64() / n as f64 * 1000.0;

    eprintln!("   time per 1,000 probes on loopback");
    let mut throughput = [
        Contender::new("curl-loop", || {
            let t = Instant::now();
            for _ in 0..CURL_LOOP {
                curl(&["-sf", "-o", "/dev/null", &url])?;
            }
            Ok(per_thousand(CURL_LOOP, t.elapsed()))
        }),
        Contender::new("curl-parallel", || {
            let t = Instant::now();
            let cfg = config.path().display().to_string();
            curl(&[
                "-sf",
                "--parallel",
                "--parallel-max",
                "16",
                "--config",
                &cfg,
            ])?;
            Ok(per_thousand(parallel, t.elapsed()))
        }),
        Contender::new("cutover", || {
            let t = rt.block_on(engine(&url, probes))?;
            Ok(per_thousand(probes, t))
        }),
    ];
    let s = rounds::run(options.rounds, &Cache::NotRelevant, &mut throughput, |_| {
        Ok(())
    })?;
    drop(throughput);
    let what = "time per 1,000 HTTP health probes on loopback";
    let mut rows = vec![
        row(what, "s", &s[2], format!("`curl -sf` in a loop ({CURL_LOOP} probes)"), s[0].clone()),
        row(
            what,
            "s",
            &s[2],
            format!("`curl --parallel --parallel-max 16` (keep-alive, {parallel} probes, no JSON check)"),
            s[1].clone(),
        ),
    ];

    eprintln!("   CPU at 10 probes/s over {WINDOW:?}");
    let mut cpu = [
        Contender::new("curl-loop", || {
            let before = cpu_of(libc::RUSAGE_CHILDREN);
            let started = Instant::now();
            let n = (WINDOW.as_millis() / 100) as u32;
            for i in 0..n {
                let _ = curl(&["-sf", "-o", "/dev/null", &url]);
                let next = Duration::from_millis(100) * (i + 1);
                if let Some(wait) = next.checked_sub(started.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
            Ok(share(cpu_of(libc::RUSAGE_CHILDREN) - before))
        }),
        Contender::new("prober", || {
            let before = cpu_of(libc::RUSAGE_SELF);
            rt.block_on(async {
                let named = NamedProbe::new("users", Probe::Http(http_probe(&url)));
                let h = Prober::start(named, ProbeEnv::default(), Duration::from_millis(100));
                tokio::time::sleep(WINDOW).await;
                h.stop().await;
            });
            Ok(share(cpu_of(libc::RUSAGE_SELF) - before))
        }),
        Contender::new("soak", || {
            let before = cpu_of(libc::RUSAGE_SELF);
            rt.block_on(async {
                let spec = SoakSpec {
                    probes: vec![NamedProbe::new("users", Probe::Http(http_probe(&url)))],
                    interval: Duration::from_millis(100),
                    ends_at_ms: now_ms() + WINDOW.as_millis() as i64,
                    triggers: Vec::new(),
                    prometheus: None,
                    logs: Vec::new(),
                };
                let mut state = SoakState::default();
                let _ = soak::run(&spec, &ProbeEnv::default(), &mut state, |_| {}).await;
            });
            Ok(share(cpu_of(libc::RUSAGE_SELF) - before))
        }),
    ];
    let c = rounds::run(options.rounds, &Cache::NotRelevant, &mut cpu, |_| Ok(()))?;
    drop(cpu);
    let mut targets = Vec::new();
    for (i, who) in [(1, "prober"), (2, "soak")] {
        let what = format!("{who} CPU at 10 probes/s (% of a core)");
        rows.push(row(
            &what,
            "%",
            &c[i],
            "curl loop at 10/s".into(),
            c[0].clone(),
        ));
        targets.push(Target {
            what,
            bound: 2.0,
            unit: "%",
            measured: c[i].clone(),
            own: None,
        });
    }
    drop(app);
    Ok((rows, targets))
}

fn row(what: &str, unit: &'static str, ours: &Samples, baseline: String, theirs: Samples) -> Row {
    Row {
        what: what.into(),
        cache: Cache::NotRelevant.label(),
        unit,
        ours: ours.clone(),
        baseline,
        theirs,
        paired: true,
    }
}

/// `n` keep-alive probes with a JSON assertion, `CONCURRENCY` at a time; their duration.
async fn engine(url: &str, n: usize) -> anyhow::Result<Duration> {
    let probe = http_probe(url);
    let client = Client::default();
    let started = Instant::now();
    let per = n / CONCURRENCY;
    let tasks: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (p, c) = (probe.clone(), client.clone());
            tokio::spawn(async move {
                let mut failed = 0;
                for _ in 0..per {
                    failed += usize::from(!p.run(&c, None).await.ok);
                }
                failed
            })
        })
        .collect();
    let mut failed = 0;
    for t in tasks {
        failed += t.await.unwrap_or(per);
    }
    let took = started.elapsed();
    anyhow::ensure!(failed == 0, "{failed} probes failed on loopback");
    Ok(took)
}

fn curl(args: &[&str]) -> anyhow::Result<()> {
    let ok = Command::new("curl")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?
        .success();
    anyhow::ensure!(ok, "curl {} failed", args.join(" "));
    Ok(())
}

fn http_probe(url: &str) -> HttpProbe {
    let mut p = HttpProbe::get(url.parse().expect("a URL"));
    p.json = vec![
        cutover_plan::checks::assert::parse_json_assert("$.status == \"ok\"")
            .expect("an assertion"),
    ];
    p
}

/// CPU seconds as a share of one core over the window.
fn share(cpu_seconds: f64) -> f64 {
    cpu_seconds / WINDOW.as_secs_f64() * 100.0
}

fn cpu_of(who: libc::c_int) -> f64 {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct we own.
    unsafe { libc::getrusage(who, &mut u) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
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
