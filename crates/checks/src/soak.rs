//! The soak loop: probes on a fixed schedule until the window ends (see [`run`]), statistics
//! per check, log tails and Prometheus queries, and the triggers judged after every result. The caller keeps
//! the [`SoakState`] (it checkpoints it) so that a resumed soak continues its window.

use crate::logs::{now_ms, LogTail};
use crate::outcome::{short, Outcome};
use crate::probe::{NamedProbe, ProbeEnv};
use crate::schedule::Schedule;
use crate::trigger::{Condition, Fired, TriggerSpec};
use crate::window::CheckStats;
use futures_util::future::join_all;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// Where a watched log comes from on its host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogSource {
    /// A file, followed like `tail -F`.
    File(String),
    /// A shell command whose output is the log (`journalctl -fu app`).
    Command(String),
    /// A command built by cutover that prints new lines as they come (`docker compose logs
    /// -f SERVICE`), named for messages by `label`.
    Follow {
        /// What it follows, e.g. `compose shop-green/web`.
        label: String,
        /// The command (on the spec's host).
        command: cutover_exec::Command,
    },
}

/// A log to watch.
#[derive(Debug, Clone)]
pub struct LogSpec {
    /// Its host.
    pub host: String,
    /// A file there, or a command that prints it.
    pub source: LogSource,
    /// Text that makes a line count.
    pub patterns: Vec<String>,
    /// Read it through `sudo -n`.
    pub sudo: bool,
}

/// What a soak watches and for how long.
#[derive(Debug, Clone)]
pub struct SoakSpec {
    /// Probed on every tick.
    pub probes: Vec<NamedProbe>,
    /// Time between ticks.
    pub interval: Duration,
    /// When the window ends (unix ms).
    pub ends_at_ms: i64,
    /// Judged after every tick.
    pub triggers: Vec<TriggerSpec>,
    /// Prometheus base URL for `Prometheus` triggers.
    pub prometheus: Option<String>,
    /// Logs to tail.
    pub logs: Vec<LogSpec>,
}

/// Where a soak stands; checkpointed by the caller, restored on resume.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SoakState {
    /// When the window began (unix ms).
    pub started_ms: i64,
    /// Ticks done.
    pub ticks: u64,
    /// Statistics by check name.
    pub checks: BTreeMap<String, CheckStats>,
    /// Matching log lines seen.
    pub log_matches: u64,
    /// Prometheus queries that could not be run.
    pub prometheus_errors: u64,
}

/// How a soak ended.
#[derive(Debug, Clone, PartialEq)]
pub enum SoakEnd {
    /// The window passed with no trigger firing.
    Completed,
    /// A trigger fired.
    Fired(Fired),
}

/// What happened since the last call: a tick's probes sent, one probe's result (in send
/// order), or a round of Prometheus queries; for progress and checkpoints.
pub struct Tick<'a> {
    /// The state after it.
    pub state: &'a SoakState,
    /// Failed probes among what happened.
    pub failures: Vec<(&'a str, &'a Outcome)>,
    /// Problems that fire nothing (Prometheus unreachable...).
    pub notes: Vec<String>,
}

/// Probes of one check outstanding at most. Each ends by its deadline, so a hung endpoint
/// keeps about deadline / interval outstanding; the bound only matters when that is huge
/// (a long `timeout` with a short `interval`): probes over it are not sent and count as failed.
pub const MAX_OUTSTANDING: usize = 256;

