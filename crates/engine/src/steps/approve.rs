//! `approve`: a human gate. The approval is journaled by `cutover approve` (from any shell,
//! even before the run reaches the gate); `apply` waits for it, polling the journal.

use crate::context::{StepCtx, Values};
use crate::error::EngineError;
use crate::step::{Applied, StepRunner, Verified};
use crate::ui::Progress;
use async_trait::async_trait;
use cutover_journal::{Event, RunState};
use cutover_plan::steps::ApproveStep;
use std::time::{Duration, Instant};

pub(crate) struct Approve<'a>(pub &'a ApproveStep);

const POLL: Duration = Duration::from_millis(500);

/// The first approval of gate `gate` in `state` by one of its allowed approvers, as the
/// gate's summary (`approved by NAME: comment`).
pub(crate) fn accepted(gate: &ApproveStep, id: &str, state: &RunState) -> Option<String> {
    state.approvals.get(id).and_then(|list| {
        list.iter()
            .find(|a| gate.approvers.is_empty() || gate.approvers.contains(&a.by))
            .map(|a| match &a.comment {
                Some(c) => format!("approved by {}: {c}", a.by),
                None => format!("approved by {}", a.by),
            })
    })
}

impl Approve<'_> {
    /// The first approval of this gate by an allowed approver.
    fn approval(&self, ctx: &StepCtx<'_>) -> Result<Option<String>, EngineError> {
        let run = ctx.state.run.clone();
        let state = RunState::fold(run, &ctx.journal.events(ctx.run_id)?);
        Ok(accepted(self.0, ctx.id(), &state))
    }
}

#[async_trait]
impl StepRunner for Approve<'_> {
    fn plan(&self, values: &Values<'_>) -> Result<Vec<String>, EngineError> {
        let mut line = "wait for `cutover approve ID --by NAME`".to_string();
        if let Some(m) = &self.0.message {
            let m = super::show(m, values)?;
            line = format!("{line}: {m}");
        }
        if !self.0.approvers.is_empty() {
            line = format!("{line} (approvers: {})", self.0.approvers.join(", "));
        }
        Ok(vec![line])
    }

    async fn verify(&self, _: &StepCtx<'_>) -> Result<Verified, EngineError> {
        Ok(Verified::Unknown)
    }

    async fn apply(&self, ctx: &StepCtx<'_>) -> Result<Applied, EngineError> {
        if let Some(summary) = self.approval(ctx)? {
            return Ok(Applied::Done { summary });
        }
        let message = match &self.0.message {
            Some(m) => format!(" ({})", ctx.render(m)?),
            None => String::new(),
        };
        let reason = format!(
            "approval: run `cutover approve {} --by NAME [--comment TEXT]`{message}",
            ctx.id(),
        );
        ctx.record(Event::StepWaiting {
            step: ctx.id().to_string(),
            reason: reason.clone(),
            until_ms: None,
        })?;
        ctx.ui.show(Progress::Waiting {
            step: ctx.id().to_string(),
            reason: reason.clone(),
        });
        let waiting = |reason: String| EngineError::Waiting {
            step: ctx.id().to_string(),
            reason,
        };
        if ctx.no_wait {
            return Err(waiting(reason));
        }
        let started = Instant::now();
        let mut cancel = ctx.cancel.clone();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = cancel.changed() => return Err(EngineError::Interrupted { step: ctx.id().to_string() }),
            }
            if let Some(summary) = self.approval(ctx)? {
                return Ok(Applied::Done { summary });
            }
            if self.0.timeout.is_some_and(|t| started.elapsed() >= t) {
                return Err(waiting(format!(
                    "no approval within the gate's timeout; {reason}"
                )));
            }
        }
    }

    async fn rollback(&self, _: &StepCtx<'_>) -> Result<Option<String>, EngineError> {
        Ok(None)
    }
}
