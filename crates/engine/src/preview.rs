//! `cutover plan`: the exact changes `apply` would make, in order, secrets masked, with
//! what the journal says is already done.

use crate::context::Values;
use crate::error::EngineError;
use crate::session::Session;
use crate::steps::runner;
use serde::Serialize;

/// One step as `cutover plan` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct StepPreview {
    /// The step id.
    pub id: String,
    /// Its kind.
    pub kind: String,
    /// Its description.
    pub description: Option<String>,
    /// "pending", "done" (applied or in place) or another journal status.
    pub status: String,
    /// The changes, one per line.
    pub changes: Vec<String>,
}

/// One stage.
#[derive(Debug, Clone, Serialize)]
pub struct StagePreview {
    /// Its name.
    pub name: String,
    /// Its steps.
    pub steps: Vec<StepPreview>,
}

/// The whole preview.
#[derive(Debug, Clone, Serialize)]
pub struct Preview {
    /// The plan's name.
    pub plan: String,
    /// The run `apply` would continue, if any.
    pub run: Option<String>,
    /// The stages.
    pub stages: Vec<StagePreview>,
}

/// Builds the preview of the plan at `plan_path`.
pub fn preview(plan_path: &std::path::Path) -> Result<Preview, EngineError> {
    let session = Session::open_read_only(plan_path)?;
    let latest = session.latest()?.filter(|(_, s)| s.outcome.is_none());
    let values = Values {
        plan: &session.plan,
        run_id: latest.as_ref().map(|(r, _)| r.id.as_str()),
        secrets: None,
    };
    let mut stages = Vec::new();
    for stage in &session.plan.stages {
        let mut steps = Vec::new();
        for step in &stage.steps {
            let status = match latest.as_ref().and_then(|(_, s)| s.step(&step.id.value)) {
                Some(s) if s.status.is_done() => "done".to_string(),
                Some(s) => status_name(&s.status),
                None => "pending".to_string(),
            };
            let mut changes = runner(&step.kind).plan(&values)?;
            if let Some(d) = &session.plan.downtime {
                if d.covers(&step.id.value, step.kind.kind()) {
                    changes.push(format!(
                        "downtime prober: check `{}` every {} during the step and {} after it",
                        d.check.value,
                        humantime::format_duration(d.interval()),
                        humantime::format_duration(d.settle())
                    ));
                }
            }
            steps.push(StepPreview {
                id: step.id.value.clone(),
                kind: step.kind.name().into(),
                description: step.description.clone(),
                status,
                changes,
            });
        }
        stages.push(StagePreview {
            name: stage.name.value.clone(),
            steps,
        });
    }
    Ok(Preview {
        plan: session.plan.name.clone(),
        run: latest.map(|(r, _)| r.id),
        stages,
    })
}

/// A status as one word.
pub fn status_name(s: &cutover_journal::StepStatus) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.get("status").and_then(|x| x.as_str()).map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}
