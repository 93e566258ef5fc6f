//! The one runner of every store's sync step (`postgres.sync`, `redis.sync`, `mysql.sync`):
//! the store starts its replication and waits for the target to catch up ([`Syncer`]); this
//! runner then shows what the sync changed, journals the store's figures, samples the lag
//! every second for the step's `watch`, journals the worst lag and concludes, so that every
//! sync behaves the same and a new store writes only how it starts and reads its lag.

use crate::context::{StepCtx, Values};
use crate::error::EngineError;
use crate::step::{Applied, StepRunner, Verified};
use async_trait::async_trait;
use cutover_data::proof::Figure;
use cutover_data::synced::{SyncLag, Synced};
use std::time::{Duration, Instant};

/// How often the lag is read while the step watches.
const EVERY: Duration = Duration::from_secs(1);

/// The lag of one store's sync.
type LagOf<S> = <<S as Syncer>::Report as Synced>::Lag;

/// One store's side of a sync step.
#[async_trait]
pub(crate) trait Syncer: Send + Sync {
    /// What the store reports once the target has caught up.
    type Report: Synced;

    /// What reads the lag while the step watches (connections kept open).
    type Watch: Send;

    /// Shown when a lag cannot be read for now (the store's lag reader gave none).
    const LAG_UNKNOWN: &'static str = "unknown";

    /// For `cutover plan`: what the sync does, its preflight and its undo.
    fn plan(&self, values: &Values<'_>) -> Result<Vec<String>, EngineError>;

    /// True when the sync runs already (the step is in place).
    async fn running(&self, ctx: &StepCtx<'_>) -> Result<bool, EngineError>;

    /// Starts the sync (or finds it running), journaling first what its undo needs, and
    /// waits until the target has caught up, saying progress through `ctx.detail`. Closes
    /// what it opened when it fails.
    async fn start(&self, ctx: &StepCtx<'_>) -> Result<(Self::Watch, Self::Report), EngineError>;

    /// The lag now; `None` when it cannot be read for now.
    async fn lag(
        &self,
        ctx: &StepCtx<'_>,
        watch: &mut Self::Watch,
    ) -> Result<Option<LagOf<Self>>, EngineError>;

    /// Closes what `start` left open.
    async fn close(watch: Self::Watch);

    /// How long the step keeps watching the lag once caught up (the plan's `watch`).
    fn watch(&self) -> Option<Duration>;

    /// Stops the sync and puts back what it changed; says what was done.
    async fn undo(&self, ctx: &StepCtx<'_>) -> Result<String, EngineError>;
}

/// A sync step of the store `S`.
pub(crate) struct StoreSync<S>(pub S);

#[async_trait]
impl<S: Syncer> StepRunner for StoreSync<S> {
    fn plan(&self, values: &Values<'_>) -> Result<Vec<String>, EngineError> {
        self.0.plan(values)
    }

    async fn verify(&self, ctx: &StepCtx<'_>) -> Result<Verified, EngineError> {
        Ok(if self.0.running(ctx).await? {
            Verified::InPlace
        } else {
            Verified::NotInPlace
        })
    }

    /// Every store's undo acts on what it finds in place (with what was journaled before
    /// anything changed): a sync that failed part-way, its replication maybe running, is
    /// undone too, and one that changed nothing is left alone.
    fn undoes_failed(&self) -> bool {
        true
    }

    async fn apply(&self, ctx: &StepCtx<'_>) -> Result<Applied, EngineError> {
        let (mut watch, report) = self.0.start(ctx).await?;
        let result = follow(&self.0, ctx, &mut watch, &report).await;
        S::close(watch).await;
        result
    }

    async fn rollback(&self, ctx: &StepCtx<'_>) -> Result<Option<String>, EngineError> {
        self.0.undo(ctx).await.map(Some)
    }
}

/// Journals a caught-up sync, watches its lag for the step's `watch` and concludes.
async fn follow<S: Syncer>(
    syncer: &S,
    ctx: &StepCtx<'_>,
    watch: &mut S::Watch,
    report: &S::Report,
) -> Result<Applied, EngineError> {
    for note in report.notes() {
        ctx.detail(note);
    }
    measure(ctx, report.figures())?;
    let mut worst = report.lag();
    ctx.sample("lag", &worst.sample())?;
    if let Some(duration) = syncer.watch() {
        let end = Instant::now() + duration;
        while Instant::now() < end {
            tokio::time::sleep(EVERY).await;
            match syncer.lag(ctx, watch).await? {
                Some(lag) => {
                    ctx.detail(format!("lag: {}", lag.line()));
                    ctx.sample("lag", &lag.sample())?;
                    if lag.behind(&worst) {
                        worst = lag;
                    }
                }
                None => ctx.detail(format!("lag: {}", S::LAG_UNKNOWN)),
            }
        }
    }
    measure(ctx, worst.figures())?;
    Ok(Applied::Done {
        summary: report.summary(&worst),
    })
}

fn measure(ctx: &StepCtx<'_>, figures: Vec<Figure>) -> Result<(), EngineError> {
    for f in figures {
        ctx.measure(f.name, f.value, f.unit)?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "store_sync_tests.rs"]
mod tests;
