//! `mysql.finish`: the source stops replicating from the target and forgets it, left
//! read-only or writable, and the copy's marker is removed from the target (the runner
//! journals the begin and refuses every rollback over it).

use super::mysql::{copy_step, endpoint, failed, sync_step};
use super::store_finish::{self, Finisher};
use crate::context::StepCtx;
use crate::error::EngineError;
use async_trait::async_trait;
use cutover_data::mysql::finish::{self as data, SourceAfter};
use cutover_data::mysql::marker;
use cutover_data::mysql::Endpoint;
use cutover_plan::steps::MysqlFinishStep;
use cutover_plan::StepKind;

pub(crate) struct MysqlFinish<'a>(pub &'a MysqlFinishStep);

/// What a MariaDB/MySQL finish acts on.
pub(crate) struct Servers {
    source: Endpoint,
    target: Endpoint,
    agent: cutover_data::agent::AgentBinary,
    /// The copied databases (the copy's marker names them).
    databases: Vec<String>,
}

impl MysqlFinish<'_> {
    async fn servers(&self, ctx: &StepCtx<'_>) -> Result<Servers, EngineError> {
        let switch =
            store_finish::switch_step(ctx.plan, self.switch(), "mysql.switch", |k| match k {
                StepKind::MysqlSwitch(s) => Some(s),
                _ => None,
            })?;
        let sync = sync_step(ctx.plan, &switch.sync.value)?;
        let copy = copy_step(ctx.plan, &sync.copy.value)?;
        Ok(Servers {
            source: endpoint(ctx, &copy.source).await?,
            target: endpoint(ctx, &copy.target).await?,
            agent: super::files_verify::agent(ctx)?,
            databases: copy.databases.iter().map(|d| d.value.clone()).collect(),
        })
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
impl Finisher for MysqlFinish<'_> {
    type Ready = Servers;

    fn switch(&self) -> &str {
        &self.0.switch.value
    }

    fn ends(&self) -> &'static str {
        "the source stops replicating from the target and forgets it (STOP REPLICA, RESET REPLICA ALL)"
    }

    fn leaves(&self) -> Vec<String> {
        vec![match self.after() {
            SourceAfter::ReadOnly => {
                "leave the source read-only (set before its replication stops)".into()
            }
            SourceAfter::Writable => "make the source writable again".into(),
        }]
    }

    async fn is_finished(&self, ctx: &StepCtx<'_>) -> Result<bool, EngineError> {
        let s = self.servers(ctx).await?;
        data::is_finished(ctx.exec, &s.source, &s.target, &s.agent, self.after())
            .await
            .map_err(|e| failed(ctx, e))
    }

    async fn ready(&self, ctx: &StepCtx<'_>) -> Result<Servers, EngineError> {
        self.servers(ctx).await
    }

    async fn finish(&self, ctx: &StepCtx<'_>, s: Servers) -> Result<Vec<String>, EngineError> {
        let mut done = data::finish(ctx.exec, &s.source, &s.target, &s.agent, self.after())
            .await
            .map_err(|e| failed(ctx, e))?;
        // The copy's marker served the sync; left on a promoted target it would let a run
        // with a fresh journal skip the copy and point the target back at the source.
        if marker::remove(ctx.exec, &s.target, &s.agent, &s.databases)
            .await
            .map_err(|e| failed(ctx, e))?
        {
            done.push(format!("the copy's marker removed from {}", s.target.host));
        }
        Ok(done)
    }
}
