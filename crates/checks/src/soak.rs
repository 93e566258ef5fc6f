//! The soak loop: probes on an interval until the window ends, statistics per check, log
//! tails and Prometheus queries, and the triggers judged after every tick. The caller keeps
//! the [`SoakState`] (it checkpoints it) so that a resumed soak continues its window.

use crate::logs::{now_ms, LogTail};
use crate::outcome::{short, Outcome};
use crate::probe::{NamedProbe, ProbeEnv};
use crate::trigger::{Condition, Fired, TriggerSpec};
use crate::window::CheckStats;
use futures_util::future::join_all;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// A log to watch.
#[derive(Debug, Clone)]
pub struct LogSpec {
    /// Its host.
    pub host: String,
    /// Where its lines come from.
    pub source: LogSource,
    /// Text that makes a line count.
    pub patterns: Vec<String>,
    /// Read it through `sudo -n`.
    pub sudo: bool,
}

/// Where a watched log's lines come from.
#[derive(Debug, Clone)]
pub enum LogSource {
    /// A file, tailed with `tail -n0 -F`.
    File(String),
    /// A command printing new lines as they come (`docker compose logs -f SERVICE`), named
    /// for messages by `label`.
    Follow {
        /// What it follows, e.g. `compose shop-green/web`.
        label: String,
        /// The command (on the spec's host).
        command: cutover_exec::Command,
    },
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

/// What happened during one tick, for progress and checkpoints.
pub struct Tick<'a> {
    /// The state after the tick.
    pub state: &'a SoakState,
    /// Failed probes of this tick.
    pub failures: Vec<(&'a str, &'a Outcome)>,
    /// Problems of the tick that fire nothing (Prometheus unreachable...).
    pub notes: Vec<String>,
}

/// Runs the soak until its window ends or a trigger fires; `on_tick` sees every tick.
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
    // A hung endpoint must not stretch the ticks: a probe gets at most two intervals.
    let cap = (spec.interval * 2).max(Duration::from_secs(2));
    for p in &mut probes {
        p.timeout = p.timeout.min(cap);
    }
    let mut ticker = tokio::time::interval(spec.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if now_ms() >= spec.ends_at_ms {
            return Ok(SoakEnd::Completed);
        }
        let at = now_ms();
        let prom = prometheus(spec, env, &triggers);
        let (outcomes, prom) = tokio::join!(join_all(probes.iter().map(|p| p.run(env))), prom);
        for (p, o) in probes.iter().zip(&outcomes) {
            let failure = (!o.ok).then(|| o.line());
            state
                .checks
                .entry(p.name.clone())
                .or_default()
                .record(at, o.ok, o.latency, failure, keep);
        }
        state.ticks += 1;
        let mut notes = Vec::new();
        let mut fired = None;
        for r in prom {
            match r {
                Ok(Some(f)) => fired = fired.or(Some(f)),
                Ok(None) => {}
                Err(e) => {
                    state.prometheus_errors += 1;
                    notes.push(e);
                }
            }
        }
        state.log_matches = tails.iter().map(|t| lock(t).total).sum();
        fired = fired.or_else(|| judge(&triggers, state, &tails, now_ms()));
        let failures = probes
            .iter()
            .zip(&outcomes)
            .filter(|(_, o)| !o.ok)
            .map(|(p, o)| (p.name.as_str(), o))
            .collect();
        on_tick(Tick {
            state,
            failures,
            notes,
        });
        if let Some(f) = fired {
            return Ok(SoakEnd::Fired(f));
        }
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
