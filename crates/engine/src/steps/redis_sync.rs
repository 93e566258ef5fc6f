//! `redis.sync`: the target follows the source by replication; the preflight refuses before
//! anything changes, the target's previous role is journaled first, the full sync is watched
//! and its stages journaled; the runner common to every store's sync
//! ([`StoreSync`](super::store_sync::StoreSync)) watches the lag and concludes. Rollback
//! (before the switch) restores the role.

use super::redis::{describe, failed, open, server_address};
use super::store_sync::Syncer;
use super::traffic::{load_state, save_state};
use crate::context::{StepCtx, Values};
use crate::error::EngineError;
use crate::progress::{ProgressSampler, Sample};
use async_trait::async_trait;
use cutover_data::redis::sync::Lag;
use cutover_data::redis::sync_stage::SyncStage;
use cutover_data::redis::{Pair, Previous, SyncOptions, SyncReport};
use cutover_plan::steps::RedisSyncStep;
use std::sync::Mutex;
use std::time::Duration;

pub(crate) struct RedisSync<'a>(pub &'a RedisSyncStep);

/// The journaled role of the target before the sync.
pub(crate) const PREVIOUS: &str = "redis_previous_role";

/// The sync's options with real values (the switch step uses them too).
pub(crate) async fn options(
    ctx: &StepCtx<'_>,
    s: &RedisSyncStep,
) -> Result<SyncOptions, EngineError> {
    let mut o = SyncOptions {
        replace: s.replace,
        ..SyncOptions::default()
    };
    o.source_address = match &s.source_address {
        Some(a) => ctx.render(a)?,
        None => server_address(ctx, &s.source, "source_address").await?,
    };
    if let Some(kb) = s.max_lag_kb {
        o.max_lag_bytes = kb << 10;
    }
    if let Some(t) = s.timeout {
        o.timeout = t;
    }
    if let Some(t) = s.link_timeout {
        o.link_timeout = t;
    }
    Ok(o)
}

#[async_trait]
impl Syncer for RedisSync<'_> {
    type Report = SyncReport;
    /// Both servers' agents, kept open while the step watches.
    type Watch = Pair;
    const LAG_UNKNOWN: &'static str = "the link is down or a full sync runs again";

    fn plan(&self, values: &Values<'_>) -> Result<Vec<String>, EngineError> {
        let s = self.0;
        Ok(vec![
            format!("replicate {} into {}", describe(values, &s.source)?, describe(values, &s.target)?),
            format!("preflight: versions and RDB formats, roles, {}, renamed commands, maxmemory, databases", if s.replace { "the target's keys replaced (replace = true)" } else { "an empty target" }),
            "the target gets the source's credentials (CONFIG SET masterauth) and REPLICAOF the source; an empty target loads straight from the socket (repl-diskless-load on-empty-db, restored when in sync)".into(),
            format!("full sync watched, then the lag under {} KB", s.max_lag_kb.unwrap_or(1024)),
            "undo (before the switch): the target's previous role restored and the copied keys removed".into(),
        ])
    }

    async fn running(&self, ctx: &StepCtx<'_>) -> Result<bool, EngineError> {
        let o = options(ctx, self.0).await?;
        let mut pair = open(ctx, &self.0.source, &self.0.target).await?;
        let running = pair.is_syncing(&o).await;
        pair.close().await;
        running.map_err(|e| failed(ctx, e))
    }

    async fn start(&self, ctx: &StepCtx<'_>) -> Result<(Pair, SyncReport), EngineError> {
        let o = options(ctx, self.0).await?;
        let mut pair = open(ctx, &self.0.source, &self.0.target).await?;
        match follow(ctx, &mut pair, &o).await {
            Ok(report) => Ok((pair, report)),
            Err(e) => {
                pair.close().await;
                Err(e)
            }
        }
    }

    async fn lag(&self, ctx: &StepCtx<'_>, pair: &mut Pair) -> Result<Option<Lag>, EngineError> {
        pair.lag().await.map_err(|e| failed(ctx, e))
    }

    async fn close(pair: Pair) {
        pair.close().await;
    }

    fn watch(&self) -> Option<Duration> {
        self.0.watch
    }

    /// Acts on what it finds (the target following the source) with the role journaled
    /// before the change, and does nothing otherwise: a sync that failed after the target
    /// began to follow the source is undone too.
    async fn undo(&self, ctx: &StepCtx<'_>) -> Result<String, EngineError> {
        let o = options(ctx, self.0).await?;
        let previous: Option<Previous> = load_state(ctx, ctx.id(), PREVIOUS)?;
        let mut pair = open(ctx, &self.0.source, &self.0.target).await?;
        let done = pair.undo_sync(&o, previous.as_ref()).await;
        pair.close().await;
        done.map_err(|e| failed(ctx, e))
    }
}

/// The preflight, the target's previous role journaled, the target made to follow the
/// source (unless it does already), and the full sync watched to the end, its stages
/// journaled as progress.
async fn follow(
    ctx: &StepCtx<'_>,
    pair: &mut Pair,
    o: &SyncOptions,
) -> Result<SyncReport, EngineError> {
    let pre = pair.preflight(o).await.map_err(|e| failed(ctx, e))?;
    for w in &pre.warnings {
        ctx.detail(format!("warning: {w}"));
    }
    if pre.running {
        ctx.detail("the target follows the source already: watching it");
    } else {
        // Before anything changes, so rollback restores it even after a crash.
        save_state(ctx, PREVIOUS, &pre.previous)?;
        pair.start_sync(o).await.map_err(|e| failed(ctx, e))?;
    }
    let show = |line: String| ctx.detail(line);
    let sampler = Mutex::new(ProgressSampler::default());
    let journal_error = Mutex::new(None);
    let stages = |stage: SyncStage| {
        let figures;
        let sample = match stage {
            SyncStage::Receiving { read, total } => Sample {
                unit: "bytes",
                done: read as f64,
                total: total.map(|t| t as f64),
                figures: &[],
            },
            SyncStage::Loading { percent, keys } => {
                figures = [("keys", keys as f64)];
                Sample {
                    unit: "% loaded",
                    done: percent,
                    total: Some(100.0),
                    figures: &figures,
                }
            }
            SyncStage::LinkDown { .. } | SyncStage::Following { .. } => return,
        };
        let r = lock(&sampler).offer(ctx, sample);
        if let Err(e) = r {
            lock(&journal_error).get_or_insert(e);
        }
    };
    let watched = pair.watch_sync_staged(o, &show, &stages).await;
    if let Some(e) = lock(&journal_error).take() {
        return Err(e);
    }
    watched.map_err(|e| failed(ctx, e))
}

/// A lock, also one a panicking holder left (what it guards stays consistent).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
