//! `cutover rollback`: runs the undo of every applied step in reverse order, and of a step
//! the run was interrupted in (or names what such a step may have left when its kind cannot
//! undo it), journaled, and resumable: steps already rolled back are not undone twice.

use crate::context::{RunScope, StepCtx};
use crate::error::EngineError;
use crate::error::RollbackRequest;
use crate::hosts::targets;
use crate::secrets::Secrets;
use crate::session::Session;
use crate::step::Interrupted;
use crate::step::PreparedSteps;
use crate::steps::runner;
use crate::ui::{Progress, Ui};
use cutover_exec::Executor;
use cutover_journal::{now_ms, Event, Holder, Record, RunInfo, StepStatus};
use tokio::sync::watch;

/// Which applied steps a rollback undoes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum RollbackScope {
    /// Every one, newest first; the run ends rolled back.
    #[default]
    All,
    /// Newest first down to and including this step; the run stays resumable (`apply`
    /// applies the undone steps again).
    To(String),
    /// Only this step (also one marked `keep`); the run stays resumable.
    Only(String),
}

impl RollbackScope {
    /// The step the scope names, if any.
    fn step(&self) -> Option<&str> {
        match self {
            RollbackScope::All => None,
            RollbackScope::To(s) | RollbackScope::Only(s) => Some(s),
        }
    }
}

/// How a rollback ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollbackOutcome {
    /// The run.
    pub run: String,
    /// Steps whose undo ran.
    pub undone: Vec<String>,
    /// Applied steps left in place because they are marked `keep = true`.
    pub kept: Vec<String>,
    /// True when the run ended rolled back (the whole run was in scope).
    pub whole: bool,
    /// Interrupted steps whose kind cannot undo what they may have done, with what may be
    /// left: for the operator to see to.
    pub left: Vec<Left>,
    /// Steps this run found already in place (skipped), which it did not undo: named so
    /// that the operator knows what stays (`--only` undoes one).
    pub found: Vec<String>,
}

/// What an interrupted step may have left that the rollback could not undo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Left {
    /// The step.
    pub step: String,
    /// What may be left, in words.
    pub what: String,
}

