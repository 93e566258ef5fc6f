//! Per-check statistics of a soak: totals and a latency histogram over the whole window,
//! consecutive failures, and recent samples for sliding-window rates and percentiles. All of
//! it serializes, so a resumed soak continues from its last checkpoint.

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::time::Duration;

/// Histogram buckets grow by 5%: percentiles are within 5% of the truth.
const GROWTH: f64 = 1.05;
const BUCKETS: usize = 400;

/// A latency histogram with logarithmic buckets (1 µs to over an hour).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    counts: Vec<u64>,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
        }
    }
}

impl Histogram {
    fn bucket(us: u64) -> usize {
        if us <= 1 {
            return 0;
        }
        ((us as f64).ln() / GROWTH.ln())
            .ceil()
            .min((BUCKETS - 1) as f64) as usize
    }

    /// Records one latency.
    pub fn add(&mut self, d: Duration) {
        let b = Self::bucket(d.as_micros() as u64);
        if self.counts.len() != BUCKETS {
            self.counts.resize(BUCKETS, 0);
        }
        self.counts[b] += 1;
    }

    /// The `q` quantile (0..=1), or `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let total: u64 = self.counts.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(Duration::from_micros(GROWTH.powi(i as i32).round() as u64));
            }
        }
        None
    }
}

/// One probe result kept for sliding windows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// When (unix ms).
    pub at_ms: i64,
    /// Passed.
    pub ok: bool,
    /// Latency in microseconds.
    pub us: u64,
}

/// What a sliding window shows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowView {
    /// Probes in the window.
    pub requests: usize,
    /// Failed probes in the window.
    pub failed: usize,
}

impl WindowView {
    /// Failed share, 0..=1.
    pub fn error_rate(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.failed as f64 / self.requests as f64
        }
    }
}

/// Everything a soak knows about one check.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CheckStats {
    /// Probes sent.
    pub requests: u64,
    /// Probes failed.
    pub failed: u64,
    /// Failures in a row, now.
    pub consecutive: u32,
    /// Most failures in a row seen.
    pub max_consecutive: u32,
    /// Latencies of every probe.
    pub latency: Histogram,
    /// Recent samples (as long as the longest trigger window).
    pub recent: VecDeque<Sample>,
    /// The last failure's words.
    pub last_failure: Option<String>,
}

impl CheckStats {
    /// Records a probe at `at_ms`, keeping samples newer than `keep`.
    pub fn record(
        &mut self,
        at_ms: i64,
        ok: bool,
        latency: Duration,
        failure: Option<String>,
        keep: Duration,
    ) {
        self.requests += 1;
        self.latency.add(latency);
        if ok {
            self.consecutive = 0;
        } else {
            self.failed += 1;
            self.consecutive += 1;
            self.max_consecutive = self.max_consecutive.max(self.consecutive);
            self.last_failure = failure;
        }
        self.recent.push_back(Sample {
            at_ms,
            ok,
            us: latency.as_micros() as u64,
        });
        let oldest = at_ms - keep.as_millis() as i64;
        while self.recent.front().is_some_and(|s| s.at_ms < oldest) {
            self.recent.pop_front();
        }
    }

    /// The samples of the last `over` before `now_ms`.
    pub fn window(&self, now_ms: i64, over: Duration) -> impl Iterator<Item = &Sample> {
        let from = now_ms - over.as_millis() as i64;
        self.recent.iter().filter(move |s| s.at_ms >= from)
    }

    /// Counts over the last `over`.
    pub fn view(&self, now_ms: i64, over: Duration) -> WindowView {
        let (mut requests, mut failed) = (0, 0);
        for s in self.window(now_ms, over) {
            requests += 1;
            failed += usize::from(!s.ok);
        }
        WindowView { requests, failed }
    }

    /// The `q` latency quantile over the last `over` (exact, from the samples).
    pub fn quantile(&self, now_ms: i64, over: Duration, q: f64) -> Option<Duration> {
        let mut us: Vec<u64> = self.window(now_ms, over).map(|s| s.us).collect();
        if us.is_empty() {
            return None;
        }
        us.sort_unstable();
        let rank = ((q * us.len() as f64).ceil() as usize).clamp(1, us.len());
        Some(Duration::from_micros(us[rank - 1]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantiles_within_five_percent() {
        let mut h = Histogram::default();
        for ms in 1..=100 {
            h.add(Duration::from_millis(ms));
        }
        let p95 = h.quantile(0.95).unwrap().as_secs_f64() * 1000.0;
        assert!((95.0 * 0.95..=95.0 * 1.05).contains(&p95), "{p95}");
        assert_eq!(Histogram::default().quantile(0.5), None);
    }

    #[test]
    fn windows_slide_and_streaks_reset() {
        let mut s = CheckStats::default();
        let keep = Duration::from_secs(10);
        for i in 0..20 {
            s.record(
                i * 1000,
                i % 4 != 0,
                Duration::from_millis(10 * (i as u64 + 1)),
                None,
                keep,
            );
        }
        assert_eq!(s.requests, 20);
        assert_eq!(s.failed, 5);
        assert_eq!(s.recent.len(), 11, "samples from 9 s to 19 s");
        let v = s.view(19_000, Duration::from_secs(4));
        assert_eq!((v.requests, v.failed), (5, 1));
        assert_eq!(
            s.quantile(19_000, Duration::from_secs(4), 1.0),
            Some(Duration::from_millis(200))
        );
        s.record(20_000, false, Duration::ZERO, Some("x".into()), keep);
        s.record(21_000, false, Duration::ZERO, None, keep);
        assert_eq!((s.consecutive, s.max_consecutive), (2, 2));
    }
}
