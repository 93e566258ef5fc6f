//! `proxy.switch`: a reverse proxy pointed at the new upstream once that upstream answers its
//! health check. The previous upstream is journaled before the change; rollback puts it back
//! in one step. The health check is the traffic crate's minimal one (TCP + HTTP GET), behind
//! a trait the checks crate can replace.

use super::traffic::{load_state, save_state, switcher, CtxRunner};
use crate::context::{StepCtx, Values};
use crate::error::EngineError;
use crate::step::{Applied, StepRunner, Verified};
use async_trait::async_trait;
use cutover_plan::steps::ProxySwitchStep;
use cutover_traffic::health::{HealthGate, HttpGet};
use std::time::{Duration, Instant};

pub(crate) struct ProxySwitch<'a>(pub &'a ProxySwitchStep);

const PREVIOUS: &str = "previous-upstream";

impl ProxySwitch<'_> {
    fn gate(&self) -> HttpGet {
        HttpGet {
            path: self.0.health_path.clone().unwrap_or_else(|| "/".into()),
            host: None,
            timeout: self.0.health_timeout.unwrap_or(Duration::from_secs(3)),
            from: None,
        }
    }
}

#[async_trait]
impl StepRunner for ProxySwitch<'_> {
    fn plan(&self, values: &Values<'_>) -> Result<Vec<String>, EngineError> {
        let to = super::show(&self.0.to, values)?;
        let mut lines = vec![format!(
            "only if GET {} on {to} answers 2xx/3xx",
            self.gate().path
        )];
        lines.extend(switcher(values.plan, &self.0.proxy.value, None)?.preview(&to));
        lines.push("the previous upstream is journaled; rollback switches back".into());
        Ok(lines)
    }

    async fn verify(&self, ctx: &StepCtx<'_>) -> Result<Verified, EngineError> {
        if load_state::<String>(ctx, ctx.id(), PREVIOUS)?.is_some() {
            return Ok(Verified::NotInPlace);
        }
        // A move is in place only when the data switches it carries are too.
        if !self.0.data.iter().all(|d| ctx.state.is_done(&d.value)) {
            return Ok(Verified::NotInPlace);
        }
        let to = ctx.render(&self.0.to)?;
        let s = switcher(ctx.plan, &self.0.proxy.value, Some(ctx.secrets))?;
        let now = s
            .current(&CtxRunner(ctx))
            .await
            .map_err(|e| ctx.failed(e.to_string()))?;
        Ok(if now == to {
            Verified::InPlace
        } else {
            Verified::NotInPlace
        })
    }

    async fn apply(&self, ctx: &StepCtx<'_>) -> Result<Applied, EngineError> {
        let to = ctx.render(&self.0.to)?;
        let name = &self.0.proxy.value;
        gate_passes(ctx, name, &to, &self.gate()).await?;
        if !self.0.data.is_empty() {
            let s = switcher(ctx.plan, name, Some(ctx.secrets))?;
            let before = s
                .current(&CtxRunner(ctx))
                .await
                .map_err(|e| ctx.failed(e.to_string()))?;
            let previous = match load_state::<String>(ctx, ctx.id(), PREVIOUS)? {
                Some(p) => p,
                None => {
                    save_state(ctx, PREVIOUS, &before)?;
                    before
                }
            };
            let summary =
                super::proxy_move::forward(ctx, self.0, s.as_ref(), &previous, &to).await?;
            return Ok(Applied::Done { summary });
        }
        let summary = switch_now(ctx, name, &to).await?;
        Ok(Applied::Done { summary })
    }

    /// The previous values are journaled before any change: a partial switch is undone too.
    fn undoes_failed(&self) -> bool {
        true
    }

    async fn rollback(&self, ctx: &StepCtx<'_>) -> Result<Option<String>, EngineError> {
        if self.0.data.is_empty() {
            return switch_back(ctx, &self.0.proxy.value).await;
        }
        let Some(previous) = load_state::<String>(ctx, ctx.id(), PREVIOUS)? else {
            return Ok(None);
        };
        let s = switcher(ctx.plan, &self.0.proxy.value, Some(ctx.secrets))?;
        let current = s
            .current(&CtxRunner(ctx))
            .await
            .map_err(|e| ctx.failed(e.to_string()))?;
        let summary =
            super::proxy_move::backward(ctx, self.0, s.as_ref(), &current, &previous).await?;
        Ok(Some(summary))
    }
}

