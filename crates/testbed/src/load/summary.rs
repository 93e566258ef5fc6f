//! What a write load saw: one record per request, and the figures a test asserts on.

use serde_json::json;
use std::fmt;
use std::time::{Duration, SystemTime};

/// One `POST /api/orders` of a load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// Its place in the schedule (0, 1, ...).
    pub seq: u64,
    /// When it was sent, from the load's start.
    pub sent: Duration,
    /// When its answer (or its error) came, from the load's start.
    pub answered: Duration,
    /// The HTTP status, if an answer came.
    pub status: Option<u16>,
    /// The order id the app acknowledged (201 with `{"id": N}`).
    pub id: Option<i64>,
    /// Why the write is not acknowledged: the app's `error`, another status's body, a
    /// transport error, or the deadline passing.
    pub error: Option<String>,
}

impl RequestRecord {
    /// How long the answer took.
    pub fn latency(&self) -> Duration {
        self.answered.saturating_sub(self.sent)
    }
}

/// The outcome of a write load.
#[derive(Debug, Clone)]
pub struct LoadSummary {
    /// Wall-clock time of the first send, to line records up with logs and journals.
    pub started: SystemTime,
    /// The schedule's interval.
    pub interval: Duration,
    /// Every request, in the order sent.
    pub records: Vec<RequestRecord>,
}

impl LoadSummary {
    /// Requests sent.
    pub fn requests(&self) -> usize {
        self.records.len()
    }

    /// The ids the app acknowledged, in the order sent: each must be in the database.
    pub fn acknowledged(&self) -> Vec<i64> {
        self.records.iter().filter_map(|r| r.id).collect()
    }

    /// Requests without an acknowledged id.
    pub fn failures(&self) -> Vec<&RequestRecord> {
        self.records.iter().filter(|r| r.id.is_none()).collect()
    }

    /// The first write sent at or after `at` (on the load's clock, see
    /// [`WriteLoad::now`](super::WriteLoad::now)) that was acknowledged, by when its answer
    /// came. After a backend was killed or stopped at `at`, no later request can have been
    /// answered by it: this is the first write the other side took.
    pub fn first_acknowledged_sent_after(&self, at: Duration) -> Option<&RequestRecord> {
        self.records
            .iter()
            .filter(|r| r.id.is_some() && r.sent >= at)
            .min_by_key(|r| r.answered)
    }

    /// The requests sent at or after `at` that were not acknowledged.
    pub fn failures_sent_after(&self, at: Duration) -> Vec<&RequestRecord> {
        self.records
            .iter()
            .filter(|r| r.id.is_none() && r.sent >= at)
            .collect()
    }

    /// The longest time any request took (answered, failed or cut off at its deadline).
    pub fn longest(&self) -> Duration {
        self.records
            .iter()
            .map(RequestRecord::latency)
            .max()
            .unwrap_or_default()
    }

    /// The longest time between two consecutive sends: close to the interval whenever the
    /// schedule held, however long the answers took.
    pub fn longest_send_gap(&self) -> Duration {
        self.records
            .windows(2)
            .map(|w| w[1].sent.saturating_sub(w[0].sent))
            .max()
            .unwrap_or_default()
    }

    /// Acknowledged ids that are not among `present` (e.g. `SELECT id FROM orders`): lost
    /// writes.
    pub fn missing_from(&self, present: &[i64]) -> Vec<i64> {
        let present: std::collections::HashSet<i64> = present.iter().copied().collect();
        self.acknowledged()
            .into_iter()
            .filter(|id| !present.contains(id))
            .collect()
    }

    /// The summary and every record as JSON (times in milliseconds).
    pub fn to_json(&self) -> serde_json::Value {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let records: Vec<_> = self
            .records
            .iter()
            .map(|r| {
                json!({"seq": r.seq, "sent_ms": ms(r.sent), "answered_ms": ms(r.answered),
                       "status": r.status, "id": r.id, "error": r.error})
            })
            .collect();
        json!({
            "started": humantime::format_rfc3339_millis(self.started).to_string(),
            "interval_ms": ms(self.interval),
            "requests": self.requests(),
            "acknowledged": self.acknowledged().len(),
            "failed": self.failures().len(),
            "longest_ms": ms(self.longest()),
            "longest_send_gap_ms": ms(self.longest_send_gap()),
            "records": records,
        })
    }
}

