//! `postgres.verify`: per table, row counts and content checksums computed on each server,
//! sequences, and schema objects with their definitions; the runner common to every store's
//! proof ([`StoreVerify`](super::store_verify::StoreVerify)) journals and judges it.

use super::postgres::{describe, endpoint, failed, progress};
use super::store_verify::Prover;
use crate::context::{StepCtx, Values};
use crate::error::EngineError;
use async_trait::async_trait;
use cutover_data::postgres::{verify, VerifyOptions, VerifyReport};
use cutover_plan::steps::PostgresVerifyStep;

pub(crate) struct PostgresVerify<'a>(pub &'a PostgresVerifyStep);

impl PostgresVerify<'_> {
    fn options(&self) -> VerifyOptions {
        let mut o = VerifyOptions::default();
        if let Some(j) = &self.0.jobs {
            o.jobs = j.value as usize;
        }
        if let Some(c) = self.0.consistent {
            o.consistent = c;
        }
        o.privileges = self.0.privileges.unwrap_or(false);
        o
    }
}

#[async_trait]
impl Prover for PostgresVerify<'_> {
    type Proof = VerifyReport;

    fn compares(&self, values: &Values<'_>) -> Result<Vec<String>, EngineError> {
        Ok(vec![
            format!(
                "compare {} with {}",
                describe(values, &self.0.source)?,
                describe(values, &self.0.target)?
            ),
            format!(
                "per table: row count and content checksum computed on each server ({} sessions each); sequences; schema objects and their definitions{}",
                self.options().jobs,
                if self.options().privileges { ", owners and privileges" } else { "" }
            ),
        ])
    }

    const STORE: &'static str = "postgres";

    type Side = cutover_data::postgres::Endpoint;

    async fn sides(&self, ctx: &StepCtx<'_>) -> Result<[Self::Side; 2], EngineError> {
        Ok([
            endpoint(ctx, &self.0.source)?,
            endpoint(ctx, &self.0.target)?,
        ])
    }

    async fn prove(&self, ctx: &StepCtx<'_>) -> Result<VerifyReport, EngineError> {
        let source = endpoint(ctx, &self.0.source)?;
        let target = endpoint(ctx, &self.0.target)?;
        let show = progress(ctx);
        verify(ctx.exec, &source, &target, &self.options(), &show)
            .await
            .map_err(|e| failed(ctx, e))
    }
}
