//! `cutover apply`: runs the plan's steps in order, resuming where the journal left off.
//! Every step start and end is durable before the next step begins, so a run killed at any
//! instant resumes here: finished steps are skipped, an interrupted step is re-attached
//! (tracked commands) or re-checked, never blindly run twice.

use crate::context::{RunScope, StepCtx};
use crate::error::EngineError;
use crate::hosts::targets;
use crate::secrets::Secrets;
use crate::session::Session;
use crate::step::{Applied, Verified};
use crate::steps::runner;
use crate::ui::{Progress, Ui};
use cutover_exec::Executor;
use cutover_journal::{now_ms, Event, Holder, RunInfo, RunState, StepStatus};
use cutover_plan::{Stage, Step};
use std::time::Instant;
use tokio::sync::watch;

/// Options of `cutover apply`.
#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    /// Stop after this stage.
    pub until: Option<String>,
    /// Stop at gates instead of waiting.
    pub no_wait: bool,
    /// Start a new run when the newest one completed (the next release with the same
    /// plan); refused while the newest run is still open.
    pub new_run: bool,
}

/// How `apply` ended when it did not fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyOutcome {
    /// Every step is done.
    Completed {
        /// The run.
        run: String,
        /// Steps applied by this invocation.
        applied: usize,
    },
    /// The run had already completed; nothing was done.
    AlreadyComplete {
        /// The run.
        run: String,
    },
    /// Stopped after the `--until` stage.
    StoppedAfter {
        /// The run.
        run: String,
        /// The stage.
        stage: String,
    },
}

/// Runs `apply` for the plan at `plan_path`.
pub async fn apply(
    plan_path: &std::path::Path,
    opts: &ApplyOptions,
    ui: &dyn Ui,
    cancel: watch::Receiver<bool>,
) -> Result<ApplyOutcome, EngineError> {
    let (session, secrets) = Session::open_with_secrets(plan_path)?;
    if let Some(until) = &opts.until {
        if !session.plan.stages.iter().any(|s| &s.name.value == until) {
            let names: Vec<&str> = session
                .plan
                .stages
                .iter()
                .map(|s| s.name.value.as_str())
                .collect();
            return Err(EngineError::Invalid(format!(
                "--until: no stage `{until}`; stages are {}",
                names.join(", ")
            )));
        }
    }
    let _lock = session.journal.lock(Holder::me("apply"))?;
    let run = match open_run(&session, opts.new_run, ui)? {
        Some(run) => run,
        None => {
            let run = session
                .journal
                .latest_run()?
                .map(|r| r.id)
                .unwrap_or_default();
            return Ok(ApplyOutcome::AlreadyComplete { run });
        }
    };
    session.journal.append(
        &run.id,
        &Event::ApplyStarted {
            operator: cutover_journal::lock::operator(),
            until: opts.until.clone(),
        },
    )?;
    let exec = Executor::new(
        targets(&session.plan, &session.journal_path),
        secrets.redactor(),
    );
    let runner = Runner {
        prepared: Default::default(),
        session: &session,
        secrets: &secrets,
        exec: &exec,
        run: &run,
        ui,
        opts,
        cancel,
    };
    let result = runner.run_stages().await;
    if let Err(e) = &result {
        let reason = match e {
            EngineError::Waiting { reason, .. } => format!("waiting: {reason}"),
            other => other.to_string(),
        };
        session
            .journal
            .append(&run.id, &Event::ApplyStopped { reason })?;
    }
    let ended = matches!(result, Ok(ApplyOutcome::Completed { .. }));
    crate::tidy::tidy_hosts(&exec, &session.plan, &run.id, ended).await;
    if ended {
        exec.disconnect_all().await;
    }
    result
}

