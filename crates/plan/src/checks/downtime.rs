//! `[downtime]`: the user-visible downtime measured while traffic moves. A background
//! prober sends the named check (the users' URL, through the path users take) every
//! `interval` while each listed step runs, and `settle` after it; every failure is recorded
//! and the step's journal gets the requests, failures and the unavailability window.
//!
//! ```toml
//! [downtime]
//! check = "site"                       # a [checks.NAME] probe, usually http
//! interval = "100ms"                   # default 100ms
//! steps = ["db-switch", "dns-switch"]  # default: every dns.switch, proxy.switch, postgres.switch
//! settle = "2s"                        # keep probing after each step (default 2s)
//! ```

use crate::limits;
use crate::plan::Plan;
use crate::problem::{did_you_mean, Problem, Problems};
use crate::read::{Fields, Spanned};
use crate::steps::{Kind, Role};
use std::time::Duration;
use toml_span::value::Value;

/// The downtime prober's settings.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct Downtime {
    /// The check sent as the users' request (a name from `[checks]`).
    pub check: Spanned<String>,
    /// Time between requests (default 100ms).
    #[schemars(with = "Option<String>")]
    pub interval: Option<Duration>,
    /// The steps during which it probes (default: every `dns.switch`, `proxy.switch` and
    /// `postgres.switch` step).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub steps: Vec<Spanned<String>>,
    /// How long it keeps probing after each step finished, for caches and connection pools
    /// to move too (default 2s).
    #[schemars(with = "Option<String>")]
    pub settle: Option<Duration>,
}

impl Downtime {
    /// The fields `[downtime]` accepts.
    pub const FIELDS: &'static [&'static str] = &["check", "interval", "steps", "settle"];

    /// Reads `[downtime]`.
    pub(crate) fn read(value: &mut Value<'_>, p: &mut Problems) -> Option<Self> {
        let mut f = Fields::new(value, "[downtime]", Self::FIELDS, p)?;
        let check = f.required("check", p);
        let interval = f.duration("interval", &limits::DOWNTIME_INTERVAL, p);
        let steps = f
            .optional::<super::Names>("steps", p)
            .map(|n| n.0)
            .unwrap_or_default();
        let settle = f.duration("settle", &limits::SETTLE, p);
        f.finish(p);
        Some(Downtime {
            check: check?,
            interval,
            steps,
            settle,
        })
    }

    /// Whether the prober runs during step `id` of kind `kind`: the listed steps, else every
    /// step that moves traffic or writes (a traffic or data switch).
    pub fn covers(&self, id: &str, kind: Kind) -> bool {
        if self.steps.is_empty() {
            kind.is(Role::TrafficSwitch) || kind.is(Role::DataSwitch)
        } else {
            self.steps.iter().any(|s| s.value == id)
        }
    }

    /// The interval, defaulted.
    pub fn interval(&self) -> Duration {
        self.interval.unwrap_or(Duration::from_millis(100))
    }

    /// The settle time, defaulted.
    pub fn settle(&self) -> Duration {
        self.settle.unwrap_or(Duration::from_secs(2))
    }
}

/// The check exists and every listed step exists.
pub(crate) fn validate(plan: &Plan, p: &mut Problems) {
    let Some(d) = &plan.downtime else { return };
    super::validate::names(plan, std::slice::from_ref(&d.check), "[downtime]", p);
    let ids: Vec<&str> = plan.steps().map(|(_, s)| s.id.value.as_str()).collect();
    for s in &d.steps {
        if !ids.contains(&s.value.as_str()) {
            let problem = Problem::new(
                s.span,
                format!("[downtime] names unknown step `{}`", s.value),
                "no such step",
            );
            p.push(match did_you_mean(&s.value, ids.iter().copied()) {
                Some(near) => problem.help(format!("did you mean `{near}`?")),
                None => problem.help("name steps by their `id`, e.g. the dns.switch step"),
            });
        }
    }
}
