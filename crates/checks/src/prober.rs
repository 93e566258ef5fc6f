//! The downtime prober: during a switch, steady requests through the path users take (the
//! plan's user-facing URL), each started on schedule even while earlier ones hang, every
//! failure recorded with its time; stopping it yields the measured unavailability.
//!
//! ```no_run
//! # async fn f() {
//! use cutover_checks::prober::Prober;
//! use cutover_checks::{http::HttpProbe, NamedProbe, Probe, ProbeEnv};
//! let probe = NamedProbe::new("users", Probe::Http(HttpProbe::get("https://app.example.com/".parse().unwrap())));
//! let handle = Prober::start(probe, ProbeEnv::default(), std::time::Duration::from_millis(100));
//! // ... switch traffic ...
//! let report = handle.stop().await;
//! println!("{}", report.line());
//! # }
//! ```

use crate::logs::now_ms;
use crate::outcome::short;
use crate::probe::{NamedProbe, ProbeEnv};
use crate::schedule::{Schedule, Sent};
use std::time::Duration;
use tokio::sync::watch;

/// Requests in flight at most (a hung endpoint must not pile up connections without bound).
const MAX_IN_FLIGHT: usize = 256;

/// One failed request.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Failure {
    /// When it was sent (unix ms).
    pub at_ms: i64,
    /// Milliseconds after the prober started.
    pub offset_ms: i64,
    /// What went wrong.
    pub error: String,
}

/// One stretch of failures: from the first failed request to the next request that passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Outage {
    /// First failed request sent (unix ms).
    pub from_ms: i64,
    /// First passing request after it sent (unix ms); the prober's stop when none passed.
    pub until_ms: i64,
    /// Failed requests in it.
    pub failed: u64,
}

/// What the prober saw.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DowntimeReport {
    /// The check probed.
    pub name: String,
    /// Started and stopped (unix ms).
    pub started_ms: i64,
    /// Stopped.
    pub stopped_ms: i64,
    /// Requests sent (and finished).
    pub requests: u64,
    /// Requests failed.
    pub failed: u64,
    /// Every failure (the first 10,000), in send order.
    pub failures: Vec<Failure>,
    /// Stretches of failures, in order.
    pub outages: Vec<Outage>,
    /// The measured unavailability: the outages' total length.
    #[serde(serialize_with = "millis")]
    pub unavailable: Duration,
}

impl DowntimeReport {
    /// The longest outage.
    pub fn longest(&self) -> Duration {
        self.outages
            .iter()
            .map(|o| Duration::from_millis((o.until_ms - o.from_ms).max(0) as u64))
            .max()
            .unwrap_or_default()
    }

    /// One line: "0 of 120 requests failed" or "7 of 120 requests failed, unavailable 640 ms (1 outage, longest 640 ms)".
    pub fn line(&self) -> String {
        let mut s = format!(
            "{}: {} of {} requests failed",
            self.name, self.failed, self.requests
        );
        if !self.outages.is_empty() {
            s += &format!(
                ", unavailable {} ({} outage(s), longest {})",
                short(self.unavailable),
                self.outages.len(),
                short(self.longest())
            );
        }
        if let Some(f) = self.failures.first() {
            s += &format!("; first failure at +{} ms: {}", f.offset_ms, f.error);
        }
        s
    }
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

/// Starts downtime probers.
pub struct Prober;

/// A running prober; [`ProberHandle::stop`] ends it and returns the report.
pub struct ProberHandle {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<DowntimeReport>,
}

impl Prober {
    /// Sends `probe` every `interval` in the background until stopped.
    pub fn start(probe: NamedProbe, env: ProbeEnv, interval: Duration) -> ProberHandle {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(probe, env, interval, stopped));
        ProberHandle { stop, task }
    }
}

impl ProberHandle {
    /// Stops sending, waits for requests in flight, and reports.
    pub async fn stop(self) -> DowntimeReport {
        let _ = self.stop.send(true);
        match self.task.await {
            Ok(r) => r,
            Err(e) => DowntimeReport {
                name: format!("prober crashed: {e}"),
                started_ms: 0,
                stopped_ms: now_ms(),
                requests: 0,
                failed: 0,
                failures: Vec::new(),
                outages: Vec::new(),
                unavailable: Duration::ZERO,
            },
        }
    }
}

async fn run(
    probe: NamedProbe,
    env: ProbeEnv,
    interval: Duration,
    mut stopped: watch::Receiver<bool>,
) -> DowntimeReport {
    let started_ms = now_ms();
    let name = probe.name.clone();
    let mut schedule = Schedule::new(vec![probe], env, MAX_IN_FLIGHT);
    let mut results: Vec<(i64, bool, String)> = Vec::new();
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = ticker.tick() => schedule.send(0),
            Some(r) = schedule.next(), if !schedule.is_idle() => results.push(result(r)),
            _ = stopped.changed() => break,
        }
    }
    while let Some(r) = schedule.next().await {
        results.push(result(r));
    }
    report(&name, started_ms, now_ms(), results)
}

fn result(r: Sent) -> (i64, bool, String) {
    let error = if r.outcome.ok {
        String::new()
    } else {
        r.outcome.line()
    };
    (r.at_ms, r.outcome.ok, error)
}

/// Builds the report from (sent at, passed, error) results in any order.
pub fn report(
    name: &str,
    started_ms: i64,
    stopped_ms: i64,
    mut results: Vec<(i64, bool, String)>,
) -> DowntimeReport {
    results.sort_by_key(|r| r.0);
    let mut outages: Vec<Outage> = Vec::new();
    let mut open: Option<Outage> = None;
    let mut failures = Vec::new();
    for (at, ok, error) in &results {
        if *ok {
            if let Some(mut o) = open.take() {
                o.until_ms = *at;
                outages.push(o);
            }
        } else {
            if failures.len() < 10_000 {
                failures.push(Failure {
                    at_ms: *at,
                    offset_ms: at - started_ms,
                    error: error.clone(),
                });
            }
            open.get_or_insert(Outage {
                from_ms: *at,
                until_ms: *at,
                failed: 0,
            })
            .failed += 1;
        }
    }
    if let Some(mut o) = open {
        o.until_ms = stopped_ms;
        outages.push(o);
    }
    let unavailable = Duration::from_millis(
        outages
            .iter()
            .map(|o| (o.until_ms - o.from_ms).max(0) as u64)
            .sum(),
    );
    DowntimeReport {
        name: name.to_string(),
        started_ms,
        stopped_ms,
        requests: results.len() as u64,
        failed: results.iter().filter(|r| !r.1).count() as u64,
        failures,
        outages,
        unavailable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outages_run_from_first_failure_to_next_success() {
        let r = |at, ok| (at, ok, if ok { String::new() } else { "503".to_string() });
        let rep = report(
            "u",
            0,
            1000,
            vec![
                r(0, true),
                r(100, false),
                r(200, false),
                r(300, true),
                r(400, false),
            ],
        );
        assert_eq!((rep.requests, rep.failed), (5, 3));
        assert_eq!(rep.outages.len(), 2);
        assert_eq!(
            (
                rep.outages[0].from_ms,
                rep.outages[0].until_ms,
                rep.outages[0].failed
            ),
            (100, 300, 2)
        );
        assert_eq!(rep.outages[1].until_ms, 1000, "still failing when stopped");
        assert_eq!(rep.unavailable, Duration::from_millis(800));
        assert!(
            rep.line().starts_with(
                "u: 3 of 5 requests failed, unavailable 800 ms (2 outage(s), longest 600 ms)"
            ),
            "{}",
            rep.line()
        );
    }
}
