//! `kind = "wait"`: a time gate. Its start is journaled, so a resumed run waits only for
//! what is left.

use crate::limits;
use crate::problem::{Problem, Problems, Span};
use crate::read::{Fields, Spanned};
use crate::steps::kind::Validate;
use crate::steps::var_length;
use crate::validate::StepCheck;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// Waits for a duration, until a point in time, or until a delay after another step finished
/// (for example: decommission 48 h after the switch). `duration` and `delay` may be a
/// `{{ vars.NAME }}` reference, so that an environment gives the gate another length.
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
    /// The var `duration` was given as (`duration = "{{ vars.NAME }}"`), with its location.
    #[serde(skip)]
    #[schemars(skip)]
    pub duration_var: Option<Spanned<String>>,
    /// The var `delay` was given as.
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
        let (duration, duration_var) = var_length::read(f, "duration", &limits::WAIT, p);
        let after = f.optional("after", p);
        let (delay, delay_var) = var_length::read(f, "delay", &limits::WAIT, p);
        let step = WaitStep {
            duration,
            until,
            after,
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

impl WaitStep {
    /// Fills in the lengths given as vars from `vars` (the plan's, or an environment's).
    pub(crate) fn resolve_vars(&mut self, vars: &BTreeMap<String, String>) {
        if let Some(reference) = &self.duration_var {
            self.duration = var_length::resolve(reference, vars, &limits::WAIT);
        }
        if let Some(reference) = &self.delay_var {
            self.delay = var_length::resolve(reference, vars, &limits::WAIT);
        }
    }
}

impl Validate for WaitStep {
    fn validate(&self, c: &StepCheck<'_>, p: &mut Problems) {
        for (key, reference) in [("duration", &self.duration_var), ("delay", &self.delay_var)] {
            if let Some(reference) = reference {
                var_length::check(c, key, reference, &limits::WAIT, p);
            }
        }
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
