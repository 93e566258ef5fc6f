//! `mysql.sync`: the target of a `mysql.copy` replicates from its source, starting at the
//! copy's journaled snapshot position, watched until caught up; the runner common to every
//! store's sync ([`StoreSync`](super::store_sync::StoreSync)) watches the lag and concludes.
//! Undo stops and removes the replication and puts back what the target was (journaled
//! before any change).

use super::mysql::{copy_positions, copy_step, describe, endpoint, failed, server_address};
use super::store_sync::Syncer;
use super::traffic::{load_state, save_state};
use crate::context::{StepCtx, Values};
use crate::error::EngineError;
use async_trait::async_trait;
use cutover_data::mysql::replication::Primary;
use cutover_data::mysql::sync::{self, Lag, Previous, SyncOptions};
use cutover_data::mysql::Endpoint;
use cutover_exec::SecretValue;
use cutover_plan::steps::{MysqlCopyStep, MysqlSyncStep};
use std::sync::Mutex;
use std::time::Duration;

pub(crate) struct MysqlSync<'a>(pub &'a MysqlSyncStep);

/// The replication account and the source as the target's server reaches it.
pub(crate) async fn primary(
    ctx: &StepCtx<'_>,
    s: &MysqlSyncStep,
    copy: &MysqlCopyStep,
) -> Result<Primary, EngineError> {
    let (address, port) = match &s.source_address {
        Some(a) => (ctx.render(a)?, copy.source.port.unwrap_or(3306)),
        None => server_address(ctx, &copy.source, "source_address").await?,
    };
    Ok(Primary {
        address,
        port: s.source_port.unwrap_or(port),
        user: match &s.replication_user {
            Some(u) => ctx.render(u)?,
            None => "repl".into(),
        },
        password: match &s.replication_password {
            Some(p) => Some(SecretValue::new(ctx.render(p)?)),
            None => None,
        },
    })
}

/// The sync's endpoints (its copy's) and options.
pub(crate) async fn setup(
    ctx: &StepCtx<'_>,
    s: &MysqlSyncStep,
) -> Result<(Endpoint, Endpoint, SyncOptions), EngineError> {
    let copy = copy_step(ctx.plan, &s.copy.value)?;
    let (start, converge) = copy_positions(ctx, &s.copy.value)?;
    let o = SyncOptions {
        databases: copy.databases.iter().map(|d| d.value.clone()).collect(),
        primary: primary(ctx, s, copy).await?,
        start,
        converge,
        allow_no_primary_key: s.allow_no_primary_key,
        max_behind: s.max_behind.unwrap_or(100),
        timeout: s.timeout.unwrap_or(Duration::from_secs(24 * 3600)),
        agent: super::files_verify::agent(ctx)?,
    };
    Ok((
        endpoint(ctx, &copy.source).await?,
        endpoint(ctx, &copy.target).await?,
        o,
    ))
}

#[async_trait]
impl Syncer for MysqlSync<'_> {
    type Report = sync::SyncReport;
    /// Both servers' agents, kept open while the step watches.
    type Watch = sync::Watch;

    fn plan(&self, values: &Values<'_>) -> Result<Vec<String>, EngineError> {
        let s = self.0;
        let copy = copy_step(values.plan, &s.copy.value)?;
        Ok(vec![
            format!(
                "replicate {} into {} from the snapshot position step `{}` journaled (GTID on MariaDB), only its databases; the target read-only meanwhile",
                describe(values, &copy.source)?,
                describe(values, &copy.target)?,
                s.copy.value
            ),
            "preflight: the source's binary log on in ROW format, distinct server ids, a primary key on every table, the replication account logging in from the target's host".into(),
            format!("done once at most {} transaction(s) behind", s.max_behind.unwrap_or(100)),
            "undo (before the switch): replication stopped and removed, the target's read_only and filter put back".into(),
        ])
    }

    async fn running(&self, _ctx: &StepCtx<'_>) -> Result<bool, EngineError> {
        // Applying again never resets a running replication: it checks it and watches.
        Ok(false)
    }

    async fn start(
        &self,
        ctx: &StepCtx<'_>,
    ) -> Result<(sync::Watch, sync::SyncReport), EngineError> {
        let (source, target, o) = setup(ctx, self.0).await?;
        replicate(ctx, &source, &target, &o).await?;
        let mut watch = sync::Watch::open(ctx.exec, &o.agent, &source, &target)
            .await
            .map_err(|e| failed(ctx, e))?;
        let shown = |l: &Lag| ctx.detail(format!("lag: {}", l.line()));
        match watch.caught_up(&o, Duration::from_secs(1), &shown).await {
            Ok(lag) => Ok((watch, sync::SyncReport::new(&o, lag))),
            Err(e) => {
                watch.close().await;
                Err(failed(ctx, e))
            }
        }
    }

    async fn lag(
        &self,
        ctx: &StepCtx<'_>,
        watch: &mut sync::Watch,
    ) -> Result<Option<Lag>, EngineError> {
        watch.lag().await.map(Some).map_err(|e| failed(ctx, e))
    }

    async fn close(watch: sync::Watch) {
        watch.close().await;
    }

    fn watch(&self) -> Option<Duration> {
        self.0.watch
    }

    async fn undo(&self, ctx: &StepCtx<'_>) -> Result<String, EngineError> {
        let copy = copy_step(ctx.plan, &self.0.copy.value)?;
        let target = endpoint(ctx, &copy.target).await?;
        let previous: Option<Previous> = load_state(ctx, ctx.id(), "previous")?;
        sync::undo(
            ctx.exec,
            &target,
            previous.as_ref(),
            &super::files_verify::agent(ctx)?,
        )
        .await
        .map_err(|e| failed(ctx, e))
    }
}

/// Starts replication (or finds it running), journaling what the target was before the
/// first change (kept from the first attempt: a retry must not journal its own change).
async fn replicate(
    ctx: &StepCtx<'_>,
    source: &Endpoint,
    target: &Endpoint,
    o: &SyncOptions,
) -> Result<(), EngineError> {
    let journal_error: Mutex<Option<EngineError>> = Mutex::new(None);
    let keep_previous = |p: &Previous| {
        let r = match load_state::<Previous>(ctx, ctx.id(), "previous") {
            Ok(Some(_)) => Ok(()),
            Ok(None) => save_state(ctx, "previous", p),
            Err(e) => Err(e),
        };
        if let Err(e) = r {
            journal_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_or_insert(e);
        }
    };
    let show = |line: String| ctx.detail(line);
    let started = sync::start(ctx.exec, source, target, o, &keep_previous, &show).await;
    if let Some(e) = journal_error
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
    {
        return Err(e);
    }
    started.map(|_| ()).map_err(|e| failed(ctx, e))
}
