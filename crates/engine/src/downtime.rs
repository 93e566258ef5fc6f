//! The plan's `[downtime]` prober around the steps it covers: started before the step,
//! stopped `settle` after it, its figures journaled on the step (also when the step failed:
//! the downtime of a failed switch matters most).

use crate::context::StepCtx;
use crate::error::EngineError;
use cutover_checks::prober::{DowntimeReport, Prober};
use std::future::Future;

/// Runs `step` (the step's verify-and-apply) with the prober around it when the plan asks.
/// `Ok(None)` (already in place) and gate waits stop the prober without journaling.
pub(crate) async fn around<F>(ctx: &StepCtx<'_>, step: F) -> Result<Option<String>, EngineError>
where
    F: Future<Output = Result<Option<String>, EngineError>>,
{
    let Some(spec) = &ctx.plan.downtime else {
        return step.await;
    };
    // A step moved with the traffic is measured as part of its mover's move.
    if !spec.covers(ctx.id(), ctx.step.kind.kind()) || ctx.plan.mover_of(ctx.id()).is_some() {
        return step.await;
    }
    let probe = super::steps::check::probes(ctx, std::slice::from_ref(&spec.check))?
        .into_iter()
        .next()
        .ok_or_else(|| ctx.failed("[downtime] has no check"))?;
    let handle = Prober::start(probe, super::steps::check::probe_env(ctx), spec.interval());
    let outcome = step.await;
    let measured = match &outcome {
        Ok(Some(_)) => true,
        Ok(None) | Err(EngineError::Waiting { .. } | EngineError::Interrupted { .. }) => false,
        Err(_) => true,
    };
    if !measured {
        drop(handle.stop().await);
        return outcome;
    }
    tokio::time::sleep(spec.settle()).await;
    let report = handle.stop().await;
    journal(ctx, &report, spec.interval())?;
    outcome
}

fn journal(
    ctx: &StepCtx<'_>,
    r: &DowntimeReport,
    interval: std::time::Duration,
) -> Result<(), EngineError> {
    ctx.measure("downtime_requests", r.requests as f64, "requests")?;
    ctx.measure("downtime_failed", r.failed as f64, "requests")?;
    ctx.measure("downtime_unavailable", r.unavailable.as_secs_f64(), "s")?;
    ctx.measure("downtime_longest_outage", r.longest().as_secs_f64(), "s")?;
    ctx.detail(format!(
        "downtime prober ({} every {}): {} requests, {} failed, unavailable {:.3}s{}",
        r.name,
        humantime::format_duration(interval),
        r.requests,
        r.failed,
        r.unavailable.as_secs_f64(),
        r.failures
            .first()
            .map(|f| format!("; first failure: {}", f.error))
            .unwrap_or_default()
    ));
    Ok(())
}
