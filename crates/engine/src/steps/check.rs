//! `check`: a health gate. Every named check must pass (each failing one tried again until
//! the deadline); the checklist is shown and each check's latency journaled. A failed gate is
//! a verification failure: the run stops before traffic moves. The probes themselves live in
//! `cutover_checks`; this file only renders the plan's checks and reports.

use crate::context::{StepCtx, Values};
use crate::error::EngineError;
use crate::step::{Applied, StepRunner, Verified};
use async_trait::async_trait;
use cutover_checks::gate::checklist;
use cutover_checks::{GatePolicy, NamedProbe, ProbeEnv};
use cutover_plan::read::Spanned;
use cutover_plan::steps::CheckStep;
use std::time::Duration;

pub(crate) struct Check<'a>(pub &'a CheckStep);

/// The probes of the checks named `names`, rendered with real values.
pub(crate) fn probes(
    ctx: &StepCtx<'_>,
    names: &[Spanned<String>],
) -> Result<Vec<NamedProbe>, EngineError> {
    let render = |t: &cutover_plan::Template| ctx.render(t).map_err(|e| e.to_string());
    names
        .iter()
        .map(|n| {
            let check = ctx
                .plan
                .check(&n.value)
                .ok_or_else(|| ctx.failed(format!("no check `{}` in the plan", n.value)))?;
            cutover_checks::build(check, ctx.plan, &render).map_err(|e| ctx.failed(e))
        })
        .collect()
}

/// What probes run with during a step: a fresh HTTP client and the run's executor.
pub(crate) fn probe_env(ctx: &StepCtx<'_>) -> ProbeEnv {
    ProbeEnv {
        client: cutover_checks::http::Client::default(),
        exec: Some(ctx.exec.clone()),
    }
}

/// One line per named check for `cutover plan`, secrets masked.
pub(crate) fn describe(values: &Values<'_>, names: &[Spanned<String>]) -> Vec<String> {
    let render = |t: &cutover_plan::Template| t.render(values).map_err(|e| e.to_string());
    names
        .iter()
        .map(|n| match values.plan.check(&n.value) {
            Some(c) => format!("probe {}", cutover_checks::describe(c, &render)),
            None => format!("probe {} (not defined)", n.value),
        })
        .collect()
}

/// Runs the gate over `names`; the summary when every check passed, else a verification
/// failure carrying the checklist.
pub(crate) async fn run_gate(
    ctx: &StepCtx<'_>,
    names: &[Spanned<String>],
    policy: GatePolicy,
) -> Result<String, EngineError> {
    let probes = probes(ctx, names)?;
    let env = probe_env(ctx);
    let redact = |s: &str| ctx.exec.redactor().redact(s);
    let items = cutover_checks::gate(&probes, &env, policy, |name, n, o| {
        if !o.ok {
            ctx.detail(redact(&format!("{name}: try {n} failed: {}", o.line())));
        }
    })
    .await;
    for item in &items {
        ctx.measure(
            &format!("{}.latency", item.name),
            (item.outcome.latency.as_secs_f64() * 1e6).round() / 1e3,
            "ms",
        )?;
    }
    let lines: Vec<String> = checklist(&items).iter().map(|l| redact(l)).collect();
    for l in &lines {
        ctx.detail(l.clone());
    }
    let failed: Vec<&str> = items
        .iter()
        .filter(|i| !i.outcome.ok)
        .map(|i| i.name.as_str())
        .collect();
    if failed.is_empty() {
        let names: Vec<&str> = items.iter().map(|i| i.name.as_str()).collect();
        Ok(format!(
            "{} check(s) passed: {}",
            items.len(),
            names.join(", ")
        ))
    } else {
        Err(ctx.verify_failed(format!(
            "{} of {} check(s) failed within {}: {}\n{}",
            failed.len(),
            items.len(),
            humantime::format_duration(policy.deadline),
            failed.join(", "),
            lines.join("\n")
        )))
    }
}

#[async_trait]
impl StepRunner for Check<'_> {
    fn plan(&self, values: &Values<'_>) -> Result<Vec<String>, EngineError> {
        let mut lines = describe(values, &self.0.checks);
        let p = self.policy();
        lines.push(format!(
            "every check must pass; failing ones tried every {} for up to {}",
            humantime::format_duration(p.interval),
            humantime::format_duration(p.deadline)
        ));
        Ok(lines)
    }

    async fn verify(&self, _ctx: &StepCtx<'_>) -> Result<Verified, EngineError> {
        // A gate is never "already in place": it always probes.
        Ok(Verified::Unknown)
    }

    async fn apply(&self, ctx: &StepCtx<'_>) -> Result<Applied, EngineError> {
        let summary = run_gate(ctx, &self.0.checks, self.policy()).await?;
        Ok(Applied::Done { summary })
    }

    async fn rollback(&self, _ctx: &StepCtx<'_>) -> Result<Option<String>, EngineError> {
        Ok(None)
    }
}

impl Check<'_> {
    fn policy(&self) -> GatePolicy {
        let d = GatePolicy::default();
        GatePolicy {
            deadline: self.0.deadline.unwrap_or(d.deadline),
            interval: self.0.interval.unwrap_or(d.interval),
            retries: self.0.retries,
        }
    }
}

/// A gate's policy for a `run` step's `health`.
pub(crate) fn health_policy(deadline: Option<Duration>) -> GatePolicy {
    GatePolicy {
        deadline: deadline.unwrap_or(Duration::from_secs(60)),
        interval: Duration::from_secs(1),
        retries: None,
    }
}
