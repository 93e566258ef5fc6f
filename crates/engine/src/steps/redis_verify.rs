//! `redis.verify`: every key of every database compared (type, value, TTL within a
//! tolerance), digested by the agent next to each server; the runner common to every store's
//! proof ([`StoreVerify`](super::store_verify::StoreVerify)) journals and judges it.

use super::redis::{describe, endpoint, failed, open};
use super::store_verify::Prover;
use crate::context::{StepCtx, Values};
use crate::error::EngineError;
use async_trait::async_trait;
use cutover_data::redis::{VerifyOptions, VerifyReport};
use cutover_plan::steps::RedisVerifyStep;

pub(crate) struct RedisVerify<'a>(pub &'a RedisVerifyStep);

#[async_trait]
impl Prover for RedisVerify<'_> {
    type Proof = VerifyReport;

    fn compares(&self, values: &Values<'_>) -> Result<Vec<String>, EngineError> {
        Ok(vec![
            format!("compare {} with {}", describe(values, &self.0.source)?, describe(values, &self.0.target)?),
            format!(
                "every key of every database: type, value and TTL (within {} ms), digested next to the data, key by key where digests differ",
                self.0.ttl_tolerance.map_or(1000, |d| d.as_millis())
            ),
        ])
    }

    const STORE: &'static str = "redis";

    type Side = cutover_data::redis::Endpoint;

    async fn sides(&self, ctx: &StepCtx<'_>) -> Result<[Self::Side; 2], EngineError> {
        Ok([
            endpoint(ctx, &self.0.source).await?,
            endpoint(ctx, &self.0.target).await?,
        ])
    }

    async fn prove(&self, ctx: &StepCtx<'_>) -> Result<VerifyReport, EngineError> {
        let mut options = VerifyOptions::default();
        if let Some(t) = self.0.ttl_tolerance {
            options.ttl_tolerance = t;
        }
        let mut pair = open(ctx, &self.0.source, &self.0.target).await?;
        let show = |line: String| ctx.detail(line);
        let report = pair.verify(&options, &show).await;
        pair.close().await;
        report.map_err(|e| failed(ctx, e))
    }
}
