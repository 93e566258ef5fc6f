//! `mysql.verify`: per table, row counts and row digests hashed next to each server in
//! primary-key ranges, narrowed to the rows that differ, and the definitions compared; the
//! runner common to every store's proof ([`StoreVerify`](super::store_verify::StoreVerify))
//! journals and judges it.

use super::mysql::{describe, endpoint, failed};
use super::store_verify::Prover;
use crate::context::{StepCtx, Values};
use crate::error::EngineError;
use async_trait::async_trait;
use cutover_data::mysql::verify::{verify, VerifyOptions};
use cutover_plan::steps::MysqlVerifyStep;

pub(crate) struct MysqlVerify<'a>(pub &'a MysqlVerifyStep);

impl MysqlVerify<'_> {
    fn workers(&self) -> usize {
        self.0.workers.as_ref().map_or(4, |w| w.value as usize)
    }
}

#[async_trait]
impl Prover for MysqlVerify<'_> {
    type Proof = cutover_data::mysql::verify::report::VerifyReport;

    fn compares(&self, values: &Values<'_>) -> Result<Vec<String>, EngineError> {
        let dbs: Vec<&str> = self.0.databases.iter().map(|d| d.value.as_str()).collect();
        Ok(vec![
            format!(
                "compare database(s) {} on {} with {}",
                dbs.join(", "),
                describe(values, &self.0.source)?,
                describe(values, &self.0.target)?
            ),
            format!(
                "per table: row count and row digests in primary-key ranges hashed next to each server ({} sessions each), narrowed to rows where they differ; definitions of tables, views, routines, triggers, events; auto-increment counters",
                self.workers()
            ),
        ])
    }

    const STORE: &'static str = "mysql";

    type Side = cutover_data::mysql::Endpoint;

    async fn sides(&self, ctx: &StepCtx<'_>) -> Result<[Self::Side; 2], EngineError> {
        Ok([
            endpoint(ctx, &self.0.source).await?,
            endpoint(ctx, &self.0.target).await?,
        ])
    }

    async fn prove(&self, ctx: &StepCtx<'_>) -> Result<Self::Proof, EngineError> {
        let source = endpoint(ctx, &self.0.source).await?;
        let target = endpoint(ctx, &self.0.target).await?;
        let mut o = VerifyOptions::new(
            self.0.databases.iter().map(|d| d.value.clone()).collect(),
            super::files_verify::agent(ctx)?,
        );
        o.workers = self.workers();
        let show = |line: String| ctx.detail(line);
        verify(ctx.exec, &source, &target, &o, &show)
            .await
            .map_err(|e| failed(ctx, e))
    }
}
