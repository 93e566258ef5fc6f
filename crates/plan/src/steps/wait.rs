//! `kind = "wait"`: a time gate. Its start is journaled, so a resumed run waits only for
//! what is left.

use crate::problem::{Problem, Problems, Span};
use crate::read::{Fields, Spanned};
use crate::steps::kind::Validate;
use crate::validate::StepCheck;
use std::time::{Duration, SystemTime};

/// Waits for a duration, until a point in time, or until a delay after another step finished
/// (for example: decommission 48 h after the switch).
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct WaitStep {
    /// Wait this long from when the step starts (e.g. "30s", "48h", or a var:
    /// "{{ vars.confidence_window }}", which an environment may set shorter).
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
    /// The var `duration` was written as (`"{{ vars.NAME }}"`), resolved into `duration`.
    #[serde(skip)]
    #[schemars(skip)]
    pub duration_var: Option<Spanned<String>>,
    /// The var `delay` was written as, resolved into `delay`.
    #[serde(skip)]
    #[schemars(skip)]
    pub delay_var: Option<Spanned<String>>,
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
        let after_span = f.value_span("after");
        let delay_span = f.value_span("delay");
        let mut written: Vec<Span> = ["duration", "until", "after"]
            .iter()
            .filter_map(|k| f.value_span(k))
            .collect();
        written.sort_by_key(|s| s.start);
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
        let (duration, duration_var) = f.wait_duration("duration", p);
        let (delay, delay_var) = f.wait_duration("delay", p);
        let step = WaitStep {
            duration,
            until,
            after: f.optional("after", p),
            delay,
            duration_var,
            delay_var,
        };
        let modes = "use exactly one of: `duration = \"30s\"`, `until = \"2026-12-01T10:00:00Z\"`, or `after = \"STEP\"` with `delay = \"48h\"`";
        // Judged on what is written, so an invalid value (reported by itself) still counts.
        let problem = if written.len() > 1 {
            Problem::new(
                written[1],
                format!("{} mixes `duration`, `until` and `after`", f.owner()),
                "a second way of waiting",
            )
            .help(modes)
        } else if let (Some(delay), None) = (delay_span, after_span) {
            Problem::new(
                delay,
                format!("{} sets `delay` without `after`", f.owner()),
                "delay after what?",
            )
            .help("add `after = \"STEP\"` naming an earlier step, or use `duration` to wait from when this step starts")
        } else if written.is_empty() {
            Problem::new(
                f.span(),
                format!("{} says nothing to wait for", f.owner()),
                "one way of waiting",
            )
            .help(modes)
        } else if let (Some(after), None) = (after_span, delay_span) {
            Problem::new(
                after,
                format!("{} sets `after` without `delay`", f.owner()),
                "how long after?",
            )
            .help("add `delay = \"48h\"` (or \"0s\" to wait only for that step to finish)")
        } else {
            return Some(step);
        };
        p.push(problem);
        None
    }
}

impl Validate for WaitStep {
    fn validate(&self, c: &StepCheck<'_>, p: &mut Problems) {
        let Some(after) = &self.after else {
            return;
        };
        if !c.dropped(&after.value)
            && (!c.earlier.contains_key(after.value.as_str()) || after.value == c.id.value)
        {
            p.push(crate::validate::not_earlier(
                c.plan, c.id, after, c.earlier, c.src,
            ));
        }
    }
}
