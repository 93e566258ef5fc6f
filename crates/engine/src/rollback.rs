//! `cutover rollback`: runs the undo of every applied step in reverse order, journaled, and
//! resumable: steps already rolled back are not undone twice.

use crate::context::StepCtx;
use crate::error::EngineError;
use crate::hosts::targets;
use crate::session::Session;
use crate::steps::runner;
use crate::ui::{Progress, Ui};
use cutover_exec::Executor;
use cutover_journal::{now_ms, Event, Holder, StepStatus};
use tokio::sync::watch;

/// How a rollback ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollbackOutcome {
    /// The run.
    pub run: String,
    /// Steps whose undo ran.
    pub undone: Vec<String>,
}

/// Rolls back the newest run of the plan at `plan_path`.
pub async fn rollback(
    plan_path: &std::path::Path,
    reason: &str,
    ui: &dyn Ui,
    cancel: watch::Receiver<bool>,
) -> Result<RollbackOutcome, EngineError> {
    let (session, secrets) = Session::open_with_secrets(plan_path)?;
    let _lock = session.journal.lock(Holder::me("rollback"))?;
    let Some((run, state)) = session.latest()? else {
        return Err(EngineError::Invalid(
            "nothing to roll back: this plan has no run in its journal".into(),
        ));
    };
    if state.outcome.as_deref() == Some("rolled_back") {
        ui.show(Progress::Note(format!(
            "run {} is already rolled back",
            run.id
        )));
        return Ok(RollbackOutcome {
            run: run.id,
            undone: Vec::new(),
        });
    }
    session.journal.append(
        &run.id,
        &Event::RollbackStarted {
            reason: reason.to_string(),
        },
    )?;
    ui.show(Progress::Run {
        id: run.id.clone(),
        resumed: true,
    });
    let exec = Executor::new(
        targets(&session.plan, &session.journal_path),
        secrets.redactor(),
    );
    let steps: Vec<_> = session.plan.steps().collect();
    let mut undone = Vec::new();
    for (stage, step) in steps.into_iter().rev() {
        let id = step.id.value.as_str();
        let state = session.state(&run)?;
        // Only what this run applied is undone: a step found already in place was not ours.
        // Steps that journal their previous state first are undone even when interrupted or
        // failed part-way (a DNS switch that changed one zone of two, a crash after the update).
        let partial = runner(&step.kind).undoes_partial();
        let Some(st) = state.step(id).filter(|s| {
            s.status == StepStatus::Applied
                || matches!(s.status, StepStatus::RollbackFailed { .. })
                || (partial && matches!(s.status, StepStatus::InFlight | StepStatus::Failed { .. }))
        }) else {
            continue;
        };
        let failures = session
            .journal
            .events(&run.id)?
            .iter()
            .filter(|r| matches!(&r.event, Event::StepRollbackFailed { step, .. } if step == id))
            .count() as u32;
        let ctx = StepCtx {
            plan: &session.plan,
            stage,
            step,
            run_id: &run.id,
            try_number: failures + 1,
            exec: &exec,
            journal: session.journal.as_ref(),
            secrets: &secrets,
            state: &state,
            ui,
            cancel: cancel.clone(),
            no_wait: true,
            first_started_ms: st.started_ms.unwrap_or_else(now_ms),
        };
        match undo_one(&ctx, ui).await {
            Ok(true) => undone.push(id.to_string()),
            Ok(false) => {}
            Err(e) => {
                ui.show(Progress::Note(
                    "rollback stopped; fix the cause and run `cutover rollback` again to continue"
                        .into(),
                ));
                return Err(e);
            }
        }
    }
    session.journal.append(
        &run.id,
        &Event::RunFinished {
            outcome: "rolled_back".into(),
        },
    )?;
    exec.disconnect_all().await;
    Ok(RollbackOutcome {
        run: run.id,
        undone,
    })
}

/// Runs the undo of `ctx.step`, journaled and shown; `Ok(true)` when something was undone.
async fn undo_one(ctx: &StepCtx<'_>, ui: &dyn Ui) -> Result<bool, EngineError> {
    let id = ctx.id();
    ui.show(Progress::StepStarted {
        step: id.into(),
        kind: format!("{} (undo)", ctx.step.kind.name()),
        description: String::new(),
    });
    let started = std::time::Instant::now();
    match runner(&ctx.step.kind).rollback(ctx).await {
        Ok(Some(summary)) => {
            ctx.record(Event::StepRolledBack { step: id.into() })?;
            ui.show(Progress::StepDone {
                step: id.into(),
                summary,
                seconds: started.elapsed().as_secs_f64(),
            });
            Ok(true)
        }
        Ok(None) => {
            ui.show(Progress::StepSkipped {
                step: id.into(),
                reason: "nothing to undo".into(),
            });
            Ok(false)
        }
        Err(e) => {
            let message = e.to_string();
            ctx.record(Event::StepRollbackFailed {
                step: id.into(),
                error: message.clone(),
            })?;
            ui.show(Progress::StepFailed {
                step: id.into(),
                error: message.clone(),
            });
            Err(EngineError::RollbackFailed {
                step: id.into(),
                message,
            })
        }
    }
}

/// The automatic rollback of a running `apply` (a soak trigger fired): undoes the applied
/// steps `ids` of this run at once, newest first, with the lock `apply` already holds, and
/// journals it as a rollback for `reason` (the trigger and its evidence). Returns the steps
/// undone. The run then stops at the step that called this; `cutover apply` can redo the
/// undone steps, `cutover rollback` undoes the rest.
pub(crate) async fn undo_now(
    ctx: &StepCtx<'_>,
    ids: &[String],
    reason: &str,
) -> Result<Vec<String>, EngineError> {
    ctx.record(Event::RollbackStarted {
        reason: reason.to_string(),
    })?;
    let steps: Vec<_> = ctx
        .plan
        .steps()
        .filter(|(_, s)| ids.contains(&s.id.value))
        .collect();
    let mut undone = Vec::new();
    for (stage, step) in steps.into_iter().rev() {
        let id = step.id.value.as_str();
        let events = ctx.journal.events(ctx.run_id)?;
        let state = cutover_journal::RunState::fold(ctx.state.run.clone(), &events);
        let Some(st) = state.step(id).filter(|s| s.status == StepStatus::Applied) else {
            continue;
        };
        let failures = events
            .iter()
            .filter(|r| matches!(&r.event, Event::StepRollbackFailed { step, .. } if step == id))
            .count() as u32;
        let sub = StepCtx {
            plan: ctx.plan,
            stage,
            step,
            run_id: ctx.run_id,
            try_number: failures + 1,
            exec: ctx.exec,
            journal: ctx.journal,
            secrets: ctx.secrets,
            state: &state,
            ui: ctx.ui,
            cancel: ctx.cancel.clone(),
            no_wait: true,
            first_started_ms: st.started_ms.unwrap_or_else(now_ms),
        };
        if undo_one(&sub, ctx.ui).await? {
            undone.push(id.to_string());
        }
    }
    ctx.record(Event::RollbackFinished {
        undone: undone.clone(),
    })?;
    Ok(undone)
}
