//! `kind = "approve"`: a human gate, opened with `cutover approve ID --by NAME`.

use crate::limits;
use crate::problem::Problems;
use crate::read::Fields;
use crate::steps::kind::Validate;
use std::time::Duration;

/// Waits until someone approves the gate; the approval (who, when, comment) is journaled.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct ApproveStep {
    /// What the approver is asked to confirm.
    pub message: Option<String>,
    /// Names allowed to approve; anyone when empty.
    #[serde(default)]
    pub approvers: Vec<String>,
    /// How long `cutover apply` waits for the approval before it stops (the run stays
    /// resumable); default: wait until approved.
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Duration>,
}

impl ApproveStep {
    /// The fields an `approve` step accepts.
    pub const FIELDS: &'static [&'static str] = &[
        "id",
        "kind",
        "description",
        "message",
        "approvers",
        "timeout",
    ];

    pub(crate) fn read(f: &mut Fields<'_>, p: &mut Problems) -> Option<Self> {
        Some(ApproveStep {
            message: f.optional("message", p),
            approvers: f.optional("approvers", p).unwrap_or_default(),
            timeout: f.duration("timeout", &limits::WAIT, p),
        })
    }
}

impl Validate for ApproveStep {}
