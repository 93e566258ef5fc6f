//! The new backend failing during the soak after a coordinated move (issue 19's second
//! target): the app on new killed (SIGKILL) in half of the rounds and hung (SIGSTOP: the
//! kernel still accepts its connections, nothing answers) in the others, while the bench's
//! client writes every 20 ms through HAProxy. The soak's automatic rollback is the move
//! backwards. Measured on the client's own clock: from the failure to the first write sent
//! after it that old acknowledged, the writes that failed after that, and acknowledged
//! writes missing from old. cutover's own figures (from its journal, against the bench's
//! wall-clock time of the failure) are kept beside them: when its trigger fired and when
//! it released the held requests to old.

use crate::report::Target;
use crate::rounds::Samples;
use anyhow::Context;
use cutover_testbed::app::AppProcess;
use cutover_testbed::load::{LoadOptions, WriteLoad};
use cutover_testbed::PgServer;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

/// The bound: from the failure to writes taken on old.
const BOUND: f64 = 3.0;

/// How the new app fails.
#[derive(Clone, Copy)]
enum Failure {
    Killed,
    Hung,
}

impl Failure {
    fn signal(self) -> libc::c_int {
        match self {
            Failure::Killed => libc::SIGKILL,
            Failure::Hung => libc::SIGSTOP,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Failure::Killed => "killed (SIGKILL)",
            Failure::Hung => "hung (SIGSTOP)",
        }
    }
}

/// What one round saw.
struct Seen {
    /// From the failure to old's first acknowledged write (the client's clock).
    back: f64,
    /// Writes sent between the failure and that moment that failed.
    failed_between: usize,
    /// Writes sent after that moment that failed.
    failed_after: usize,
    /// Acknowledged writes missing from old.
    lost: usize,
    acknowledged: usize,
    /// cutover's journal: the trigger fired / the held requests released, from the failure.
    fired: f64,
    released: f64,
}

/// What the bench's servers give these rounds.
pub struct Setup<'a> {
    /// The soaking plan.
    pub plan: &'a Path,
    /// HAProxy's URL.
    pub url: &'a str,
    /// The old server (where every acknowledged write must be after the rollback).
    pub old: &'a PgServer,
    /// The app on new, killed or stopped by the rounds.
    pub new_app: &'a mut AppProcess,
    /// Starts the app on new again after a kill.
    pub restart: &'a dyn Fn() -> anyhow::Result<AppProcess>,
}

