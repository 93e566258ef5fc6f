//! `postgres.verify`: the data proof. Runs the verifier of the data crate, journals the
//! table of counts and checksums of both sides, and fails with the verification class (exit
//! code 9) when anything differs, so the run stops before any traffic moves.

use super::postgres::{describe, endpoint, failed, progress};
use crate::context::{StepCtx, Values};
use crate::error::EngineError;
use crate::step::{Applied, StepRunner, Verified};
use async_trait::async_trait;
use cutover_data::postgres::{verify, VerifyOptions};
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
impl StepRunner for PostgresVerify<'_> {
    fn plan(&self, values: &Values<'_>) -> Result<Vec<String>, EngineError> {
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
            "any difference fails the step (exit code 9) before traffic moves".into(),
        ])
    }

    /// A proof is only worth its latest run: always verify again.
    async fn verify(&self, _ctx: &StepCtx<'_>) -> Result<Verified, EngineError> {
        Ok(Verified::NotInPlace)
    }

    async fn apply(&self, ctx: &StepCtx<'_>) -> Result<Applied, EngineError> {
        let source = endpoint(ctx, &self.0.source)?;
        let target = endpoint(ctx, &self.0.target)?;
        let host = format!("{} + {}", source.host, target.host);
        ctx.command_started(
            &host,
            format!(
                "verify postgres {} against {}",
                source.describe(),
                target.describe()
            ),
        )?;
        let show = progress(ctx);
        let report = verify(ctx.exec, &source, &target, &self.options(), &show)
            .await
            .map_err(|e| failed(ctx, e))?;
        ctx.command_finished(
            &host,
            if report.matches() { 0 } else { 1 },
            (report.seconds * 1000.0) as u64,
            report.summary(),
        )?;
        ctx.record_proof(&host, report.matches(), report.render(), &report)?;
        ctx.measure("tables", report.tables.len() as f64, "tables")?;
        ctx.measure("rows", report.rows as f64, "rows")?;
        ctx.measure("seconds", report.seconds, "s")?;
        let failures: Vec<String> = report.failures().map(|d| d.to_string()).collect();
        ctx.measure("differences", failures.len() as f64, "differences")?;
        for d in report.differences.iter().filter(|d| !d.fatal) {
            ctx.detail(format!("note: {d}"));
        }
        if !failures.is_empty() {
            let shown: Vec<String> = failures
                .iter()
                .take(20)
                .map(|f| format!("  ✗ {f}"))
                .collect();
            let more = failures.len().saturating_sub(20);
            return Err(ctx.verify_failed(format!(
                "the target differs from the source in {} place(s):\n{}{}",
                failures.len(),
                shown.join("\n"),
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
