//! The one runner of every store's switch step (`postgres.switch`, `redis.switch`,
//! `mysql.switch`): the store switches its writes from source to target and undoes that
//! ([`Switcher`]); this runner gives every switch the same shape: applied again when
//! resumed, undone also when it failed part-way (the store reads how far it got), the
//! store's work ahead of a coordinated move's held requests handed to its switch and undo,
//! an undo refused once a finish of the switch began, and the window in which writes waited
//! journaled as a measure and as an outage on the timeline, with the catch-up, the store's
//! own figures and one summary line. A switch finished by a resumed attempt measured nothing
//! and says so.

use crate::context::{StepCtx, Values};
use crate::error::EngineError;
use crate::step::{Applied, Prepared, StepRunner, Verified};
use async_trait::async_trait;
use cutover_data::store::Switched;

/// One store's side of a switch step.
#[async_trait]
pub(crate) trait Switcher: Send + Sync {
    /// What the store reports once the target is the primary.
    type Report: Switched;

    /// What [`prepare`](Switcher::prepare) made ready for the switch.
    type Ready: Send + 'static;

    /// What [`prepare_undo`](Switcher::prepare_undo) made ready for the undo.
    type ReadyUndo: Send + 'static;

    /// For `cutover plan`: the freeze, the catch-up, the promotion, the reverse replication.
    fn plan(&self, values: &Values<'_>) -> Result<Vec<String>, EngineError>;

    /// True when the target is the primary and the forward replication is gone.
    async fn is_switched(&self, ctx: &StepCtx<'_>) -> Result<bool, EngineError>;

    /// The part of the switch done before a coordinated move holds requests (checks,
    /// connections); `None` (the default) when the store does all its work in the switch.
    async fn prepare(&self, _ctx: &StepCtx<'_>) -> Result<Option<Self::Ready>, EngineError> {
        Ok(None)
    }

    /// Switches (finishing what an interrupted attempt began, or finding it finished), from
    /// what `prepare` made ready when it ran, saying progress through `ctx.detail`.
    async fn switch(
        &self,
        ctx: &StepCtx<'_>,
        ready: Option<Self::Ready>,
    ) -> Result<Self::Report, EngineError>;

    /// The part of the undo done before a move back holds requests; `None` by default.
    async fn prepare_undo(
        &self,
        _ctx: &StepCtx<'_>,
    ) -> Result<Option<Self::ReadyUndo>, EngineError> {
        Ok(None)
    }

    /// Gives the source its writes back wherever an attempt stopped; says what was done.
    async fn undo(
        &self,
        ctx: &StepCtx<'_>,
        ready: Option<Self::ReadyUndo>,
    ) -> Result<Option<String>, EngineError>;
}

/// A switch step of the store `S`.
pub(crate) struct StoreSwitch<S>(pub S);

#[async_trait]
impl<S: Switcher> StepRunner for StoreSwitch<S> {
    fn plan(&self, values: &Values<'_>) -> Result<Vec<String>, EngineError> {
        self.0.plan(values)
    }

    async fn verify(&self, ctx: &StepCtx<'_>) -> Result<Verified, EngineError> {
        Ok(if self.0.is_switched(ctx).await? {
            Verified::InPlace
        } else {
            Verified::NotInPlace
        })
    }

    /// A resumed switch is applied again, not verified: the store finishes what an
    /// interrupted attempt left (or finds it finished), and the step is journaled as
    /// applied. Found "in place" it would be journaled as skipped, and `cutover rollback`
    /// (which undoes only what the run applied) would leave the source frozen.
    fn reattaches(&self) -> bool {
        true
    }

    /// Every store reads how far an attempt got (the target's marker, the servers'
    /// replication state, the journaled promotion): a switch killed or failed part-way is
    /// undone too, so `cutover rollback` straight after a crash inside the freeze gives the
    /// source its writes back.
    fn undoes_failed(&self) -> bool {
        true
    }

    async fn prepare(&self, ctx: &StepCtx<'_>) -> Result<Option<Prepared>, EngineError> {
        Ok(self
            .0
            .prepare(ctx)
            .await?
            .map(|ready| Box::new(ready) as Prepared))
    }

    async fn apply(&self, ctx: &StepCtx<'_>) -> Result<Applied, EngineError> {
        let ready = ctx.take_prepared::<S::Ready>().map(|r| *r);
        let report = self.0.switch(ctx, ready).await?;
        for note in report.notes() {
            ctx.detail(format!("note: {note}"));
        }
        conclude(ctx, &report)
    }

    async fn prepare_undo(&self, ctx: &StepCtx<'_>) -> Result<Option<Prepared>, EngineError> {
        Ok(self
            .0
            .prepare_undo(ctx)
            .await?
            .map(|ready| Box::new(ready) as Prepared))
    }

    async fn rollback(&self, ctx: &StepCtx<'_>) -> Result<Option<String>, EngineError> {
        super::store_finish::refuse_undo(ctx, ctx.id())?;
        let ready = ctx.take_prepared::<S::ReadyUndo>().map(|r| *r);
        self.0.undo(ctx, ready).await
    }
}

/// Journals a store's finished switch and gives the step's summary.
fn conclude<S: Switched>(ctx: &StepCtx<'_>, report: &S) -> Result<Applied, EngineError> {
    let summary = format!("target is the primary: {}", report.summary());
    if report.resumed() {
        return Ok(Applied::Done { summary });
    }
    let (measure, outage) = report.window_names();
    let (from_ms, seconds) = report.window();
    ctx.measure(measure, seconds, "s")?;
    ctx.outage(outage, from_ms, from_ms + (seconds * 1000.0).round() as i64)?;
    ctx.measure("catch_up", report.catch_up(), "s")?;
    for f in report.figures() {
        ctx.measure(f.name, f.value, f.unit)?;
    }
    Ok(Applied::Done { summary })
}

#[cfg(test)]
#[path = "store_switch_tests.rs"]
mod tests;
