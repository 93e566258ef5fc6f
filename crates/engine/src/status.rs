//! `cutover status`: where the newest run stands and what it waits for.

use crate::error::EngineError;
use crate::preview::status_name;
use crate::session::Session;
use cutover_journal::{format_ms, StepStatus};
use serde::Serialize;

/// One step's line in the status.
#[derive(Debug, Clone, Serialize)]
pub struct StepLine {
    /// Stage.
    pub stage: String,
    /// Step id.
    pub id: String,
    /// Kind.
    pub kind: String,
    /// Status word.
    pub status: String,
    /// Details (error, wait reason, summary).
    pub detail: Option<String>,
    /// Times it was started.
    pub attempts: u32,
}

/// The status report.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// The plan's name.
    pub plan: String,
    /// The newest run's id.
    pub run: Option<String>,
    /// "not started", "in progress", "waiting", "failed", "completed", "rolled_back", "rolling back".
    pub state: String,
    /// What the run waits for, if anything.
    pub waiting_for: Option<String>,
    /// Who holds the plan's lock now, if anyone.
    pub locked_by: Option<String>,
    /// Every step of the plan.
    pub steps: Vec<StepLine>,
    /// When the run began.
    pub started: Option<String>,
}

/// The status of the plan at `plan_path`.
pub fn status(plan_path: &std::path::Path) -> Result<Status, EngineError> {
    let session = Session::open_read_only(plan_path)?;
    let locked_by = session.journal.holder().map(|h| h.to_string());
    let latest = session.latest()?;
    let mut steps = Vec::new();
    let mut waiting_for = None;
    let mut failed = false;
    for (stage, step) in session.plan.steps() {
        let st = latest.as_ref().and_then(|(_, s)| s.step(&step.id.value));
        let (status, detail) = match st.map(|s| &s.status) {
            None => ("pending".to_string(), None),
            Some(StepStatus::Waiting { reason, .. }) => {
                waiting_for.get_or_insert_with(|| format!("{}: {reason}", step.id.value));
                ("waiting".to_string(), Some(reason.clone()))
            }
            Some(StepStatus::Failed { error }) => {
                failed = true;
                ("failed".to_string(), Some(error.clone()))
            }
            Some(s @ StepStatus::Skipped { reason }) => (status_name(s), Some(reason.clone())),
            Some(s) => (status_name(s), st.and_then(|x| x.summary.clone())),
        };
        steps.push(StepLine {
            stage: stage.name.value.clone(),
            id: step.id.value.clone(),
            kind: step.kind.name().into(),
            status,
            detail,
            attempts: st.map_or(0, |s| s.attempts),
        });
    }
    let state = match &latest {
        None => "not started".to_string(),
        Some((_, s)) => match (&s.outcome, s.rolling_back) {
            (Some(o), _) => o.clone(),
            (None, true) => "rolling back".into(),
            _ if waiting_for.is_some() => "waiting".into(),
            _ if failed => "failed".into(),
            _ => "in progress".into(),
        },
    };
    Ok(Status {
        plan: session.plan.name.clone(),
        run: latest.as_ref().map(|(r, _)| r.id.clone()),
        started: latest.as_ref().map(|(r, _)| format_ms(r.started_ms)),
        state,
        waiting_for,
        locked_by,
        steps,
    })
}