/// Makes the switch to `to` outlive a reload of the proxy where the plan asks (an HAProxy
/// `config`); `"; WHAT"` for the summary, or nothing.
pub(crate) async fn persist(
    ctx: &StepCtx<'_>,
    s: &dyn cutover_traffic::proxy::Switcher,
    to: &str,
) -> Result<String, EngineError> {
    match s.persist(&CtxRunner(ctx), to).await {
        Ok(Some(done)) => Ok(format!("; {done}")),
        Ok(None) => Ok(String::new()),
        Err(e) => Err(ctx.failed(e.to_string())),
    }
}

/// Where proxy `name` sends traffic now.
pub(crate) async fn current(ctx: &StepCtx<'_>, name: &str) -> Result<String, EngineError> {
    let s = switcher(ctx.plan, name, Some(ctx.secrets))?;
    s.current(&CtxRunner(ctx))
        .await
        .map_err(|e| ctx.failed(e.to_string()))
}

/// Fails unless `to` answers `gate` (a verification failure: nothing switched).
pub(crate) async fn gate_passes(
    ctx: &StepCtx<'_>,
    name: &str,
    to: &str,
    gate: &HttpGet,
) -> Result<(), EngineError> {
    let s = switcher(ctx.plan, name, None)?;
    // Asked from the proxy's host: it is what will connect to the upstream (which may listen
    // on that host's loopback, or be reachable only from there).
    let mut gate = gate.clone();
    gate.from = ctx.plan.proxy(name).map(|p| cutover_exec::FromHost {
        host: p.host.value.clone(),
        exec: ctx.exec.clone(),
    });
    let seen = gate
        .check(to)
        .await
        .map_err(|reason| ctx.verify_failed(format!("{}: not switched: {reason}", s.name())))?;
    ctx.detail(seen);
    Ok(())
}

/// Points proxy `name` at `to`: the upstream before the step's first switch is journaled
/// under the step (a retried switch keeps the original), the switch is checked by reading
/// the proxy back, and its time is measured.
pub(crate) async fn switch_now(
    ctx: &StepCtx<'_>,
    name: &str,
    to: &str,
) -> Result<String, EngineError> {
    let s = switcher(ctx.plan, name, Some(ctx.secrets))?;
    let runner = CtxRunner(ctx);
    let before = s
        .current(&runner)
        .await
        .map_err(|e| ctx.failed(e.to_string()))?;
    if load_state::<String>(ctx, ctx.id(), PREVIOUS)?.is_none() {
        save_state(ctx, PREVIOUS, &before)?;
    }
    let started = Instant::now();
    s.switch(&runner, to)
        .await
        .map_err(|e| ctx.failed(e.to_string()))?;
    let after = s
        .current(&runner)
        .await
        .map_err(|e| ctx.failed(e.to_string()))?;
    if after != to {
        return Err(ctx.failed(format!(
            "{}: after the switch it still sends traffic to {after}, not {to}",
            s.name()
        )));
    }
    ctx.measure("switch_ms", started.elapsed().as_secs_f64() * 1000.0, "ms")?;
    let took = started.elapsed().as_millis();
    // From the upstream before the step's first switch: a switch resumed after a crash
    // finds `to` in place already, and the connections kept to the first one still open.
    let old = load_state::<String>(ctx, ctx.id(), PREVIOUS)?.unwrap_or(before.clone());
    let let_go = super::proxy_kept::let_go_of_old(ctx, s.as_ref(), &old, to).await?;
    let persisted = persist(ctx, s.as_ref(), to).await?;
    Ok(format!(
        "{}: {before} -> {to} in {took} ms{let_go}{persisted}",
        s.name()
    ))
}

/// Puts proxy `name` back on the upstream the step journaled before its first switch;
/// `None` when the step never got that far.
pub(crate) async fn switch_back(
    ctx: &StepCtx<'_>,
    name: &str,
) -> Result<Option<String>, EngineError> {
    let Some(previous) = load_state::<String>(ctx, ctx.id(), PREVIOUS)? else {
        return Ok(None);
    };
    let s = switcher(ctx.plan, name, Some(ctx.secrets))?;
    let runner = CtxRunner(ctx);
    let current = s
        .current(&runner)
        .await
        .map_err(|e| ctx.failed(e.to_string()))?;
    s.switch(&runner, &previous)
        .await
        .map_err(|e| ctx.failed(e.to_string()))?;
    let let_go = super::proxy_kept::let_go_of_old(ctx, s.as_ref(), &current, &previous).await?;
    let persisted = persist(ctx, s.as_ref(), &previous).await?;
    Ok(Some(format!(
        "{}: back to {previous}{let_go}{persisted}",
        s.name()
    )))
}