/// How many failures the text form lists before it only counts them.
const FAILURES_SHOWN: usize = 20;

impl fmt::Display for LoadSummary {
    /// `N requests every 20ms from TIME: A acknowledged, F failed, longest 0.004s`, then one
    /// line per failure: `#SEQ sent at 1.240s, 500 after 0.003s: MESSAGE`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let failures = self.failures();
        writeln!(
            f,
            "{} requests every {:?} from {}: {} acknowledged, {} failed, longest {:.3}s",
            self.requests(),
            self.interval,
            humantime::format_rfc3339_millis(self.started),
            self.requests() - failures.len(),
            failures.len(),
            self.longest().as_secs_f64()
        )?;
        for r in failures.iter().take(FAILURES_SHOWN) {
            let status = r.status.map_or("no answer".to_string(), |s| s.to_string());
            writeln!(
                f,
                "  #{} sent at {:.3}s, {status} after {:.3}s: {}",
                r.seq,
                r.sent.as_secs_f64(),
                r.latency().as_secs_f64(),
                r.error.as_deref().unwrap_or("")
            )?;
        }
        if failures.len() > FAILURES_SHOWN {
            writeln!(f, "  ... and {} more", failures.len() - FAILURES_SHOWN)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seq: u64, sent_ms: u64, took_ms: u64, id: Option<i64>) -> RequestRecord {
        RequestRecord {
            seq,
            sent: Duration::from_millis(sent_ms),
            answered: Duration::from_millis(sent_ms + took_ms),
            status: Some(if id.is_some() { 201 } else { 500 }),
            id,
            error: id
                .is_none()
                .then(|| "cannot execute INSERT in a read-only transaction".into()),
        }
    }

    #[test]
    fn figures_and_text_come_from_the_records() {
        let summary = LoadSummary {
            started: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            interval: Duration::from_millis(20),
            records: vec![
                record(0, 0, 3, Some(7)),
                record(1, 20, 250, None),
                record(2, 45, 2, Some(9)),
            ],
        };
        assert_eq!(summary.acknowledged(), [7, 9]);
        assert_eq!(summary.failures().len(), 1);
        assert_eq!(summary.longest(), Duration::from_millis(250));
        assert_eq!(summary.longest_send_gap(), Duration::from_millis(25));
        assert_eq!(summary.missing_from(&[1, 7, 8]), [9]);
        assert_eq!(
            summary.to_string(),
            "3 requests every 20ms from 2027-01-15T08:00:00.000Z: 2 acknowledged, 1 failed, longest 0.250s\n  \
             #1 sent at 0.020s, 500 after 0.250s: cannot execute INSERT in a read-only transaction\n"
        );
        assert_eq!(summary.to_json()["records"][1]["answered_ms"], 270.0);
    }

    #[test]
    fn after_a_failure_the_first_write_taken_is_the_earliest_answered_one_sent_after_it() {
        let summary = LoadSummary {
            started: SystemTime::UNIX_EPOCH,
            interval: Duration::from_millis(20),
            records: vec![
                // Sent before the failure: not the other side's, however late its answer.
                record(0, 0, 900, Some(1)),
                record(1, 20, 5, None),
                // Held, then answered together: the earliest answer counts, not the first sent.
                record(2, 40, 700, Some(3)),
                record(3, 60, 650, Some(4)),
                record(4, 80, 2, None),
            ],
        };
        let at = Duration::from_millis(30);
        let first = summary.first_acknowledged_sent_after(at).unwrap();
        assert_eq!((first.seq, first.answered), (3, Duration::from_millis(710)));
        let failed: Vec<u64> = summary
            .failures_sent_after(at)
            .iter()
            .map(|r| r.seq)
            .collect();
        assert_eq!(failed, [4]);
        assert!(summary
            .first_acknowledged_sent_after(Duration::from_millis(81))
            .is_none());
    }
}