/// Rolls back the newest run of the plan at `plan_path`.
pub async fn rollback(
    plan_path: &std::path::Path,
    reason: &str,
    scope: &RollbackScope,
    ui: &dyn Ui,
    cancel: watch::Receiver<bool>,
) -> Result<RollbackOutcome, EngineError> {
    let (session, secrets) = Session::open_with_secrets(plan_path)?;
    if let Some(step) = scope.step() {
        check_scope_step(&session.plan, step)?;
    }
    let _lock = session.journal.lock(Holder::me("rollback"))?;
    let Some((run, state)) = session.latest()? else {
        return Err(EngineError::Invalid(
            "nothing to roll back: this plan has no run in its journal".into(),
        ));
    };
    let was_rolled_back = state.outcome.as_deref() == Some("rolled_back");
    if was_rolled_back && *scope == RollbackScope::All {
        ui.show(Progress::Note(format!(
            "run {} is already rolled back",
            run.id
        )));
        return Ok(RollbackOutcome {
            run: run.id,
            undone: Vec::new(),
            kept: Vec::new(),
            whole: true,
            left: Vec::new(),
            found: Vec::new(),
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
    let rolled_back = Rollback {
        session: &session,
        secrets: &secrets,
        exec: &exec,
        run: &run,
        ui,
        cancel,
    }
    .undo_all(scope, was_rolled_back)
    .await;
    // What tracked commands left on the hosts goes in every outcome: all of it once the run
    // is rolled back, the finished commands' output when the rollback stopped part-way.
    let ended = rolled_back.as_ref().is_ok_and(|o| o.whole);
    crate::tidy::tidy_hosts(&exec, &session.plan, &run.id, ended).await;
    exec.disconnect_all().await;
    rolled_back
}

struct Rollback<'a> {
    session: &'a Session,
    secrets: &'a Secrets,
    exec: &'a Executor,
    run: &'a RunInfo,
    ui: &'a dyn Ui,
    cancel: watch::Receiver<bool>,
}

impl Rollback<'_> {
    /// Undoes the run's steps in `scope` newest first; journals the run as rolled back when
    /// the scope is the whole run, else as a partial rollback that leaves it resumable.
    /// A run `was_rolled_back` (a kept step undone on its own afterwards) stays rolled back.
    async fn undo_all(
        &self,
        scope: &RollbackScope,
        was_rolled_back: bool,
    ) -> Result<RollbackOutcome, EngineError> {
        let (session, ui) = (self.session, self.ui);
        let steps: Vec<_> = session.plan.steps().collect();
        let first = match scope {
            RollbackScope::To(to) => steps.iter().position(|(_, s)| &s.id.value == to),
            _ => None,
        };
        let mut undone = Vec::new();
        let mut kept = Vec::new();
        let mut left = Vec::new();
        let mut found = Vec::new();
        for (at, (stage, step)) in steps.into_iter().enumerate().rev() {
            let id = step.id.value.as_str();
            let in_scope = match scope {
                RollbackScope::All => true,
                RollbackScope::To(_) => first.is_some_and(|first| at >= first),
                RollbackScope::Only(only) => only == id,
            };
            if !in_scope {
                continue;
            }
            // Moved with the traffic: its mover undoes it as part of the move back.
            if session.plan.mover_of(id).is_some() {
                continue;
            }
            let state = session.state(self.run)?;
            let r = runner(&step.kind);
            // Only what this run did is undone: a step found already in place was not ours.
            // An interrupted step may have done anything up to its end, so it is undone
            // (or named as left, by a kind that cannot undo it); a failed one only by kinds
            // whose undo is driven by what they journaled or find in place.
            let Some(st) = state.step(id) else {
                continue;
            };
            let interrupted =
                matches!(st.status, StepStatus::InFlight | StepStatus::Waiting { .. });
            let undo = match &st.status {
                StepStatus::Applied | StepStatus::RollbackFailed { .. } => true,
                StepStatus::InFlight | StepStatus::Waiting { .. } => true,
                StepStatus::Failed { .. } => r.undoes_failed(),
                // Asked for by name: the operator takes it as theirs to undo.
                StepStatus::Skipped { .. } if matches!(scope, RollbackScope::Only(_)) => true,
                StepStatus::Skipped { .. } => {
                    if matches!(r.interrupted(), Interrupted::Undoes) {
                        ui.show(Progress::StepLeft {
                            step: id.into(),
                            what: format!(
                                "found in place by this run, so not undone (this run did not make it); `cutover rollback --only {id}` undoes it"
                            ),
                        });
                        found.push(id.to_string());
                    }
                    false
                }
                _ => false,
            };
            if !undo {
                continue;
            }
            if step.keep && !matches!(scope, RollbackScope::Only(_)) {
                ui.show(Progress::StepLeft {
                    step: id.into(),
                    what: format!("kept (`keep = true`); `cutover rollback --only {id}` undoes it"),
                });
                kept.push(id.to_string());
                continue;
            }
            if interrupted {
                if let Interrupted::Leaves(what) = r.interrupted() {
                    ui.show(Progress::StepLeft {
                        step: id.into(),
                        what: what.clone(),
                    });
                    left.push(Left {
                        step: id.into(),
                        what,
                    });
                    continue;
                }
            }
            let events = session.journal.events(&self.run.id)?;
            let base = RunScope {
                plan: &session.plan,
                run_id: &self.run.id,
                exec: self.exec,
                journal: session.journal.as_ref(),
                secrets: self.secrets,
                ui,
                cancel: self.cancel.clone(),
                no_wait: true,
                members: None,
                writable: None,
            };
            let undoer = Undoer::new(base.clone(), self.run.clone());
            let scope = RunScope {
                members: Some(&undoer),
                ..base
            };
            let ctx = StepCtx::new(
                &scope,
                stage,
                step,
                &state,
                undo_tries(&events, id) + 1,
                st.started_ms.unwrap_or_else(now_ms),
            );
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
        let whole = *scope == RollbackScope::All || was_rolled_back;
        let end = if whole {
            Event::RunFinished {
                outcome: "rolled_back".into(),
            }
        } else {
            Event::RollbackFinished {
                undone: undone.clone(),
            }
        };
        session.journal.append(&self.run.id, &end)?;
        Ok(RollbackOutcome {
            run: self.run.id.clone(),
            undone,
            kept,
            whole,
            left,
            found,
        })
    }
}

/// Refuses a `--to`/`--only` step the plan does not have, or one moved with the traffic by
/// another step (its mover undoes it).
fn check_scope_step(plan: &cutover_plan::Plan, step: &str) -> Result<(), EngineError> {
    if plan.step(step).is_none() {
        let ids: Vec<&str> = plan.steps().map(|(_, s)| s.id.value.as_str()).collect();
        let hint = match cutover_plan::problem::did_you_mean(step, ids.iter().copied()) {
            Some(near) => format!("did you mean `{near}`?"),
            None => format!("steps are {}", ids.join(", ")),
        };
        return Err(EngineError::Invalid(format!(
            "no step `{step}` in the plan: {hint}"
        )));
    }
    if let Some(mover) = plan.mover_of(step) {
        return Err(EngineError::Invalid(format!(
            "`{step}` is moved with the traffic by `{}`: roll back `{}` (it undoes `{step}` as part of the move back)",
            mover.id.value, mover.id.value
        )));
    }
    Ok(())
}

/// How many undos of step `id` ran or failed in this run: each new one gets new ids for its
/// tracked commands, so that it runs them rather than replaying an earlier one's outcome.
fn undo_tries(events: &[Record], id: &str) -> u32 {
    events
        .iter()
        .filter(|r| match &r.event {
            Event::StepRolledBack { step, .. } | Event::StepRollbackFailed { step, .. } => {
                step == id
            }
            _ => false,
        })
        .count() as u32
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
            ctx.record(Event::StepRolledBack {
                step: id.into(),
                summary: Some(summary.clone()),
            })?;
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

/// Carries out a step's rollback request (a soak's trigger fired) in the running `apply`:
/// undoes the requested steps at once and returns the step's failure, saying what was undone
/// and in how long (also measured on the step as `rollback_seconds`).
pub(crate) async fn carry_out(ctx: &StepCtx<'_>, req: RollbackRequest) -> EngineError {
    let what = req.what;
    match undo_now(ctx, &req.targets, &req.reason).await {
        Ok(undone) => {
            let took = req.at.elapsed();
            let _ = ctx.measure("rollback_seconds", took.as_secs_f64(), "s");
            let done = if undone.is_empty() {
                "nothing was applied to undo".to_string()
            } else {
                format!(
                    "rolled back {} in {:.2} s",
                    undone.join(", "),
                    took.as_secs_f64()
                )
            };
            ctx.failed(format!("{what}\n{done}; fix the cause, then `cutover apply` switches and soaks again, or `cutover rollback` undoes the rest"))
        }
        Err(e) => ctx.failed(format!(
            "{what}\nthe automatic rollback failed: {e}; run `cutover rollback` to continue it"
        )),
    }
}

/// The automatic rollback of a running `apply` (a soak trigger fired): undoes the applied
/// steps `ids` of this run at once, newest first, with the lock `apply` already holds, and
/// journals it as a rollback for `reason` (the trigger and its evidence). Returns the steps
/// undone. The run then stops at the step that called this; `cutover apply` can redo the
/// undone steps, `cutover rollback` undoes the rest.
async fn undo_now(
    ctx: &StepCtx<'_>,
    ids: &[String],
    reason: &str,
) -> Result<Vec<String>, EngineError> {
    ctx.record(Event::RollbackStarted {
        reason: reason.to_string(),
    })?;
    let scope = RunScope {
        no_wait: true,
        ..ctx.scope()
    };
    let undone = undo_steps(&scope, ctx.state.run.clone(), ids, None, None).await?;
    ctx.record(Event::RollbackFinished {
        undone: undone.clone(),
    })?;
    Ok(undone)
}

/// Undoes the applied steps `ids` of the run, newest first (in plan order); returns those
/// undone. A step that moves others (a coordinated `proxy.switch`) undoes them itself,
/// through the [`Undoer`] its context is given. What `prepared` holds for a step (its
/// `prepare_undo`, run before a move back held requests) goes to its `rollback`.
pub(crate) async fn undo_steps(
    scope: &RunScope<'_>,
    run: cutover_journal::RunInfo,
    ids: &[String],
    writable: Option<&crate::writable::WritableAgain>,
    prepared: Option<&PreparedSteps>,
) -> Result<Vec<String>, EngineError> {
    let undone = undo_each(scope, run, ids, writable, prepared).await?;
    // What the undo left (steps not applied, or kept) has nothing more to give back. A
    // failed undo settles nothing: the move back sees its error, not a release.
    if let Some(w) = writable {
        w.mark_all();
    }
    Ok(undone)
}

async fn undo_each(
    scope: &RunScope<'_>,
    run: cutover_journal::RunInfo,
    ids: &[String],
    writable: Option<&crate::writable::WritableAgain>,
    prepared: Option<&PreparedSteps>,
) -> Result<Vec<String>, EngineError> {
    let undoer = Undoer::new(scope.clone(), run.clone());
    let scope = RunScope {
        members: Some(&undoer),
        writable,
        ..scope.clone()
    };
    let steps: Vec<_> = scope
        .plan
        .steps()
        .filter(|(_, s)| ids.contains(&s.id.value))
        .collect();
    let mut undone = Vec::new();
    for (stage, step) in steps.into_iter().rev() {
        let id = step.id.value.as_str();
        let events = scope.journal.events(scope.run_id)?;
        let state = cutover_journal::RunState::fold(run.clone(), &events);
        let Some(st) = state.step(id).filter(|s| s.status == StepStatus::Applied) else {
            if let Some(w) = scope.writable {
                w.mark(id);
            }
            continue;
        };
        if step.keep {
            if let Some(w) = scope.writable {
                w.mark(id);
            }
            scope.ui.show(Progress::StepLeft {
                step: id.into(),
                what: "kept (`keep = true`)".into(),
            });
            continue;
        }
        let sub = StepCtx::new(
            &scope,
            stage,
            step,
            &state,
            undo_tries(&events, id) + 1,
            st.started_ms.unwrap_or_else(now_ms),
        );
        let ready = prepared.and_then(|p| p.lock().ok()?.remove(id));
        if let (Some(ready), Ok(mut slot)) = (ready, sub.prepared.lock()) {
            *slot = Some(ready);
        }
        let was_undone = undo_one(&sub, scope.ui).await?;
        sub.writable_again();
        if was_undone {
            undone.push(id.to_string());
        }
    }
    Ok(undone)
}

/// Undoes the steps of a coordinated move for the step that moves them.
pub(crate) struct Undoer<'a> {
    scope: RunScope<'a>,
    run: cutover_journal::RunInfo,
    /// What [`Members::prepare_undo`](crate::context::Members::prepare_undo) made ready.
    prepared: PreparedSteps,
}

impl<'a> Undoer<'a> {
    fn new(scope: RunScope<'a>, run: cutover_journal::RunInfo) -> Self {
        Undoer {
            scope,
            run,
            prepared: Default::default(),
        }
    }
}

#[async_trait::async_trait]
impl crate::context::Members for Undoer<'_> {
    async fn prepare(&self, _ids: &[String]) -> Result<(), EngineError> {
        Ok(())
    }

    async fn apply(&self, _ids: &[String]) -> Result<(), EngineError> {
        Err(EngineError::Invalid(
            "a rollback does not apply steps".into(),
        ))
    }

    async fn prepare_undo(&self, ids: &[String]) -> Result<(), EngineError> {
        let scope = RunScope {
            members: None,
            ..self.scope.clone()
        };
        let events = scope.journal.events(scope.run_id)?;
        let state = cutover_journal::RunState::fold(self.run.clone(), &events);
        for (stage, step) in scope
            .plan
            .steps()
            .filter(|(_, s)| ids.contains(&s.id.value))
        {
            let id = step.id.value.as_str();
            // Only what `undo` will undo: applied in this run, not kept.
            let Some(st) = state.step(id).filter(|s| s.status == StepStatus::Applied) else {
                continue;
            };
            if step.keep {
                continue;
            }
            let ctx = StepCtx::new(
                &scope,
                stage,
                step,
                &state,
                undo_tries(&events, id) + 1,
                st.started_ms.unwrap_or_else(now_ms),
            );
            if let Some(ready) = runner(&step.kind).prepare_undo(&ctx).await? {
                if let Ok(mut m) = self.prepared.lock() {
                    m.insert(id.to_string(), ready);
                }
            }
        }
        Ok(())
    }

    async fn undo(
        &self,
        ids: &[String],
        writable: Option<&crate::writable::WritableAgain>,
    ) -> Result<Vec<String>, EngineError> {
        let scope = RunScope {
            members: None,
            ..self.scope.clone()
        };
        undo_steps(
            &scope,
            self.run.clone(),
            ids,
            writable,
            Some(&self.prepared),
        )
        .await
    }
}
