//! `mysql.sync`: the target of a `mysql.copy` replicates from its source, starting at the
//! copy's journaled snapshot position; the lag is shown and journaled. Undo stops and
//! removes the replication and puts back what the target was (journaled before any change).

use super::mysql::{copy_positions, copy_step, describe, endpoint, failed, server_address};
use super::traffic::{load_state, save_state};
use crate::context::{StepCtx, Values};
use crate::error::EngineError;
use crate::step::{Applied, StepRunner, Verified};
use async_trait::async_trait;
use cutover_data::mysql::replication::Primary;
use cutover_data::mysql::sync::{self, Previous, SyncOptions};
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
impl StepRunner for MysqlSync<'_> {
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

    fn undoes_failed(&self) -> bool {
        true
    }

    async fn verify(&self, _ctx: &StepCtx<'_>) -> Result<Verified, EngineError> {
        // Applying again never resets a running replication: it checks it and watches.
        Ok(Verified::NotInPlace)
    }

    async fn apply(&self, ctx: &StepCtx<'_>) -> Result<Applied, EngineError> {
        let (source, target, o) = setup(ctx, self.0).await?;
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
        let started = sync::start(ctx.exec, &source, &target, &o, &keep_previous, &show).await;
        if let Some(e) = journal_error
            .into_inner()
            .unwrap_or_else(|p| p.into_inner())
        {
            return Err(e);
        }
        started.map_err(|e| failed(ctx, e))?;
        let shown = |l: &sync::Lag| ctx.detail(format!("lag: {}", l.line()));
        let hold = self.0.watch.unwrap_or(Duration::ZERO);
        let worst = sync::watch(
            ctx.exec,
            &source,
            &target,
            &o,
            Duration::from_secs(1),
            hold,
            &shown,
        )
        .await
        .map_err(|e| failed(ctx, e))?;
        ctx.measure(
            "lag_transactions",
            worst.transactions as f64,
            "transactions",
        )?;
        if let Some(s) = worst.seconds {
            ctx.measure("lag_seconds", s as f64, "s")?;
        }
        Ok(Applied::Done {
            summary: format!(
                "target replicates from {}:{} since {}{}; {}",
                o.primary.address,
                o.primary.port,
                o.start.describe(),
                o.converge.as_ref().map_or(String::new(), |c| format!(
                    " (replayed idempotently up to {})",
                    c.describe()
                )),
                worst.line()
            ),
        })
    }

    async fn rollback(&self, ctx: &StepCtx<'_>) -> Result<Option<String>, EngineError> {
        let copy = copy_step(ctx.plan, &self.0.copy.value)?;
        let target = endpoint(ctx, &copy.target).await?;
        let previous: Option<Previous> = load_state(ctx, ctx.id(), "previous")?;
        let done = sync::undo(
            ctx.exec,
            &target,
            previous.as_ref(),
            &super::files_verify::agent(ctx)?,
        )
        .await
        .map_err(|e| failed(ctx, e))?;
        Ok(Some(done))
    }
}