/// Runs the soak until its window ends or a trigger fires; `on_tick` sees every event.
///
/// Probes go out every `interval` on a fixed schedule (a late tick is skipped, never
/// bunched), whatever earlier probes are doing: a probe still unanswered at its deadline, the
/// check's `timeout` (at most two intervals or 2 s, whichever is longer), counts as failed at
/// that moment. Triggers see each check's results in the order the probes were *sent*, each
/// stamped with its send time: a probe that failed fast waits, at most until the deadline of
/// an earlier one still outstanding, so that "N failures in a row" means N probes sent one
/// after the other. Probes sent before the window ends are still judged after it.
pub async fn run(
    spec: &SoakSpec,
    env: &ProbeEnv,
    state: &mut SoakState,
    mut on_tick: impl FnMut(Tick<'_>),
) -> Result<SoakEnd, String> {
    let triggers = if spec.triggers.is_empty() {
        TriggerSpec::default_set()
    } else {
        spec.triggers.clone()
    };
    let keep = triggers
        .iter()
        .map(TriggerSpec::window)
        .max()
        .unwrap_or_default()
        .max(Duration::from_secs(60));
    let tails = start_tails(spec, env).await?;
    let mut probes = spec.probes.clone();
    // Without the cap a hang would be counted only after the default 10 s timeout.
    let cap = (spec.interval * 2).max(Duration::from_secs(2));
    for p in &mut probes {
        p.timeout = p.timeout.min(cap);
    }
    let names: Vec<String> = probes.iter().map(|p| p.name.clone()).collect();
    let mut schedule = Schedule::new(probes, env.clone(), MAX_OUTSTANDING);
    let mut ticker = tokio::time::interval(spec.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut queries: Option<PromRound<'_>> = None;
    let mut sending = true;
    loop {
        let mut notes = Vec::new();
        let mut fired = None;
        let mut result = None;
        tokio::select! {
            _ = ticker.tick(), if sending => {
                if now_ms() >= spec.ends_at_ms {
                    sending = false;
                } else {
                    schedule.send_all();
                    state.ticks += 1;
                    // One round of queries at a time: a slow Prometheus skips ticks.
                    if queries.is_none() && spec.prometheus.is_some() {
                        queries = Some(Box::pin(prometheus(spec, env, &triggers)));
                    }
                }
            }
            Some(sent) = schedule.next(), if !schedule.is_idle() => {
                let o = &sent.outcome;
                state
                    .checks
                    .entry(names[sent.check].clone())
                    .or_default()
                    .record(sent.at_ms, o.ok, o.latency, (!o.ok).then(|| o.line()), keep);
                result = Some(sent);
            }
            answers = finish(&mut queries), if queries.is_some() => {
                queries = None;
                for r in answers {
                    match r {
                        Ok(Some(f)) => fired = fired.or(Some(f)),
                        Ok(None) => {}
                        Err(e) => {
                            state.prometheus_errors += 1;
                            notes.push(e);
                        }
                    }
                }
            }
        }
        state.log_matches = tails.iter().map(|t| lock(t).total).sum();
        fired = fired.or_else(|| judge(&triggers, state, &tails, now_ms()));
        let failures = result
            .iter()
            .filter(|r| !r.outcome.ok)
            .map(|r| (names[r.check].as_str(), &r.outcome))
            .collect();
        on_tick(Tick {
            state,
            failures,
            notes,
        });
        if let Some(f) = fired {
            return Ok(SoakEnd::Fired(f));
        }
        if !sending && schedule.is_idle() {
            return Ok(SoakEnd::Completed);
        }
    }
}

/// A round of Prometheus queries in progress.
type PromRound<'a> = Pin<Box<dyn Future<Output = Vec<Result<Option<Fired>, String>>> + Send + 'a>>;

/// Awaits `round`; never finishes when there is none.
async fn finish<F: Future + Unpin>(round: &mut Option<F>) -> F::Output {
    match round {
        Some(f) => f.await,
        None => std::future::pending().await,
    }
}

fn lock(t: &LogTail) -> std::sync::MutexGuard<'_, crate::logs::Matches> {
    t.matches.lock().unwrap_or_else(|e| e.into_inner())
}

async fn start_tails(spec: &SoakSpec, env: &ProbeEnv) -> Result<Vec<LogTail>, String> {
    let mut tails = Vec::new();
    for l in &spec.logs {
        let exec = env.exec.as_ref().ok_or("watching logs needs an executor")?;
        tails.push(crate::logs::tail(exec, &l.host, &l.source, l.patterns.clone(), l.sudo).await?);
    }
    Ok(tails)
}

/// Runs every Prometheus trigger's query: `Ok(Some)` when one returned a non-zero sample.
async fn prometheus(
    spec: &SoakSpec,
    env: &ProbeEnv,
    triggers: &[TriggerSpec],
) -> Vec<Result<Option<Fired>, String>> {
    let Some(base) = &spec.prometheus else {
        return Vec::new();
    };
    let queries = triggers.iter().filter_map(|t| match &t.condition {
        Condition::Prometheus(e) => Some((t, e)),
        _ => None,
    });
    join_all(queries.map(|(t, expr)| async move {
        let samples = crate::prom::query(&env.client, base, expr).await?;
        // Like an alerting rule: any sample fires (`app_up == 0` keeps the 0-valued series);
        // a scalar fires when non-zero.
        let scalar = samples.len() == 1 && samples[0].labels.is_empty();
        Ok(samples
            .iter()
            .find(|s| !scalar || (s.value != 0.0 && !s.value.is_nan()))
            .map(|s| Fired {
                trigger: t.describe(),
                evidence: format!(
                    "`{expr}` returned {} = {} ({} sample(s))",
                    s.labels,
                    s.value,
                    samples.len()
                ),
            }))
    }))
    .await
}

fn judge(
    triggers: &[TriggerSpec],
    state: &SoakState,
    tails: &[LogTail],
    now: i64,
) -> Option<Fired> {
    for t in triggers {
        if let Condition::LogMatches { count, over } = &t.condition {
            let seen: usize = tails.iter().map(|l| lock(l).within(now, *over)).sum();
            if seen >= *count as usize {
                let last = tails.iter().rev().find_map(|l| {
                    lock(l)
                        .lines
                        .back()
                        .map(|(_, line)| format!("{}: {line}", l.label))
                });
                return Some(Fired {
                    trigger: t.describe(),
                    evidence: format!(
                        "{seen} matching line(s) in the last {}; last: {}",
                        humantime::format_duration(*over),
                        last.unwrap_or_default()
                    ),
                });
            }
            continue;
        }
        for (name, stats) in &state.checks {
            if let Some(f) = t.on_check(name, stats, now) {
                return Some(f);
            }
        }
    }
    None
}

/// One line per check: requests, failures, error rate, latency percentiles over the soak.
pub fn summary(state: &SoakState) -> Vec<String> {
    state
        .checks
        .iter()
        .map(|(name, s)| {
            let q = |q: f64| s.latency.quantile(q).map_or("-".into(), short);
            let rate = if s.requests == 0 { 0.0 } else { s.failed as f64 * 100.0 / s.requests as f64 };
            format!(
                "{name}: {} probes, {} failed ({rate:.2}%), longest failure streak {}, latency p50 {} p95 {} p99 {}",
                s.requests,
                s.failed,
                s.max_consecutive,
                q(0.5),
                q(0.95),
                q(0.99)
            )
        })
        .collect()
}
