//! `redis.finish`: the source stops following the target, the credentials cutover set for
//! the sync and the switch cleared, the source left refusing writes or writable (the
//! runner journals the begin and refuses every rollback over it).

use super::redis::{failed, open};
use super::redis_switch::{RedisSwitch, SOURCE_AUTH};
use super::redis_sync::PREVIOUS;
use super::store_finish::{self, Finisher};
use super::traffic::load_state;
use crate::context::StepCtx;
use crate::error::EngineError;
use async_trait::async_trait;
use cutover_data::redis::finish::{SetByCutover, SourceAfter};
use cutover_data::redis::{Previous, SwitchOptions};
use cutover_plan::steps::{RedisFinishStep, RedisSyncStep};
use cutover_plan::StepKind;

pub(crate) struct RedisFinish<'a>(pub &'a RedisFinishStep);

impl RedisFinish<'_> {
    /// The sync the switch ended and the switch's options.
    async fn setup<'p>(
        &self,
        ctx: &StepCtx<'p>,
    ) -> Result<(RedisSwitch<'p>, &'p RedisSyncStep, SwitchOptions), EngineError> {
        let switch =
            store_finish::switch_step(ctx.plan, self.switch(), "redis.switch", |k| match k {
                StepKind::RedisSwitch(s) => Some(s),
                _ => None,
            })?;
        let switch = RedisSwitch(switch);
        let sync = switch.sync_step(ctx.plan)?;
        let o = switch.options(ctx, sync).await?;
        Ok((switch, sync, o))
    }

    fn after(&self) -> SourceAfter {
        store_finish::source_after(
            self.0.writable(),
            SourceAfter::Writable,
            SourceAfter::ReadOnly,
        )
    }
}

#[async_trait]
impl Finisher for RedisFinish<'_> {
    type Ready = (RedisSyncStep, SwitchOptions, SetByCutover);

    fn switch(&self) -> &str {
        &self.0.switch.value
    }

    fn ends(&self) -> &'static str {
        "the source stops following the target (REPLICAOF NO ONE)"
    }

    fn leaves(&self) -> Vec<String> {
        vec![
            "clear the masterauth cutover gave the source (for the reverse replication) and the target (for the sync) where none was set before".into(),
            match self.after() {
                SourceAfter::ReadOnly => "leave the source refusing every write (min-replicas-to-write beyond any replica count, set before it stops following: NOREPLICAS)".into(),
                SourceAfter::Writable => "let the source take writes again".into(),
            },
        ]
    }

    async fn is_finished(&self, ctx: &StepCtx<'_>) -> Result<bool, EngineError> {
        let (_, sync, o) = self.setup(ctx).await?;
        let mut pair = open(ctx, &sync.source, &sync.target).await?;
        let done = pair.is_finished(&o, self.after()).await;
        pair.close().await;
        done.map_err(|e| failed(ctx, e))
    }

    async fn ready(&self, ctx: &StepCtx<'_>) -> Result<Self::Ready, EngineError> {
        let (switch, sync, o) = self.setup(ctx).await?;
        let set = SetByCutover {
            source_masterauth: load_state::<bool>(ctx, self.switch(), SOURCE_AUTH)?,
            target_masterauth: load_state::<Previous>(ctx, &switch.0.sync.value, PREVIOUS)?
                .map(|p| p.masterauth_set),
        };
        Ok((sync.clone(), o, set))
    }

    async fn finish(
        &self,
        ctx: &StepCtx<'_>,
        (sync, o, set): Self::Ready,
    ) -> Result<Vec<String>, EngineError> {
        let mut pair = open(ctx, &sync.source, &sync.target).await?;
        let done = pair.finish(&o, self.after(), set).await;
        pair.close().await;
        done.map_err(|e| failed(ctx, e))
    }
}