/// `rounds` rounds of each failure, alternating; the section's targets and a note.
pub fn run(setup: Setup<'_>, rounds: usize) -> anyhow::Result<(Vec<Target>, String)> {
    let Setup {
        plan,
        url,
        old,
        new_app,
        restart,
    } = setup;
    let synced = super::cutover(plan, &["apply", "--yes", "--until", "sync"])?;
    anyhow::ensure!(
        synced.status.success(),
        "sync failed:\n{}",
        super::text(&synced)
    );
    let (mut killed, mut hung) = (Vec::new(), Vec::new());
    for round in 0..rounds * 2 {
        let failure = if round % 2 == 0 {
            Failure::Killed
        } else {
            Failure::Hung
        };
        let seen = once(plan, url, old, new_app, failure)
            .with_context(|| format!("soak failure round {} ({})", round + 1, failure.name()))?;
        // A stopped app is not let go on: it would answer the requests queued while it was
        // stopped by writing them into new's database, which follows old again (rows the
        // sync then collides with). Its operator would restart it; so does the bench.
        stop_for_good(new_app)?;
        *new_app = restart()?;
        eprintln!(
            "     soak round {}, new app {}: old took writes {:.3} s after the failure (cutover fired at {:.3} s, released at {:.3} s); {} writes failed before, {} after; {} lost",
            round + 1,
            failure.name(),
            seen.back,
            seen.fired,
            seen.released,
            seen.failed_between,
            seen.failed_after,
            seen.lost
        );
        match failure {
            Failure::Killed => killed.push(seen),
            Failure::Hung => hung.push(seen),
        }
    }
    let samples = |seen: &[Seen], f: fn(&Seen) -> f64| Samples(seen.iter().map(f).collect());
    let slowest = |seen: &[Seen]| Samples(vec![seen.iter().map(|s| s.back).fold(0.0, f64::max)]);
    let all = || killed.iter().chain(hung.iter());
    let client = "at the bench's client writing every 20 ms through HAProxy";
    let mut targets = Vec::new();
    for (failure, seen) in [(Failure::Killed, &killed), (Failure::Hung, &hung)] {
        targets.push(Target {
            what: format!(
                "new app {} during the soak after a coordinated move: from the failure to the first write old acknowledged, {client}, slowest of {rounds}",
                failure.name()
            ),
            bound: BOUND,
            unit: "s",
            measured: slowest(seen),
            own: Some((
                "held requests released to old".into(),
                samples(seen, |s| s.released),
            )),
        });
    }
    targets.push(Target {
        what: format!(
            "writes failed once old took writes again, in all {} rounds",
            rounds * 2
        ),
        bound: 0.0,
        unit: "writes",
        measured: Samples(vec![all().map(|s| s.failed_after).sum::<usize>() as f64]),
        own: None,
    });
    targets.push(Target {
        what: format!(
            "acknowledged writes missing from old after {} automatic move backs",
            rounds * 2
        ),
        bound: 0.0,
        unit: "writes",
        measured: Samples(vec![all().map(|s| s.lost).sum::<usize>() as f64]),
        own: None,
    });
    let spread = |seen: &[Seen], f: fn(&Seen) -> f64, unit: &str| {
        crate::report::spread(&samples(seen, f), unit)
    };
    let note = format!(
        "Soak failures: the soak probes `/healthz` through HAProxy every 250 ms with a 1 s timeout and fires on the third failure in a row, then moves back (requests held, writes on new replayed to old, old unfrozen, held requests released to old). From the failure, killed / hung: old's first acknowledged write {} / {}; cutover's trigger fired at {} / {}, its held requests released at {} / {}. A killed app looks like a hung one to users: HAProxy retries the refused connection for a second before each new try, so probes time out too. Writes sent between the failure and the move back went to the failed app and failed ({} / {} per round, median); {} writes acknowledged in all, none missing from old.",
        spread(&killed, |s| s.back, "s"),
        spread(&hung, |s| s.back, "s"),
        spread(&killed, |s| s.fired, "s"),
        spread(&hung, |s| s.fired, "s"),
        spread(&killed, |s| s.released, "s"),
        spread(&hung, |s| s.released, "s"),
        samples(&killed, |s| s.failed_between as f64).median(),
        samples(&hung, |s| s.failed_between as f64).median(),
        all().map(|s| s.acknowledged).sum::<usize>(),
    );
    Ok((targets, note))
}

