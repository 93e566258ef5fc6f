//! `kind = "compose.retire"`: the colour a `compose.deploy` step took traffic from is
//! drained (left serving what it has for `drain`) and stopped, once the new release has
//! soaked. Its containers are kept, so undoing the retire starts them again.

use crate::limits;
use crate::problem::{Problem, Problems};
use crate::read::{Fields, Spanned};
use crate::steps::kind::Validate;
use crate::steps::StepKind;
use crate::validate::StepCheck;
use std::time::Duration;

/// Retires the previous colour of `deploy`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct ComposeRetireStep {
    /// The `compose.deploy` step (its id) whose previous colour is retired.
    pub deploy: Spanned<String>,
    /// How long the old colour keeps serving open connections before it stops (default
    /// "10s"): keep-alive clients move to the new colour meanwhile.
    #[schemars(with = "Option<String>")]
    pub drain: Option<Duration>,
    /// How long its containers get to stop before they are killed (default "10s").
    #[schemars(with = "Option<String>")]
    pub stop_timeout: Option<Duration>,
}

impl ComposeRetireStep {
    /// The fields a `compose.retire` step accepts.
    pub const FIELDS: &'static [&'static str] = &[
        "id",
        "kind",
        "description",
        "deploy",
        "drain",
        "stop_timeout",
    ];

    pub(crate) fn read(f: &mut Fields<'_>, p: &mut Problems) -> Option<Self> {
        let deploy = f.required("deploy", p);
        let drain = f.duration("drain", &limits::WAIT, p);
        let stop_timeout = f.duration("stop_timeout", &limits::REQUEST_TIMEOUT, p);
        Some(ComposeRetireStep {
            deploy: deploy?,
            drain,
            stop_timeout,
        })
    }
}

/// `deploy` names an earlier `compose.deploy` step.
impl Validate for ComposeRetireStep {
    fn validate(&self, c: &StepCheck<'_>, p: &mut Problems) {
        if c.dropped(&self.deploy.value) {
            return;
        }
        let (plan, id) = (c.plan, c.id);
        let position = |name: &str| plan.steps().position(|(_, s)| s.id.value == name);
        match (
            plan.step(&self.deploy.value).map(|s| &s.kind),
            position(&self.deploy.value),
            position(&id.value),
        ) {
            (Some(StepKind::ComposeDeploy(_)), Some(a), Some(b)) if a < b => {}
            (Some(StepKind::ComposeDeploy(_)), _, _) => p.push(
                Problem::new(
                    self.deploy.span,
                    format!(
                        "step `{}` retires the colour of `{}`, which runs after it",
                        id.value, self.deploy.value
                    ),
                    "not an earlier step",
                )
                .help("move the retire below its compose.deploy step"),
            ),
            (Some(other), _, _) => p.push(
                Problem::new(
                    self.deploy.span,
                    format!(
                        "step `{}` is a `{}` step, not `compose.deploy`",
                        self.deploy.value,
                        other.name()
                    ),
                    "not a compose.deploy step",
                )
                .help("name the id of the compose.deploy step whose previous colour is retired"),
            ),
            (None, _, _) => {
                let deploys: Vec<&str> = plan
                    .steps()
                    .filter(|(_, s)| matches!(s.kind, StepKind::ComposeDeploy(_)))
                    .map(|(_, s)| s.id.value.as_str())
                    .collect();
                p.push(
                    Problem::new(
                        self.deploy.span,
                        format!("no step `{}` to retire the colour of", self.deploy.value),
                        "unknown step",
                    )
                    .help(if deploys.is_empty() {
                        "add a compose.deploy step before this one".to_string()
                    } else {
                        format!("compose.deploy steps: {}", deploys.join(", "))
                    }),
                )
            }
        }
    }
}
