//! `kind = "compose.up"`: a Compose project brought up on a host, gated on its containers'
//! own healthchecks and the plan's checks; the release that runs (image ids per service, the
//! compose files' digest) is journaled, and undo brings back what ran before.

use super::compose_project::ComposeProject;
use crate::problem::Problems;
use crate::read::Fields;
use crate::steps::kind::Validate;
use crate::validate::StepCheck;

/// Brings up `project` on its host (see [`ComposeProject`] for the fields).
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct ComposeUpStep {
    /// The project, its files, `.env`, pull policy and gates.
    #[serde(flatten)]
    pub project: ComposeProject,
}

impl ComposeUpStep {
    /// The fields a `compose.up` step accepts.
    pub const FIELDS: &'static [&'static str] = &[
        "id",
        "kind",
        "description",
        "host",
        "dir",
        "project",
        "files",
        "upload",
        "env",
        "services",
        "pull",
        "build",
        "checks",
        "wait_timeout",
        "deadline",
    ];

    pub(crate) fn read(f: &mut Fields<'_>, p: &mut Problems) -> Option<Self> {
        Some(ComposeUpStep {
            project: ComposeProject::read(f, p)?,
        })
    }
}

/// Cross-reference checks: the project's host, templates and check names.
impl Validate for ComposeUpStep {
    fn validate(&self, c: &StepCheck<'_>, p: &mut Problems) {
        self.project.validate(c, p);
    }
}
