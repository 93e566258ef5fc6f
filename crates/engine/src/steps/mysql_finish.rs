//! `mysql.finish`: the source stops replicating from the target once the run no longer
//! needs to roll back, and is left read-only or writable. Nothing is undone by a rollback:
//! with the reverse replication gone the writes made on the target cannot go back, so a
//! rollback over this step (or of its switch, once it began) is refused.

use super::finish::{self, FINISHING};
use super::mysql::{copy_step, endpoint, failed, sync_step};
use super::traffic::save_state;
use crate::context::{StepCtx, Values};
use crate::error::EngineError;
use crate::step::{Applied, StepRunner, Verified};
use async_trait::async_trait;
use cutover_data::mysql::finish::{self as data, SourceAfter};
use cutover_data::mysql::marker;
use cutover_data::mysql::Endpoint;
use cutover_plan::steps::{MysqlFinishStep, MysqlSwitchStep};
use cutover_plan::StepKind;

pub(crate) struct MysqlFinish<'a>(pub &'a MysqlFinishStep);

impl MysqlFinish<'_> {
    fn switch_step<'p>(
        &self,
        plan: &'p cutover_plan::Plan,
    ) -> Result<&'p MysqlSwitchStep, EngineError> {
        super::finish::switch_step(plan, &self.0.switch.value, "mysql.switch", |k| match k {
            StepKind::MysqlSwitch(s) => Some(s),
            _ => None,
        })
    }

    async fn endpoints(&self, ctx: &StepCtx<'_>) -> Result<(Endpoint, Endpoint), EngineError> {
        let sync = sync_step(ctx.plan, &self.switch_step(ctx.plan)?.sync.value)?;
        let copy = copy_step(ctx.plan, &sync.copy.value)?;
        Ok((
            endpoint(ctx, &copy.source).await?,
            endpoint(ctx, &copy.target).await?,
        ))
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
impl StepRunner for MysqlFinish<'_> {
    fn plan(&self, _values: &Values<'_>) -> Result<Vec<String>, EngineError> {
        let switch = &self.0.switch.value;
        Ok(vec![
            format!("end the reverse replication `{switch}` left running: the source stops replicating from the target and forgets it (STOP REPLICA, RESET REPLICA ALL)"),
            match self.after() {
                SourceAfter::ReadOnly => "leave the source read-only (set before its replication stops)".into(),
                SourceAfter::Writable => "make the source writable again".into(),
            },
            format!("afterwards `{switch}` cannot be rolled back: writes made on the target no longer flow back"),
        ])
    }

    async fn verify(&self, ctx: &StepCtx<'_>) -> Result<Verified, EngineError> {
        if !finish::began(ctx, &self.0.switch.value)? {
            return Ok(Verified::NotInPlace);
        }
        let (source, target) = self.endpoints(ctx).await?;
        let agent = super::files_verify::agent(ctx)?;
        let done = data::is_finished(ctx.exec, &source, &target, &agent, self.after())
            .await
            .map_err(|e| failed(ctx, e))?;
        Ok(if done {
            Verified::InPlace
        } else {
            Verified::NotInPlace
        })
    }

    async fn apply(&self, ctx: &StepCtx<'_>) -> Result<Applied, EngineError> {
        let (source, target) = self.endpoints(ctx).await?;
        let agent = super::files_verify::agent(ctx)?;
        // Before anything changes: from here an undo of the switch is refused.
        save_state(ctx, FINISHING, &true)?;
        let mut done = data::finish(ctx.exec, &source, &target, &agent, self.after())
            .await
            .map_err(|e| failed(ctx, e))?;
        // The copy's marker served the sync; left on a promoted target it would let a run
        // with a fresh journal skip the copy and point the target back at the source.
        let sync = sync_step(ctx.plan, &self.switch_step(ctx.plan)?.sync.value)?;
        let copy = copy_step(ctx.plan, &sync.copy.value)?;
        let databases: Vec<String> = copy.databases.iter().map(|d| d.value.clone()).collect();
        if marker::remove(ctx.exec, &target, &agent, &databases)
            .await
            .map_err(|e| failed(ctx, e))?
        {
            done.push(format!("the copy's marker removed from {}", target.host));
        }
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
            "mysql.finish",
            &self.0.switch.value,
        ))
    }
}
