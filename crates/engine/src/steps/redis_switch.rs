//! `redis.switch`: the target becomes the primary under a short write pause, measured and
//! journaled (the runner's). Where the pair stands is read from the servers, so a resumed switch finishes
//! what a killed one began and rollback gives the source its role back (also after a kill
//! inside the pause).

use super::redis::{failed, open, server_address};
use super::redis_sync;
use super::store_switch::Switcher;
use super::traffic::{load_state, save_state};
use crate::context::{StepCtx, Values};
use crate::error::EngineError;
use async_trait::async_trait;
use cutover_data::redis::{SwitchOptions, SwitchReport};
use cutover_exec::Command;
use cutover_plan::steps::{RedisSwitchStep, RedisSyncStep};
use cutover_plan::StepKind;
use std::time::Duration;

pub(crate) struct RedisSwitch<'a>(pub &'a RedisSwitchStep);

/// The journaled: was the source's `masterauth` set before the switch gave it the target's.
pub(crate) const SOURCE_AUTH: &str = "redis_source_masterauth_set";

impl RedisSwitch<'_> {
    pub(crate) fn sync_step<'p>(
        &self,
        plan: &'p cutover_plan::Plan,
    ) -> Result<&'p RedisSyncStep, EngineError> {
        match plan.step(&self.0.sync.value).map(|s| &s.kind) {
            Some(StepKind::RedisSync(s)) => Ok(s),
            _ => Err(EngineError::Invalid(format!(
                "`{}` is not a redis.sync step",
                self.0.sync.value
            ))),
        }
    }

    pub(crate) async fn options(
        &self,
        ctx: &StepCtx<'_>,
        sync: &RedisSyncStep,
    ) -> Result<SwitchOptions, EngineError> {
        let clients = match &self.0.clients_command {
            Some(c) => {
                let sudo = ctx.plan.host(&c.host.value).is_some_and(|h| h.sudo);
                Some(Box::new(
                    Command::shell(&c.host.value, ctx.render(&c.command)?).sudo(sudo),
                ))
            }
            None => None,
        };
        Ok(SwitchOptions {
            sync: redis_sync::options(ctx, sync).await?,
            target_address: match &self.0.target_address {
                Some(a) => ctx.render(a)?,
                None => server_address(ctx, &sync.target, "target_address").await?,
            },
            reverse: self.0.reverse(),
            max_wait: self.0.max_wait(),
            clients,
            clients_timeout: self.0.clients_timeout.unwrap_or(Duration::from_secs(30)),
        })
    }
}

#[async_trait]
impl Switcher for RedisSwitch<'_> {
    type Report = SwitchReport;
    type Ready = ();
    type ReadyUndo = ();

    fn plan(&self, _values: &Values<'_>) -> Result<Vec<String>, EngineError> {
        let s = self.0;
        let mut lines = vec![
            format!("pause writes on the source of step `{}` (CLIENT PAUSE ... WRITE: clients wait)", s.sync.value),
            format!(
                "wait (at most {}s) until the target has processed the source's replication offset, then promote it (REPLICAOF NO ONE)",
                s.max_wait().as_secs()
            ),
        ];
        if s.clients_command.is_some() {
            lines.push("run the clients command (point the clients at the target)".into());
        }
        lines.push(if s.reverse() {
            "the source follows the target (reverse replication), then its writes are unpaused: it refuses writes from now on".into()
        } else {
            "the source's writes are unpaused: it stays a primary, and writes still reaching it are not on the target".into()
        });
        lines.push("the pause window is measured and journaled".into());
        Ok(lines)
    }

    async fn is_switched(&self, ctx: &StepCtx<'_>) -> Result<bool, EngineError> {
        let sync = self.sync_step(ctx.plan)?;
        let o = self.options(ctx, sync).await?;
        let mut pair = open(ctx, &sync.source, &sync.target).await?;
        let done = pair.is_switched(&o).await;
        pair.close().await;
        done.map_err(|e| failed(ctx, e))
    }

    /// Reads where the servers stand and finishes what an interrupted attempt began.
    async fn switch(&self, ctx: &StepCtx<'_>, _: Option<()>) -> Result<SwitchReport, EngineError> {
        let sync = self.sync_step(ctx.plan)?;
        let o = self.options(ctx, sync).await?;
        let mut pair = open(ctx, &sync.source, &sync.target).await?;
        let result = async {
            if o.reverse && load_state::<bool>(ctx, ctx.id(), SOURCE_AUTH)?.is_none() {
                let set = pair
                    .source_masterauth_set()
                    .await
                    .map_err(|e| failed(ctx, e))?;
                save_state(ctx, SOURCE_AUTH, &set)?;
            }
            let show = |line: String| ctx.detail(line);
            pair.switch(&o, &show).await.map_err(|e| failed(ctx, e))
        }
        .await;
        pair.close().await;
        result
    }

    async fn undo(&self, ctx: &StepCtx<'_>, _: Option<()>) -> Result<Option<String>, EngineError> {
        let sync = self.sync_step(ctx.plan)?;
        let o = self.options(ctx, sync).await?;
        let auth: Option<bool> = load_state(ctx, ctx.id(), SOURCE_AUTH)?;
        let mut pair = open(ctx, &sync.source, &sync.target).await?;
        let done = pair.undo_switch(&o, auth).await;
        pair.close().await;
        done.map_err(|e| failed(ctx, e))
    }
}