/// Resumes the newest unfinished run, or starts one; `None` when the newest run completed.
fn open_run(session: &Session, new_run: bool, ui: &dyn Ui) -> Result<Option<RunInfo>, EngineError> {
    let digest = session.plan_digest();
    if let Some((run, state)) = session.latest()? {
        match state.outcome.as_deref() {
            None if new_run => {
                return Err(EngineError::Invalid(format!(
                    "run {} is still open: finish it with `cutover apply` or undo it with `cutover rollback` before starting a new one",
                    run.id
                )))
            }
            None => {
                if let Some(before) = state.plan_digest.filter(|d| *d != digest) {
                    session.journal.append(
                        &run.id,
                        &Event::PlanChanged {
                            from: before,
                            to: digest,
                        },
                    )?;
                    ui.show(Progress::Note(
                        "the plan changed since this run began; finished steps stay finished"
                            .into(),
                    ));
                }
                ui.show(Progress::Run {
                    id: run.id.clone(),
                    resumed: true,
                });
                return Ok(Some(run));
            }
            Some("completed") if !new_run => return Ok(None),
            Some(_) => {} // rolled back, or completed with `--new-run`: start afresh
        }
    }
    let run = session.journal.create_run(&session.plan.name)?;
    session.journal.append(
        &run.id,
        &Event::RunStarted {
            plan: session.plan.name.clone(),
            plan_digest: digest,
            operator: cutover_journal::lock::operator(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
    )?;
    ui.show(Progress::Run {
        id: run.id.clone(),
        resumed: false,
    });
    Ok(Some(run))
}

struct Runner<'a> {
    /// What the steps of a coordinated move prepared before it held requests, by step id.
    prepared: crate::step::PreparedSteps,
    session: &'a Session,
    secrets: &'a Secrets,
    exec: &'a Executor,
    run: &'a RunInfo,
    ui: &'a dyn Ui,
    opts: &'a ApplyOptions,
    cancel: watch::Receiver<bool>,
}

impl Runner<'_> {
    fn state(&self) -> Result<RunState, EngineError> {
        self.session.state(self.run)
    }

    fn record(&self, event: Event) -> Result<(), EngineError> {
        self.session.journal.append(&self.run.id, &event)?;
        Ok(())
    }

    async fn run_stages(&self) -> Result<ApplyOutcome, EngineError> {
        let plan = &self.session.plan;
        let mut applied = 0;
        for stage in &plan.stages {
            let state = self.state()?;
            if stage.steps.iter().any(|s| !state.is_done(&s.id.value)) {
                self.record(Event::StageStarted {
                    stage: stage.name.value.clone(),
                })?;
                self.ui.show(Progress::Stage(stage.name.value.clone()));
                for step in &stage.steps {
                    // A data switch moved with the traffic runs inside its mover's move.
                    if plan.mover_of(&step.id.value).is_some() {
                        continue;
                    }
                    if self.run_step(stage, step).await? {
                        applied += 1;
                    }
                }
            }
            if self.opts.until.as_deref() == Some(stage.name.value.as_str()) {
                self.record(Event::ApplyStopped {
                    reason: format!("--until {}", stage.name.value),
                })?;
                return Ok(ApplyOutcome::StoppedAfter {
                    run: self.run.id.clone(),
                    stage: stage.name.value.clone(),
                });
            }
        }
        self.record(Event::RunFinished {
            outcome: "completed".into(),
        })?;
        Ok(ApplyOutcome::Completed {
            run: self.run.id.clone(),
            applied,
        })
    }

    /// Runs one step unless it is done; true when it did something.
    async fn run_step(&self, stage: &Stage, step: &Step) -> Result<bool, EngineError> {
        let state = self.state()?;
        let id = step.id.value.as_str();
        if state.is_done(id) {
            return Ok(false);
        }
        if *self.cancel.borrow() {
            return Err(EngineError::Interrupted {
                step: id.to_string(),
            });
        }
        let prior = state.step(id);
        let interrupted = prior
            .is_some_and(|p| matches!(p.status, StepStatus::InFlight | StepStatus::Waiting { .. }));
        let ended_tries = self.ended_tries(id)?;
        let attempt = prior.map_or(0, |p| p.attempts) + 1;
        self.record(Event::StepStarted {
            stage: stage.name.value.clone(),
            step: id.to_string(),
            kind: step.kind.name().into(),
            attempt,
        })?;
        let description = step.description.clone().unwrap_or_default();
        self.ui.show(Progress::StepStarted {
            step: id.into(),
            kind: step.kind.name().into(),
            description,
        });
        let state = self.state()?;
        let first_started_ms = state
            .step(id)
            .and_then(|s| s.started_ms)
            .unwrap_or_else(now_ms);
        let scope = RunScope {
            plan: &self.session.plan,
            run_id: &self.run.id,
            exec: self.exec,
            journal: self.session.journal.as_ref(),
            secrets: self.secrets,
            ui: self.ui,
            cancel: self.cancel.clone(),
            no_wait: self.opts.no_wait,
            members: Some(self),
            writable: None,
        };
        let ctx = StepCtx::new(
            &scope,
            stage,
            step,
            &state,
            ended_tries + 1,
            first_started_ms,
        );
        let prepared = self.prepared.lock().ok().and_then(|mut m| m.remove(id));
        if let (Some(p), Ok(mut slot)) = (prepared, ctx.prepared.lock()) {
            *slot = Some(p);
        }
        let started = Instant::now();
        let mut cancel = self.cancel.clone();
        let outcome = tokio::select! {
            r = crate::downtime::around(&ctx, self.drive(&ctx, interrupted)) => r,
            _ = cancel.changed() => Err(EngineError::Interrupted { step: id.to_string() }),
        };
        // A step's request to undo others (a soak's trigger) is carried out here, by the
        // loop, then fails the step like any other failure.
        let outcome = match outcome {
            Err(EngineError::RollbackRequested(req)) => {
                Err(crate::rollback::carry_out(&ctx, *req).await)
            }
            other => other,
        };
        match outcome {
            Ok(Some(summary)) => {
                let duration_ms = started.elapsed().as_millis() as u64;
                self.record(Event::StepApplied {
                    step: id.into(),
                    duration_ms,
                    summary: summary.clone(),
                })?;
                self.ui.show(Progress::StepDone {
                    step: id.into(),
                    summary,
                    seconds: duration_ms as f64 / 1000.0,
                });
                Ok(true)
            }
            Ok(None) => {
                let reason = "already in place (its check passed)".to_string();
                self.record(Event::StepSkipped {
                    step: id.into(),
                    reason: reason.clone(),
                })?;
                self.ui.show(Progress::StepSkipped {
                    step: id.into(),
                    reason,
                });
                Ok(false)
            }
            Err(e @ (EngineError::Waiting { .. } | EngineError::Interrupted { .. })) => Err(e),
            // Not a failed try: its command may still be running, and the next `apply`
            // re-attaches to it (same invocation) instead of running it again.
            Err(e @ EngineError::HostLost { .. }) => {
                self.ui.show(Progress::StepFailed {
                    step: id.into(),
                    error: e.to_string(),
                });
                Err(e)
            }
            Err(e) => {
                let error = e.to_string();
                self.record(Event::StepFailed {
                    step: id.into(),
                    error: error.clone(),
                })?;
                self.ui.show(Progress::StepFailed {
                    step: id.into(),
                    error,
                });
                let done = self
                    .state()?
                    .steps
                    .iter()
                    .filter(|s| s.status == StepStatus::Applied)
                    .count();
                self.ui.show(Progress::Note(format!(
                    "the run stopped before the next step; fix the cause and run `cutover apply` to retry `{id}`, or `cutover rollback` to undo the {done} applied step(s)"
                )));
                Err(e)
            }
        }
    }

    /// Applies a step; `None` when its effect was already in place.
    async fn drive(
        &self,
        ctx: &StepCtx<'_>,
        interrupted: bool,
    ) -> Result<Option<String>, EngineError> {
        let r = runner(&ctx.step.kind);
        // A prepared step (in a coordinated move) was checked before requests were held.
        let checked = ctx.is_prepared() || (interrupted && r.reattaches());
        if !checked && r.verify(ctx).await? == Verified::InPlace {
            // In place after this run's own attempt was cut off: that attempt made it, so it
            // is journaled as applied and a rollback undoes it (a skip would not be undone).
            if interrupted {
                return Ok(Some(
                    "found in place on resume: made by the interrupted attempt".into(),
                ));
            }
            return Ok(None);
        }
        match r.apply(ctx).await? {
            Applied::Done { summary } => Ok(Some(summary)),
        }
    }

    /// The scope of this apply, for undoing steps.
    fn undo_scope(&self) -> RunScope<'_> {
        RunScope {
            plan: &self.session.plan,
            run_id: &self.run.id,
            exec: self.exec,
            journal: self.session.journal.as_ref(),
            secrets: self.secrets,
            ui: self.ui,
            cancel: self.cancel.clone(),
            no_wait: true,
            members: None,
            writable: None,
        }
    }

    /// How many tries of step `id` in this run came to an end: failed, or undone (or not)
    /// by a rollback. A new try gets new ids for its tracked commands, so that it runs them
    /// again rather than replaying an ended try's outcome; an interrupted try does not end
    /// one, so its resume re-attaches.
    fn ended_tries(&self, id: &str) -> Result<u32, EngineError> {
        let events = self.session.journal.events(&self.run.id)?;
        Ok(events
            .iter()
            .filter(|r| match &r.event {
                Event::StepFailed { step, .. }
                | Event::StepRolledBack { step, .. }
                | Event::StepRollbackFailed { step, .. } => step == id,
                _ => false,
            })
            .count() as u32)
    }
}

