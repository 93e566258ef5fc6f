//! `kind = "wait"`: a time gate. Its start is journaled, so a resumed run waits only for
//! what is left.

use crate::problem::{Problem, Problems};
use crate::read::{Fields, Spanned};
use std::time::{Duration, SystemTime};

/// Waits for a duration, until a point in time, or until a delay after another step finished
/// (for example: decommission 48 h after the switch).
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct WaitStep {
    /// Wait this long from when the step starts (e.g. "30s", "48h").
    #[schemars(with = "Option<String>")]
    pub duration: Option<Duration>,
    /// Wait until this time, RFC 3339 (e.g. "2026-12-01T10:00:00Z").
    #[schemars(with = "Option<String>")]
    pub until: Option<SystemTime>,
    /// Wait until `delay` after this step (by id) finished.
    pub after: Option<Spanned<String>>,
    /// With `after`: how long after that step (e.g. "48h").
    #[schemars(with = "Option<String>")]
    pub delay: Option<Duration>,
}

impl WaitStep {
    /// The fields a `wait` step accepts.
    pub const FIELDS: &'static [&'static str] = &[
        "id",
        "kind",
        "description",
        "duration",
        "until",
        "after",
        "delay",
    ];

    pub(crate) fn read(f: &mut Fields<'_>, p: &mut Problems) -> Option<Self> {
        let until_span = f.value_span("until");
        let until = f.optional::<String>("until", p).and_then(|s| {
            match humantime::parse_rfc3339_weak(&s) {
                Ok(t) => Some(t),
                Err(e) => {
                    p.push(
                        Problem::new(
                            until_span.unwrap_or(f.span()),
                            format!("`until` of {} is not a valid time: {e}", f.owner()),
                            "invalid time",
                        )
                        .help("write an RFC 3339 time in UTC, such as \"2026-12-01T10:00:00Z\""),
                    );
                    None
                }
            }
        });
        let step = WaitStep {
            duration: f.optional("duration", p),
            until,
            after: f.optional("after", p),
            delay: f.optional("delay", p),
        };
        let modes = [
            step.duration.is_some(),
            step.until.is_some(),
            step.after.is_some(),
        ];
        let set = modes.iter().filter(|m| **m).count();
        if set != 1 || (step.delay.is_some() && step.after.is_none()) {
            let message = if step.delay.is_some() && step.after.is_none() {
                format!("{} sets `delay` without `after`", f.owner())
            } else if set == 0 {
                format!("{} says nothing to wait for", f.owner())
            } else {
                format!("{} mixes `duration`, `until` and `after`", f.owner())
            };
            p.push(
                Problem::new(f.span(), message, "one way of waiting")
                    .help("use exactly one of: `duration = \"30s\"`, `until = \"2026-12-01T10:00:00Z\"`, or `after = \"STEP\"` with `delay = \"48h\"`"),
            );
            return None;
        }
        if step.after.is_some() && step.delay.is_none() {
            p.push(
                Problem::new(
                    f.span(),
                    format!("{} sets `after` without `delay`", f.owner()),
                    "how long after?",
                )
                .help("add `delay = \"48h\"` (or \"0s\" to wait only for that step to finish)"),
            );
            return None;
        }
        Some(step)
    }
}
