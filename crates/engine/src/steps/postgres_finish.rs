//! `postgres.finish`: the reverse subscription a switch left running dropped (its slot on the
//! target goes with it), the replication objects cutover made dropped, the source left
//! read-only or writable. The target's marker says `finishing` before anything is dropped,
//! so nothing is journaled first; a rollback over it is refused (the runner's).

use super::postgres::failed;
use super::postgres_switch::PostgresSwitch;
use super::store_finish::{self, Finisher};
use crate::context::StepCtx;
use crate::error::EngineError;
use async_trait::async_trait;
use cutover_data::postgres::replication::finish::{self, SourceAfter};
use cutover_data::postgres::replication::switch::SwitchOptions;
use cutover_data::postgres::Endpoint;
use cutover_plan::steps::PostgresFinishStep;
use cutover_plan::StepKind;

pub(crate) struct PostgresFinish<'a>(pub &'a PostgresFinishStep);

impl PostgresFinish<'_> {
    fn setup(&self, ctx: &StepCtx<'_>) -> Result<(Endpoint, Endpoint, SwitchOptions), EngineError> {
        let switch =
            store_finish::switch_step(ctx.plan, self.switch(), "postgres.switch", |k| match k {
                StepKind::PostgresSwitch(s) => Some(s),
                _ => None,
            })?;
        PostgresSwitch(switch).setup(ctx)
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
impl Finisher for PostgresFinish<'_> {
    type Ready = (Endpoint, Endpoint, SwitchOptions);
    const JOURNALS_BEGIN: bool = false;
    const NEW_SIDE: &'static str = "database";

    fn switch(&self) -> &str {
        &self.0.switch.value
    }

    fn ends(&self) -> &'static str {
        "drop the reverse subscription on the source (its slot on the target goes with it)"
    }

    fn leaves(&self) -> Vec<String> {
        vec![
            "drop the publications and replication slots cutover created on both servers, restore replica identities the sync changed".into(),
            match self.after() {
                SourceAfter::ReadOnly => "leave the source database read-only for every role".into(),
                SourceAfter::Writable => "make the source database writable again (sessions opened during the freeze ended)".into(),
            },
        ]
    }

    async fn is_finished(&self, ctx: &StepCtx<'_>) -> Result<bool, EngineError> {
        let (source, target, _) = self.setup(ctx)?;
        finish::is_finished(ctx.exec, &source, &target)
            .await
            .map_err(|e| failed(ctx, e))
    }

    async fn ready(&self, ctx: &StepCtx<'_>) -> Result<Self::Ready, EngineError> {
        self.setup(ctx)
    }

    async fn finish(
        &self,
        ctx: &StepCtx<'_>,
        (source, target, options): Self::Ready,
    ) -> Result<Vec<String>, EngineError> {
        finish::finish(ctx.exec, &source, &target, &options, self.after())
            .await
            .map_err(|e| failed(ctx, e))
    }
}
