//! `kind = "check"`: a health gate. Passes only when every named check passes, trying again
//! until a deadline, and prints a checklist.

use crate::checks::Names;
use crate::limits;
use crate::problem::Problems;
use crate::read::{Fields, Spanned};
use crate::steps::kind::Validate;
use crate::validate::StepCheck;
use std::time::Duration;

/// Runs the named `[checks]`; each failing one is tried again every `interval` until it
/// passes, `retries` is spent or `deadline` passes.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct CheckStep {
    /// The checks that must pass (names from `[checks]`), one or a list.
    pub checks: Vec<Spanned<String>>,
    /// Stop trying after this long (default "60s").
    #[schemars(with = "Option<String>")]
    pub deadline: Option<Duration>,
    /// Pause between tries (default "2s").
    #[schemars(with = "Option<String>")]
    pub interval: Option<Duration>,
    /// Tries after the first before giving up (default: as many as the deadline allows).
    pub retries: Option<u32>,
}

impl CheckStep {
    /// The fields a `check` step accepts.
    pub const FIELDS: &'static [&'static str] = &[
        "id",
        "kind",
        "description",
        "checks",
        "deadline",
        "interval",
        "retries",
    ];

    pub(crate) fn read(f: &mut Fields<'_>, p: &mut Problems) -> Option<Self> {
        let checks = f.required::<Names>("checks", p);
        let deadline = f.duration("deadline", &limits::STEP_TIMEOUT, p);
        let interval = f.duration("interval", &limits::INTERVAL, p);
        let retries = f.int("retries", &limits::RETRIES, p);
        Some(CheckStep {
            checks: checks?.0,
            deadline,
            interval,
            retries,
        })
    }
}

impl Validate for CheckStep {
    fn validate(&self, c: &StepCheck<'_>, p: &mut Problems) {
        crate::checks::validate::names(c.plan, &self.checks, c.owner, p);
    }
}
