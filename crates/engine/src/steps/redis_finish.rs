//! `redis.finish`: the source stops following the target once the run no longer needs to
//! roll back, the credentials cutover set for the sync and the switch cleared, the source
//! left refusing writes or writable. Nothing is undone by a rollback: with the reverse
//! replication gone the writes made on the target cannot go back, so a rollback over this
//! step (or of its switch, once it began) is refused.

use super::finish::{self, FINISHING};
use super::redis::{failed, open};
use super::redis_switch::{RedisSwitch, SOURCE_AUTH};
use super::redis_sync::PREVIOUS;
use super::traffic::{load_state, save_state};
use crate::context::{StepCtx, Values};
use crate::error::EngineError;
use crate::step::{Applied, StepRunner, Verified};
use async_trait::async_trait;
use cutover_data::redis::finish::{SetByCutover, SourceAfter};
use cutover_data::redis::Previous;
use cutover_plan::steps::{RedisFinishStep, RedisSwitchStep};
use cutover_plan::StepKind;

pub(crate) struct RedisFinish<'a>(pub &'a RedisFinishStep);

impl RedisFinish<'_> {
    fn switch_step<'p>(
        &self,
        plan: &'p cutover_plan::Plan,
    ) -> Result<&'p RedisSwitchStep, EngineError> {
        super::finish::switch_step(plan, &self.0.switch.value, "redis.switch", |k| match k {
            StepKind::RedisSwitch(s) => Some(s),
            _ => None,
        })
    }

    fn after(&self) -> SourceAfter {
        if self.0.writable() {
            SourceAfter::Writable
        } else {
            SourceAfter::ReadOnly
        }
    }
}

#[async_trait]
impl StepRunner for RedisFinish<'_> {
    fn plan(&self, _values: &Values<'_>) -> Result<Vec<String>, EngineError> {
        let switch = &self.0.switch.value;
        Ok(vec![
            format!("end the reverse replication `{switch}` left running: the source stops following the target (REPLICAOF NO ONE)"),
            "clear the masterauth cutover gave the source (for the reverse replication) and the target (for the sync) where none was set before".into(),
            match self.after() {
                SourceAfter::ReadOnly => "leave the source refusing every write (min-replicas-to-write beyond any replica count, set before it stops following: NOREPLICAS)".into(),
                SourceAfter::Writable => "let the source take writes again".into(),
            },
            format!("afterwards `{switch}` cannot be rolled back: writes made on the target no longer flow back"),
        ])
    }

    async fn verify(&self, ctx: &StepCtx<'_>) -> Result<Verified, EngineError> {
        if !finish::began(ctx, &self.0.switch.value)? {
            return Ok(Verified::NotInPlace);
        }
        let switch = RedisSwitch(self.switch_step(ctx.plan)?);
        let sync = switch.sync_step(ctx.plan)?;
        let o = switch.options(ctx, sync).await?;
        let mut pair = open(ctx, &sync.source, &sync.target).await?;
        let done = pair.is_finished(&o, self.after()).await;
        pair.close().await;
        Ok(if done.map_err(|e| failed(ctx, e))? {
            Verified::InPlace
        } else {
            Verified::NotInPlace
        })
    }

    async fn apply(&self, ctx: &StepCtx<'_>) -> Result<Applied, EngineError> {
        let switch = RedisSwitch(self.switch_step(ctx.plan)?);
        let sync = switch.sync_step(ctx.plan)?;
        let o = switch.options(ctx, sync).await?;
        let set = SetByCutover {
            source_masterauth: load_state::<bool>(ctx, &self.0.switch.value, SOURCE_AUTH)?,
            target_masterauth: load_state::<Previous>(ctx, &switch.0.sync.value, PREVIOUS)?
                .map(|p| p.masterauth_set),
        };
        // Before anything changes: from here an undo of the switch is refused.
        save_state(ctx, FINISHING, &true)?;
        let mut pair = open(ctx, &sync.source, &sync.target).await?;
        let done = pair.finish(&o, self.after(), set).await;
        pair.close().await;
        let done = done.map_err(|e| failed(ctx, e))?;
        Ok(Applied::Done {
            summary: format!(
                "reverse replication of `{}` ended: {}",
                self.0.switch.value,
                done.join(", ")
            ),
        })
    }

    /// Refused: the reverse replication that carried writes back is gone, so nothing
    /// before this step can be undone without losing the writes made on the target.
    async fn rollback(&self, ctx: &StepCtx<'_>) -> Result<Option<String>, EngineError> {
        Err(finish::refusal(
            ctx,
            ctx.id(),
            "redis.finish",
            &self.0.switch.value,
        ))
    }
}
