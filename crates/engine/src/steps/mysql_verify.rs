//! `mysql.verify`: the data proof. Runs the verifier of the data crate, journals the proof
//! (both sides' figures per table and every difference), and fails with the verification
//! class (exit code 9) when anything differs, so the run stops before traffic moves.

use super::mysql::{describe, endpoint, failed};
use crate::context::{StepCtx, Values};
use crate::error::EngineError;
use crate::step::{Applied, StepRunner, Verified};
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
impl StepRunner for MysqlVerify<'_> {
    fn plan(&self, values: &Values<'_>) -> Result<Vec<String>, EngineError> {
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
            "any difference fails the step (exit code 9) before traffic moves".into(),
        ])
    }

    /// A proof is only worth its latest run: always verify again.
    async fn verify(&self, _ctx: &StepCtx<'_>) -> Result<Verified, EngineError> {
        Ok(Verified::NotInPlace)
    }

    async fn apply(&self, ctx: &StepCtx<'_>) -> Result<Applied, EngineError> {
        let source = endpoint(ctx, &self.0.source).await?;
        let target = endpoint(ctx, &self.0.target).await?;
        let host = format!("{} + {}", source.host, target.host);
        ctx.command_started(
            &host,
            format!(
                "verify mysql {} against {}",
                source.describe(),
                target.describe()
            ),
        )?;
        let mut o = VerifyOptions::new(
            self.0.databases.iter().map(|d| d.value.clone()).collect(),
            super::files_verify::agent(ctx)?,
        );
        o.workers = self.workers();
        let show = |line: String| ctx.detail(line);
        let report = verify(ctx.exec, &source, &target, &o, &show)
            .await
            .map_err(|e| failed(ctx, e))?;
        let text = report.render();
        let verdict = text.lines().last().unwrap_or_default().to_string();
        ctx.command_finished(
            &host,
            if report.matches() { 0 } else { 1 },
            (report.seconds * 1000.0) as u64,
            verdict.clone(),
        )?;
        ctx.record_proof(&host, report.matches(), text, &report)?;
        ctx.measure("tables", report.tables.len() as f64, "tables")?;
        ctx.measure("rows", report.rows as f64, "rows")?;
        ctx.measure("seconds", report.seconds, "s")?;
        ctx.measure(
            "differences",
            report.differences.len() as f64,
            "differences",
        )?;
        if !report.matches() {
            let shown: Vec<String> = report
                .differences
                .iter()
                .take(20)
                .map(|d| format!("  ✗ {d}"))
                .collect();
            let more = report.differences.len().saturating_sub(20);
            return Err(ctx.verify_failed(format!(
                "the target differs from the source in {} place(s):\n{}{}",
                report.differences.len(),
                shown.join("\n"),
                if more > 0 {
                    format!("\n  … and {more} more (see `cutover report`)")
                } else {
                    String::new()
                }
            )));
        }
        Ok(Applied::Done { summary: verdict })
    }

    async fn rollback(&self, _ctx: &StepCtx<'_>) -> Result<Option<String>, EngineError> {
        Ok(None)
    }
}
