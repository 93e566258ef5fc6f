//! SLO triggers of a soak: each is one condition, judged on every tick; the first that holds
//! ends the soak with its evidence.

use crate::outcome::short;
use crate::window::CheckStats;
use std::time::Duration;

/// Default window of rates, percentiles and log counts.
pub const DEFAULT_OVER: Duration = Duration::from_secs(300);
/// Default number of probes a window must hold before rates and percentiles are judged.
pub const DEFAULT_MIN_SAMPLES: usize = 10;

/// What makes a trigger fire.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// This many failures in a row.
    Consecutive(u32),
    /// Failed share over the window above this.
    ErrorRate {
        /// Highest acceptable share (0..=1).
        max: f64,
        /// The window.
        over: Duration,
        /// Probes needed before judging.
        min_samples: usize,
    },
    /// A latency quantile over the window above this.
    Latency {
        /// The quantile (0.95 for p95).
        q: f64,
        /// Slowest acceptable.
        max: Duration,
        /// The window.
        over: Duration,
        /// Probes needed before judging.
        min_samples: usize,
    },
    /// A Prometheus expression returning a non-zero value.
    Prometheus(String),
    /// This many matching log lines within the window.
    LogMatches {
        /// Lines needed.
        count: u32,
        /// The window.
        over: Duration,
    },
}

/// A trigger: a condition, for one check or for each.
#[derive(Debug, Clone, PartialEq)]
pub struct TriggerSpec {
    /// Only this check (probe triggers); `None`: each.
    pub check: Option<String>,
    /// The condition.
    pub condition: Condition,
}

/// A trigger that fired, with what it saw.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Fired {
    /// The trigger, in words ("health failed 3 times in a row").
    pub trigger: String,
    /// What was measured when it fired.
    pub evidence: String,
}

impl TriggerSpec {
    /// From the plan's trigger.
    pub fn from_plan(t: &cutover_plan::steps::Trigger) -> Self {
        let over = t.over.unwrap_or(DEFAULT_OVER);
        let min_samples = t.min_samples.map_or(DEFAULT_MIN_SAMPLES, |n| n as usize);
        let latency = |q: f64, max: Duration| Condition::Latency {
            q,
            max,
            over,
            min_samples,
        };
        let condition = if let Some(n) = t.consecutive_failures {
            Condition::Consecutive(n)
        } else if let Some(max) = t.error_rate {
            Condition::ErrorRate {
                max,
                over,
                min_samples,
            }
        } else if let Some(m) = t.p50 {
            latency(0.50, m)
        } else if let Some(m) = t.p90 {
            latency(0.90, m)
        } else if let Some(m) = t.p95 {
            latency(0.95, m)
        } else if let Some(m) = t.p99 {
            latency(0.99, m)
        } else if let Some(e) = &t.prometheus {
            Condition::Prometheus(e.clone())
        } else {
            Condition::LogMatches {
                count: t.log_matches.unwrap_or(1),
                over,
            }
        };
        TriggerSpec {
            check: t.check.as_ref().map(|c| c.value.clone()),
            condition,
        }
    }

    /// The default when a soak names none: any check failing 3 times in a row.
    pub fn default_set() -> Vec<TriggerSpec> {
        vec![TriggerSpec {
            check: None,
            condition: Condition::Consecutive(3),
        }]
    }

    /// The trigger in words.
    pub fn describe(&self) -> String {
        let who = self.check.as_deref().unwrap_or("any check");
        let over = |d: &Duration| humantime::format_duration(*d).to_string();
        match &self.condition {
            Condition::Consecutive(n) => format!("{who} fails {n} times in a row"),
            Condition::ErrorRate { max, over: o, .. } => {
                format!("{who} error rate over {} above {}%", over(o), max * 100.0)
            }
            Condition::Latency {
                q, max, over: o, ..
            } => format!(
                "{who} p{} latency over {} above {}",
                (q * 100.0).round(),
                over(o),
                short(*max)
            ),
            Condition::Prometheus(e) => format!("Prometheus `{e}` returns a result"),
            Condition::LogMatches { count, over: o } => {
                format!("{count} matching log line(s) within {}", over(o))
            }
        }
    }

    /// The longest window this trigger looks back over.
    pub fn window(&self) -> Duration {
        match &self.condition {
            Condition::ErrorRate { over, .. }
            | Condition::Latency { over, .. }
            | Condition::LogMatches { over, .. } => *over,
            _ => Duration::ZERO,
        }
    }

