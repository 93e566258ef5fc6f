//! `cutover approve GATE`: records a sign-off in the journal, from any shell, while `apply`
//! waits at the gate (or before it gets there).

use crate::error::EngineError;
use crate::session::Session;
use cutover_journal::Event;
use cutover_plan::StepKind;

/// Records that `by` approves gate `gate` of the current run.
pub fn approve(
    plan_path: &std::path::Path,
    gate: &str,
    by: &str,
    comment: Option<&str>,
) -> Result<String, EngineError> {
    let session = Session::open(plan_path, None)?;
    let Some(step) = session.plan.step(gate) else {
        let gates: Vec<&str> = session
            .plan
            .steps()
            .filter(|(_, s)| matches!(s.kind, StepKind::Approve(_)))
            .map(|(_, s)| s.id.value.as_str())
            .collect();
        return Err(EngineError::Invalid(format!(
            "no step `{gate}` in the plan; approval gates: {}",
            gates.join(", ")
        )));
    };
    let StepKind::Approve(cfg) = &step.kind else {
        return Err(EngineError::Invalid(format!(
            "step `{gate}` is a `{}` step, not an approval gate",
            step.kind.name()
        )));
    };
    if by.trim().is_empty() {
        return Err(EngineError::Invalid("--by must name who approves".into()));
    }
    if !cfg.approvers.is_empty() && !cfg.approvers.iter().any(|a| a == by) {
        return Err(EngineError::Invalid(format!(
            "`{by}` may not approve `{gate}`; approvers: {}",
            cfg.approvers.join(", ")
        )));
    }
    let Some((run, state)) = session.latest()?.filter(|(_, s)| s.outcome.is_none()) else {
        return Err(EngineError::Invalid(
            "no run in progress: start one with `cutover apply`".into(),
        ));
    };
    if state.is_done(gate) {
        return Err(EngineError::Invalid(format!(
            "gate `{gate}` is already passed in run {}",
            run.id
        )));
    }
    session.journal.append(
        &run.id,
        &Event::Approved {
            step: gate.into(),
            by: by.into(),
            comment: comment.map(str::to_string),
        },
    )?;
    Ok(run.id)
}
