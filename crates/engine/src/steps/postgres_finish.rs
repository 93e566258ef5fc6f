//! `postgres.finish`: the reverse replication of a switch ended once the run no longer needs
//! to roll back, the replication objects cutover made dropped, the source left read-only or
//! writable. Nothing is undone by a rollback: with the reverse replication gone the writes
//! made on the target cannot go back, so a rollback over this step is refused.

use super::postgres::failed;
use super::postgres_switch::PostgresSwitch;
use crate::context::{StepCtx, Values};
use crate::error::EngineError;
use crate::step::{Applied, StepRunner, Verified};
use async_trait::async_trait;
use cutover_data::postgres::replication::finish::{self, SourceAfter};
use cutover_plan::steps::{PostgresFinishStep, PostgresSwitchStep};
use cutover_plan::StepKind;

pub(crate) struct PostgresFinish<'a>(pub &'a PostgresFinishStep);

impl PostgresFinish<'_> {
    fn switch_step<'p>(
        &self,
        plan: &'p cutover_plan::Plan,
    ) -> Result<&'p PostgresSwitchStep, EngineError> {
        super::finish::switch_step(plan, &self.0.switch.value, "postgres.switch", |k| match k {
            StepKind::PostgresSwitch(s) => Some(s),
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
impl StepRunner for PostgresFinish<'_> {
    fn plan(&self, _values: &Values<'_>) -> Result<Vec<String>, EngineError> {
        let switch = &self.0.switch.value;
        Ok(vec![
            format!("end the reverse replication `{switch}` left running: drop the reverse subscription on the source (its slot on the target goes with it)"),
            "drop the publications and replication slots cutover created on both servers, restore replica identities the sync changed".into(),
            match self.after() {
                SourceAfter::ReadOnly => "leave the source database read-only for every role".into(),
                SourceAfter::Writable => "make the source database writable again (sessions opened during the freeze ended)".into(),
            },
            format!("afterwards `{switch}` cannot be rolled back: writes made on the target no longer flow back"),
        ])
    }

    async fn verify(&self, ctx: &StepCtx<'_>) -> Result<Verified, EngineError> {
        let (source, target, _) = PostgresSwitch(self.switch_step(ctx.plan)?).setup(ctx)?;
        let done = finish::is_finished(ctx.exec, &source, &target)
            .await
            .map_err(|e| failed(ctx, e))?;
        Ok(if done {
            Verified::InPlace
        } else {
            Verified::NotInPlace
        })
    }

    async fn apply(&self, ctx: &StepCtx<'_>) -> Result<Applied, EngineError> {
        let (source, target, options) = PostgresSwitch(self.switch_step(ctx.plan)?).setup(ctx)?;
        let done = finish::finish(ctx.exec, &source, &target, &options, self.after())
            .await
            .map_err(|e| failed(ctx, e))?;
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
        Err(ctx.failed(format!(
            "`{id}` (postgres.finish) ended the reverse replication of `{switch}`: writes made on the new database since then can no longer go back to the old one, so the run cannot be rolled back past `{id}`. Nothing was changed. To go back, migrate again in the other direction (a plan with old and new swapped)",
            id = ctx.id(),
            switch = self.0.switch.value
        )))
    }
}