    /// Judges the trigger on check `name`'s statistics at `now_ms`.
    pub fn on_check(&self, name: &str, s: &CheckStats, now_ms: i64) -> Option<Fired> {
        if self.check.as_deref().is_some_and(|c| c != name) {
            return None;
        }
        let fired = |evidence: String| {
            Some(Fired {
                trigger: self.describe().replace("any check", name),
                evidence,
            })
        };
        match &self.condition {
            Condition::Consecutive(n) if s.consecutive >= *n => fired(format!(
                "{name} failed {} times in a row; last failure: {}",
                s.consecutive,
                s.last_failure.as_deref().unwrap_or("(no detail)")
            )),
            Condition::ErrorRate {
                max,
                over,
                min_samples,
            } => {
                let v = s.view(now_ms, *over);
                (v.requests >= *min_samples && v.error_rate() > *max).then_some(())?;
                fired(format!(
                    "{name}: {} of {} probes failed over the last {} ({:.1}%); last failure: {}",
                    v.failed,
                    v.requests,
                    humantime::format_duration(*over),
                    v.error_rate() * 100.0,
                    s.last_failure.as_deref().unwrap_or("(no detail)")
                ))
            }
            Condition::Latency {
                q,
                max,
                over,
                min_samples,
            } => {
                let v = s.view(now_ms, *over);
                let got = s.quantile(now_ms, *over, *q)?;
                (v.requests >= *min_samples && got > *max).then_some(())?;
                fired(format!(
                    "{name}: p{} latency {} over the last {} probes (budget {})",
                    (q * 100.0).round(),
                    short(got),
                    v.requests,
                    short(*max)
                ))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(results: &[(bool, u64)]) -> CheckStats {
        let mut s = CheckStats::default();
        for (i, (ok, ms)) in results.iter().enumerate() {
            let failure = (!ok).then(|| "503".to_string());
            s.record(
                i as i64 * 1000,
                *ok,
                Duration::from_millis(*ms),
                failure,
                Duration::from_secs(600),
            );
        }
        s
    }

    #[test]
    fn error_rates_wait_for_enough_samples_then_fire_with_counts() {
        let t = TriggerSpec {
            check: None,
            condition: Condition::ErrorRate {
                max: 0.1,
                over: Duration::from_secs(60),
                min_samples: 10,
            },
        };
        let few = stats(&[(false, 1), (true, 1)]);
        assert_eq!(
            t.on_check("users", &few, 2000),
            None,
            "2 samples are too few to judge"
        );
        let mut r = vec![(true, 1); 18];
        r.extend([(false, 1), (false, 1), (false, 1)]);
        let f = t
            .on_check("users", &stats(&r), 21_000)
            .expect("3 of 21 is over 10%");
        assert_eq!(f.trigger, "users error rate over 1m above 10%");
        assert!(
            f.evidence
                .starts_with("users: 3 of 21 probes failed over the last 1m (14.3%)"),
            "{}",
            f.evidence
        );
        assert_eq!(
            t.on_check("users", &stats(&vec![(true, 1); 30]), 30_000),
            None
        );
    }

    #[test]
    fn latency_percentiles_and_streaks() {
        let p95 = TriggerSpec {
            check: Some("api".into()),
            condition: Condition::Latency {
                q: 0.95,
                max: Duration::from_millis(500),
                over: Duration::from_secs(60),
                min_samples: 10,
            },
        };
        let mut r = vec![(true, 100); 18];
        r.extend([(true, 900), (true, 900)]);
        let s = stats(&r);
        let f = p95.on_check("api", &s, 20_000).expect("p95 is 900 ms");
        assert!(
            f.evidence
                .starts_with("api: p95 latency 900 ms over the last 20 probes"),
            "{}",
            f.evidence
        );
        assert_eq!(p95.on_check("other", &s, 20_000), None, "limited to `api`");
        let streak = TriggerSpec {
            check: None,
            condition: Condition::Consecutive(3),
        };
        assert_eq!(
            streak.on_check(
                "x",
                &stats(&[(false, 1), (false, 1), (true, 1), (false, 1)]),
                4000
            ),
            None
        );
        let f = streak
            .on_check(
                "x",
                &stats(&[(true, 1), (false, 1), (false, 1), (false, 1)]),
                4000,
            )
            .unwrap();
        assert_eq!(f.evidence, "x failed 3 times in a row; last failure: 503");
    }
}
