//! `compose.retire`: the colour a `compose.deploy` took traffic from is drained and stopped
//! (its containers kept), once the proxy is confirmed to send traffic elsewhere. The undo
//! starts it again and waits until it is healthy, so that undoing the deploy after it has a
//! colour to switch back to.

use super::compose_deploy::{colour_project, state_of, step_of};
use super::docker::{self as d, QUICK};
use super::traffic::{load_state, save_state};
use super::{proxy_kept, proxy_switch};
use crate::context::{StepCtx, Values};
use crate::error::EngineError;
use crate::step::{Applied, StepRunner, Verified};
use async_trait::async_trait;
use cutover_plan::steps::ComposeRetireStep;
use std::time::Duration;

pub(crate) struct ComposeRetire<'a>(pub &'a ComposeRetireStep);

const STOPPED: &str = "compose-retired";

impl ComposeRetire<'_> {
    fn drain(&self) -> Duration {
        self.0.drain.unwrap_or(Duration::from_secs(10))
    }

    fn stop_timeout(&self) -> Duration {
        self.0.stop_timeout.unwrap_or(Duration::from_secs(10))
    }
}

#[async_trait]
impl StepRunner for ComposeRetire<'_> {
    fn plan(&self, _values: &Values<'_>) -> Result<Vec<String>, EngineError> {
        Ok(vec![
            format!(
                "the colour `{}` took traffic from: once the proxy is confirmed elsewhere, drained for {} and stopped (containers kept)",
                self.0.deploy.value,
                humantime::format_duration(self.drain())
            ),
            "rollback starts it again and waits until it is healthy".into(),
        ])
    }

    async fn verify(&self, _ctx: &StepCtx<'_>) -> Result<Verified, EngineError> {
        Ok(Verified::Unknown)
    }

    async fn apply(&self, ctx: &StepCtx<'_>) -> Result<Applied, EngineError> {
        let id = &self.0.deploy.value;
        let deploy = step_of(ctx, id)?;
        let state = state_of(ctx, id)?.ok_or_else(|| {
            ctx.failed(format!(
                "`{id}` has not deployed in this run: nothing to retire"
            ))
        })?;
        let Some(old) = state.live else {
            return Ok(Applied::Done {
                summary: format!(
                    "nothing to retire: no colour served before `{id}` (the proxy pointed at {})",
                    state.upstream_before
                ),
            });
        };
        let project = colour_project(ctx, deploy, old)?;
        let now = proxy_switch::current(ctx, &deploy.proxy.value).await?;
        if now == state.upstream_before {
            return Err(ctx.failed(format!(
                "`{}` still sends traffic to {} ({now}): not retiring it; was `{id}` rolled back?",
                deploy.proxy.value, project.name
            )));
        }
        save_state(ctx, STOPPED, &project.name)?;
        ctx.detail(format!(
            "draining {} for {}",
            project.name,
            humantime::format_duration(self.drain())
        ));
        let drained = proxy_kept::drain_old(
            ctx,
            &deploy.proxy.value,
            &state.upstream_before,
            &now,
            self.drain(),
        )
        .await?;
        ctx.detail(drained);
        d::run(
            ctx,
            project.by_name().stop(self.stop_timeout()),
            "docker compose stop",
            QUICK,
        )
        .await
        .map_err(|f| f.into_error(ctx))?;
        let what = state
            .previous
            .map_or_else(|| project.name.clone(), |r| r.describe());
        Ok(Applied::Done {
            summary: format!("retired {what}: stopped, containers kept (rollback starts them)"),
        })
    }

    /// The stop is journaled before it happens: a cut-off stop is undone too.
    fn undoes_failed(&self) -> bool {
        true
    }

    async fn rollback(&self, ctx: &StepCtx<'_>) -> Result<Option<String>, EngineError> {
        if load_state::<String>(ctx, ctx.id(), STOPPED)?.is_none() {
            return Ok(None);
        }
        let id = &self.0.deploy.value;
        let deploy = step_of(ctx, id)?;
        let Some(old) = state_of(ctx, id)?.and_then(|s| s.live) else {
            return Ok(None);
        };
        let project = colour_project(ctx, deploy, old)?;
        d::run(
            ctx,
            project.by_name().start(),
            "docker compose start",
            QUICK,
        )
        .await
        .map_err(|f| f.into_error(ctx))?;
        let within = deploy
            .project
            .wait_timeout
            .unwrap_or(super::compose_up::WAIT);
        d::wait_ready(ctx, &project.by_name(), within)
            .await
            .map_err(|f| f.into_error(ctx))?;
        Ok(Some(format!("{} started again and healthy", project.name)))
    }
}
