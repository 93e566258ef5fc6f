//! `cutover status`: where the newest run stands, what it waits for, replication objects
//! left on the servers that no finished step accounts for, and schema changes made on the
//! source of a running sync that the target lacks.

use crate::error::EngineError;
use crate::preview::status_name;
use crate::session::Session;
use cutover_journal::{format_ms, RunState, StepStatus};
use cutover_plan::{Step, StepKind};
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
    /// Every run in the journal, oldest first (`cutover apply --new-run` adds one).
    pub runs: Vec<String>,
    /// Who holds the plan's lock now, if anyone.
    pub locked_by: Option<String>,
    /// Every step of the plan.
    pub steps: Vec<StepLine>,
    /// When the run began.
    pub started: Option<String>,
    /// Things on the hosts that need the operator (replication objects left running, DDL
    /// on a sync's source that its target lacks), each with what to do.
    pub warnings: Vec<String>,
    /// What switches left running on purpose until a `*.finish` step ends it (reverse
    /// replication, slots, a frozen source), one entry per switch with a line per host.
    pub left_running: Vec<String>,
    /// What users saw during each coordinated move and probed switch of the run, one line
    /// each (see [`crate::users_saw`]).
    pub users_saw: Vec<String>,
}

/// The status of the plan at `plan_path`: of its newest run, or of run `run` (an id, or
/// `N` for the Nth). Looks at the PostgreSQL servers only when a `postgres.sync` step's
/// objects are not accounted for by the journal.
pub async fn status(plan_path: &std::path::Path, run: Option<&str>) -> Result<Status, EngineError> {
    let session = Session::open_read_only(plan_path)?;
    let locked_by = session.journal.holder().map(|h| h.to_string());
    let latest = match session.find_run(run)? {
        Some(info) => {
            let state = session.state(&info)?;
            Some((info, state))
        }
        None => None,
    };
    let state = latest.as_ref().map(|(_, s)| s);
    let mut steps = Vec::new();
    let mut waiting_for = None;
    let mut failed = false;
    for (stage, step) in session.plan.steps() {
        let st = state.and_then(|s| s.step(&step.id.value));
        let (status, detail) = match st.map(|s| &s.status) {
            None => ("pending".to_string(), None),
            Some(StepStatus::Waiting { reason, .. }) => match approved(step, state) {
                Some(by) => (
                    "approved".to_string(),
                    Some(format!("{by}; `cutover apply` passes the gate")),
                ),
                None => {
                    waiting_for.get_or_insert_with(|| format!("{}: {reason}", step.id.value));
                    ("waiting".to_string(), Some(reason.clone()))
                }
            },
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
    let run_state = match state {
        None => "not started".to_string(),
        Some(s) => match (&s.outcome, s.rolling_back) {
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
        runs: session.run_ids()?,
        started: latest.as_ref().map(|(r, _)| format_ms(r.started_ms)),
        state: run_state,
        waiting_for,
        locked_by,
        steps,
        warnings: {
            let mut w = crate::leftovers::replication_warnings(&session, state).await;
            w.extend(crate::schema_drift::drift_warnings(&session, state).await);
            w
        },
        users_saw: session
            .plan
            .steps()
            .filter_map(|(_, step)| Some((step, state?.step(&step.id.value)?)))
            .flat_map(|(step, st)| crate::users_saw::windows(&step.id.value, &st.measurements))
            .map(|w| w.line())
            .collect(),
        left_running: crate::left_running::left_by_switches(&session, state).await,
    })
}

/// An approval gate held at `Waiting` whose approval is journaled since: it no longer holds
/// the run (the next `apply` passes it at once), so it is not shown as waiting.
fn approved(step: &Step, state: Option<&RunState>) -> Option<String> {
    match (&step.kind, state) {
        (StepKind::Approve(gate), Some(state)) => {
            crate::steps::approve::accepted(gate, &step.id.value, state)
        }
        _ => None,
    }
}
