//! `redis.verify`: the data proof. Runs the verifier of the data crate, journals both sides'
//! figures and the differences (the report's proof section), and fails with the
//! verification class (exit code 9) when anything differs.

use super::redis::{describe, failed, open};
use crate::context::{StepCtx, Values};
use crate::error::EngineError;
use crate::step::{Applied, StepRunner, Verified};
use async_trait::async_trait;
use cutover_data::redis::VerifyOptions;
use cutover_plan::steps::RedisVerifyStep;

pub(crate) struct RedisVerify<'a>(pub &'a RedisVerifyStep);

#[async_trait]
impl StepRunner for RedisVerify<'_> {
    fn plan(&self, values: &Values<'_>) -> Result<Vec<String>, EngineError> {
        Ok(vec![
            format!("compare {} with {}", describe(values, &self.0.source)?, describe(values, &self.0.target)?),
            format!(
                "every key of every database: type, value and TTL (within {} ms), digested next to the data, key by key where digests differ",
                self.0.ttl_tolerance.map_or(1000, |d| d.as_millis())
            ),
            "any difference fails the step (exit code 9) before traffic moves".into(),
        ])
    }

    /// A proof is only worth its latest run: always verify again.
    async fn verify(&self, _ctx: &StepCtx<'_>) -> Result<Verified, EngineError> {
        Ok(Verified::NotInPlace)
    }

    async fn apply(&self, ctx: &StepCtx<'_>) -> Result<Applied, EngineError> {
        let mut options = VerifyOptions::default();
        if let Some(t) = self.0.ttl_tolerance {
            options.ttl_tolerance = t;
        }
        let host = format!(
            "{} + {}",
            self.0.source.host.value, self.0.target.host.value
        );
        let mut pair = open(ctx, &self.0.source, &self.0.target).await?;
        ctx.command_started(
            &host,
            format!(
                "verify redis {} against {}",
                pair.source.endpoint.describe(),
                pair.target.endpoint.describe()
            ),
        )?;
        let show = |line: String| ctx.detail(line);
        let report = pair.verify(&options, &show).await;
        pair.close().await;
        let report = report.map_err(|e| failed(ctx, e))?;
        ctx.command_finished(
            &host,
            if report.matches() { 0 } else { 1 },
            (report.seconds * 1000.0) as u64,
            report.summary(),
        )?;
        // The whole proof (its differences are bounded by `limit`): the report's section.
        ctx.record_proof(&host, report.matches(), report.render(), &report)?;
        ctx.measure("keys", report.source.keys() as f64, "keys")?;
        ctx.measure("keys_compared", report.keys_compared as f64, "keys")?;
        ctx.measure(
            "differences",
            report.total_differences as f64,
            "differences",
        )?;
        ctx.measure("seconds", report.seconds, "s")?;
        if !report.matches() {
            let listed: Vec<String> = report
                .differences
                .iter()
                .take(20)
                .map(|d| format!("  ✗ {d}"))
                .collect();
            let more = report.total_differences.saturating_sub(listed.len() as u64);
            return Err(ctx.verify_failed(format!(
                "the target differs from the source in {} place(s):\n{}{}",
                report.total_differences,
                listed.join("\n"),
                if more > 0 {
                    format!("\n  … and {more} more (see `cutover report`)")
                } else {
                    String::new()
                }
            )));
        }
        Ok(Applied::Done {
            summary: report.summary(),
        })
    }

    async fn rollback(&self, _ctx: &StepCtx<'_>) -> Result<Option<String>, EngineError> {
        Ok(None)
    }
}