/// The apply loop runs and undoes the steps of a coordinated move for its mover.
#[async_trait::async_trait]
impl crate::context::Members for Runner<'_> {
    async fn prepare(&self, ids: &[String]) -> Result<(), EngineError> {
        let state = self.state()?;
        for id in ids {
            if state.is_done(id) {
                continue;
            }
            let Some((stage, step)) = self.session.plan.steps().find(|(_, s)| &s.id.value == id)
            else {
                return Err(EngineError::Invalid(format!("no step `{id}` to move")));
            };
            let scope = self.undo_scope();
            let ctx = StepCtx::new(
                &scope,
                stage,
                step,
                &state,
                self.ended_tries(id)? + 1,
                now_ms(),
            );
            if let Some(p) = runner(&step.kind).prepare(&ctx).await? {
                if let Ok(mut m) = self.prepared.lock() {
                    m.insert(id.clone(), p);
                }
            }
        }
        Ok(())
    }

    async fn apply(&self, ids: &[String]) -> Result<(), EngineError> {
        for id in ids {
            let Some((stage, step)) = self.session.plan.steps().find(|(_, s)| &s.id.value == id)
            else {
                return Err(EngineError::Invalid(format!("no step `{id}` to move")));
            };
            self.run_step(stage, step).await?;
        }
        Ok(())
    }

    /// The loop undoes a move's steps only when the move failed forward, while requests
    /// are held already: nothing to do ahead of it.
    async fn prepare_undo(&self, _ids: &[String]) -> Result<(), EngineError> {
        Ok(())
    }

    async fn undo(
        &self,
        ids: &[String],
        writable: Option<&crate::writable::WritableAgain>,
    ) -> Result<Vec<String>, EngineError> {
        crate::rollback::undo_steps(&self.undo_scope(), self.run.clone(), ids, writable, None).await
    }
}
