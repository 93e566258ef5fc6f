//! How far a long step has got, journaled while it runs for the dashboard's progress bar:
//! at most one sample a second, spaced out further as the step goes on (a gap of a
//! hundredth of the time elapsed), and never more than [`MAX_SAMPLES`] per try, so that a
//! copy of a day keeps the journal small.

use crate::context::StepCtx;
use crate::error::EngineError;
use cutover_journal::Event;
use std::time::{Duration, Instant};

/// The most samples one try of a step journals.
pub const MAX_SAMPLES: u32 = 500;

/// The shortest gap between two samples.
const MIN_GAP: Duration = Duration::from_secs(1);

/// The gap grows to the time elapsed divided by this: about this many samples for each
/// time the step's duration grows e-fold.
const THINNING: u32 = 100;

/// One sample: `done` of `total` `unit`s, and other figures of the moment.
pub struct Sample<'a> {
    /// What is counted ("bytes", "rows", "tables", "keys").
    pub unit: &'a str,
    /// How much is done.
    pub done: f64,
    /// Out of how much, when known.
    pub total: Option<f64>,
    /// Other figures ("files"...).
    pub figures: &'a [(&'a str, f64)],
}

/// Decides which progress reports of one try reach the journal.
pub struct ProgressSampler {
    started: Instant,
    last: Option<Instant>,
    taken: u32,
}

impl Default for ProgressSampler {
    fn default() -> Self {
        ProgressSampler {
            started: Instant::now(),
            last: None,
            taken: 0,
        }
    }
}

impl ProgressSampler {
    /// Whether a report at `now` is journaled (and counts it if so).
    fn due(&mut self, now: Instant) -> bool {
        if self.taken >= MAX_SAMPLES {
            return false;
        }
        let gap = MIN_GAP.max(now.saturating_duration_since(self.started) / THINNING);
        if self
            .last
            .is_some_and(|last| now.saturating_duration_since(last) < gap)
        {
            return false;
        }
        self.last = Some(now);
        self.taken += 1;
        true
    }

    /// Journals `s` for the step of `ctx` when a sample is due.
    pub fn offer(&mut self, ctx: &StepCtx<'_>, s: Sample<'_>) -> Result<(), EngineError> {
        if !self.due(Instant::now()) {
            return Ok(());
        }
        ctx.record(Event::Progressed {
            step: ctx.id().to_string(),
            unit: s.unit.to_string(),
            done: s.done,
            total: s.total.filter(|t| t.is_finite()),
            figures: s
                .figures
                .iter()
                .filter(|(_, v)| v.is_finite())
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reports every 100 ms for `secs`: how many are journaled.
    fn taken_over(secs: u64) -> u32 {
        let mut s = ProgressSampler::default();
        let start = s.started;
        (0..secs * 10)
            .filter(|i| s.due(start + Duration::from_millis(i * 100)))
            .count() as u32
    }

    #[test]
    fn samples_come_at_most_once_a_second() {
        assert_eq!(taken_over(10), 10);
        assert_eq!(taken_over(100), 100);
    }

    #[test]
    fn a_long_step_thins_its_samples_and_stays_under_the_cap() {
        let hour = taken_over(3600);
        assert!((400..480).contains(&hour), "an hour: {hour} samples");
        assert_eq!(taken_over(24 * 3600), MAX_SAMPLES);
    }
}
