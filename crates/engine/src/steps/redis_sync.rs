//! `redis.sync`: the target follows the source by replication; the preflight refuses before
//! anything changes, the target's previous role is journaled first, the full sync and then
//! the lag are watched and journaled. Rollback (before the switch) restores the role.

use super::redis::{describe, failed, open, server_address};
use super::traffic::{load_state, save_state};
use crate::context::{StepCtx, Values};
use crate::error::EngineError;
use crate::progress::{ProgressSampler, Sample};
use crate::step::{Applied, StepRunner, Verified};
use async_trait::async_trait;
use cutover_data::redis::sync_stage::SyncStage;
use cutover_data::redis::{Previous, SyncOptions};
use cutover_plan::steps::RedisSyncStep;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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
impl StepRunner for RedisSync<'_> {
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

    async fn verify(&self, ctx: &StepCtx<'_>) -> Result<Verified, EngineError> {
        let o = options(ctx, self.0).await?;
        let mut pair = open(ctx, &self.0.source, &self.0.target).await?;
        let running = pair.is_syncing(&o).await;
        pair.close().await;
        Ok(if running.map_err(|e| failed(ctx, e))? {
            Verified::InPlace
        } else {
            Verified::NotInPlace
        })
    }

    /// A sync that failed after the target began to follow the source is undone too: the
    /// undo acts on what it finds (the target following the source) with the role journaled
    /// before the change, and does nothing otherwise.
    fn undoes_failed(&self) -> bool {
        true
    }

    async fn apply(&self, ctx: &StepCtx<'_>) -> Result<Applied, EngineError> {
        let o = options(ctx, self.0).await?;
        let mut pair = open(ctx, &self.0.source, &self.0.target).await?;
        let result = async {
            let pre = pair.preflight(&o).await.map_err(|e| failed(ctx, e))?;
            for w in &pre.warnings {
                ctx.detail(format!("warning: {w}"));
            }
            if pre.running {
                ctx.detail("the target follows the source already: watching it");
            } else {
                // Before anything changes, so rollback restores it even after a crash.
                save_state(ctx, PREVIOUS, &pre.previous)?;
                pair.start_sync(&o).await.map_err(|e| failed(ctx, e))?;
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
            let watched = pair.watch_sync_staged(&o, &show, &stages).await;
            if let Some(e) = lock(&journal_error).take() {
                return Err(e);
            }
            let report = watched.map_err(|e| failed(ctx, e))?;
            let mut worst = report.lag;
            ctx.sample("lag", &[("bytes", worst.bytes as f64)])?;
            if let Some(watch) = self.0.watch {
                let end = Instant::now() + watch;
                while Instant::now() < end {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    match pair.lag().await.map_err(|e| failed(ctx, e))? {
                        Some(l) => {
                            ctx.detail(format!("lag: {} bytes", l.bytes));
                            ctx.sample("lag", &[("bytes", l.bytes as f64)])?;
                            worst.bytes = worst.bytes.max(l.bytes);
                        }
                        None => ctx.detail("lag: the link is down or a full sync runs again"),
                    }
                }
            }
            ctx.measure("keys", report.keys as f64, "keys")?;
            ctx.measure("full_sync_bytes", report.full_sync_bytes as f64, "bytes")?;
            ctx.measure("full_syncs", report.full_syncs as f64, "syncs")?;
            ctx.measure("partial_resyncs", report.partial_resyncs as f64, "syncs")?;
            ctx.measure("sync_seconds", report.seconds, "s")?;
            ctx.measure("lag_bytes", worst.bytes as f64, "bytes")?;
            Ok(Applied::Done {
                summary: format!(
                    "{} keys replicated from {} to {} in {:.1}s ({} full sync(s), {} partial resync(s)); {} bytes behind",
                    report.keys, report.source_version, report.target_version, report.seconds, report.full_syncs, report.partial_resyncs, worst.bytes
                ),
            })
        }
        .await;
        pair.close().await;
        result
    }

    async fn rollback(&self, ctx: &StepCtx<'_>) -> Result<Option<String>, EngineError> {
        let o = options(ctx, self.0).await?;
        let previous: Option<Previous> = load_state(ctx, ctx.id(), PREVIOUS)?;
        let mut pair = open(ctx, &self.0.source, &self.0.target).await?;
        let done = pair.undo_sync(&o, previous.as_ref()).await;
        pair.close().await;
        done.map(Some).map_err(|e| failed(ctx, e))
    }
}

/// A lock, also one a panicking holder left (what it guards stays consistent).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