/// Kills the app (stopped or already dead) and waits until its port is free.
fn stop_for_good(app: &AppProcess) -> anyhow::Result<()> {
    // SAFETY: kill(2) on the app process the bench started; SIGKILL ends a stopped one too.
    unsafe { libc::kill(app.pid() as libc::pid_t, libc::SIGKILL) };
    let until = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect_timeout(&app.addr, Duration::from_millis(100)).is_ok() {
        anyhow::ensure!(
            Instant::now() < until,
            "the app on new still listens 10 s after SIGKILL"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// One round: the move and the soak under the client's load, the new app failing once the
/// soak runs, the soak's move back; then the run's figures.
fn once(
    plan: &Path,
    url: &str,
    old: &PgServer,
    new_app: &AppProcess,
    failure: Failure,
) -> anyhow::Result<Seen> {
    let load = WriteLoad::start(url, LoadOptions::default())?;
    load.wait_for_acknowledged(25, Duration::from_secs(20))?;
    let mut apply = Applying::start(plan)?;
    apply.wait_for("-> watch (soak)", Duration::from_secs(60))?;
    // A few healthy probes of new first: the soak is under way when the app fails.
    std::thread::sleep(Duration::from_secs(1));
    let pid = new_app.pid() as libc::pid_t;
    let (failed_at, failed_wall) = (load.now(), SystemTime::now());
    // SAFETY: kill(2) on the app process the bench started.
    anyhow::ensure!(
        unsafe { libc::kill(pid, failure.signal()) } == 0,
        "cannot signal the app on new"
    );
    let ended = apply.finish(Duration::from_secs(60));
    // Writes keep coming after the move back: none of them may fail.
    std::thread::sleep(Duration::from_secs(1));
    let summary = load.stop();
    let (code, text) = ended?;
    anyhow::ensure!(
        code == Some(5) && text.contains("trigger fired"),
        "the soak did not roll the move back (exit {code:?}):\n{text}"
    );
    let first = summary
        .first_acknowledged_sent_after(failed_at)
        .with_context(|| format!("old acknowledged no write after the failure\n{summary}"))?;
    let failed_after = summary.failures_sent_after(first.answered).len();
    let ids: Vec<i64> = old
        .psql("app", "SELECT id FROM orders")?
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    let (fired, released) = journaled(plan, failed_wall)?;
    Ok(Seen {
        back: first.answered.saturating_sub(failed_at).as_secs_f64(),
        failed_between: summary.failures_sent_after(failed_at).len() - failed_after,
        failed_after,
        lost: summary.missing_from(&ids).len(),
        acknowledged: summary.acknowledged().len(),
        fired,
        released,
    })
}

/// cutover's own account from its journal, in seconds from `failed` (wall clock): when the
/// last rollback started (the trigger fired) and when the last hold of the move ended (the
/// held requests released to old).
fn journaled(plan: &Path, failed: SystemTime) -> anyhow::Result<(f64, f64)> {
    let out = super::cutover(plan, &["report", "--json"])?;
    anyhow::ensure!(
        out.status.success(),
        "report failed:\n{}",
        super::text(&out)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let failed_ms = failed.duration_since(SystemTime::UNIX_EPOCH)?.as_millis() as i64;
    let timeline = report["timeline"].as_array().cloned().unwrap_or_default();
    let last = |f: &dyn Fn(&serde_json::Value) -> Option<i64>| timeline.iter().rev().find_map(f);
    let fired = last(&|t| (t["event"] == "rollback_started").then(|| t["at_ms"].as_i64())?)
        .context("no rollback in the journal")?;
    let released = last(&|t| {
        (t["event"] == "outage" && t["step"] == "move" && t["what"] == "requests held")
            .then(|| t["to_ms"].as_i64())?
    })
    .context("no hold of the move in the journal")?;
    let from = |ms: i64| (ms - failed_ms) as f64 / 1000.0;
    Ok((from(fired), from(released)))
}

/// `cutover apply` running in the background, its standard output read line by line.
struct Applying {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    /// Standard error, read aside so that a full pipe never stops the run.
    stderr: std::thread::JoinHandle<String>,
}

impl Applying {
    fn start(plan: &Path) -> anyhow::Result<Applying> {
        let mut child = std::process::Command::new(crate::files::cutover_bin()?)
            .arg("-f")
            .arg(plan)
            .args(["apply", "--yes"])
            .env("NO_COLOR", "1")
            .env("DB_PW", PgServer::PASSWORD)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let stdout = child.stdout.take().context("no standard output")?;
        let mut err = child.stderr.take().context("no standard error")?;
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = err.read_to_string(&mut text);
            text
        });
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Applying {
            child,
            lines,
            seen: Vec::new(),
            stderr,
        })
    }

    /// Waits for a line starting with `prefix`.
    fn wait_for(&mut self, prefix: &str, within: Duration) -> anyhow::Result<()> {
        let until = Instant::now() + within;
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            let Ok(line) = self.lines.recv_timeout(left) else {
                break;
            };
            let found = line.starts_with(prefix);
            self.seen.push(line);
            if found {
                return Ok(());
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        anyhow::bail!(
            "no line starting with {prefix:?} within {within:?}:\n{}",
            self.seen.join("\n")
        )
    }

    /// Waits up to `within` for the run to end (then kills it): its exit code and output.
    fn finish(mut self, within: Duration) -> anyhow::Result<(Option<i32>, String)> {
        let until = Instant::now() + within;
        let status = loop {
            if let Some(status) = self.child.try_wait()? {
                break Some(status);
            }
            if Instant::now() > until {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let stderr = self.stderr.join().unwrap_or_default();
        self.seen.extend(self.lines.iter());
        let text = self.seen.join("\n") + "\n" + &stderr;
        let status = status
            .with_context(|| format!("`cutover apply` still ran after {within:?}:\n{text}"))?;
        Ok((status.code(), text))
    }
}
