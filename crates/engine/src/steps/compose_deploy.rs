//! `compose.deploy`: a blue/green release. The live colour is the one the proxy sends
//! traffic to (read from the proxy, not remembered); the other colour is brought up next to
//! it with its own env file (the plan's values, `CUTOVER_COLOR`, `CUTOVER_PORT`), recreated
//! from scratch, gated on its healthchecks, the plan's checks and `GET health`, and the
//! proxy is moved to it through `proxy.switch`'s own code. The old colour keeps running:
//! the undo (a fired soak trigger, `cutover rollback`) switches back to it and takes the
//! new colour down. A gate that fails before the switch takes the new colour down at once:
//! traffic never moved.

use super::compose_up::{checks_policy, files_digest, plan_lines, up_options};
use super::docker::{self as d, QUICK};
use super::traffic::{load_state, save_state};
use super::{proxy_kept, proxy_switch};
use crate::context::{StepCtx, Values};
use crate::error::EngineError;
use crate::step::{Applied, StepRunner, Verified};
use async_trait::async_trait;
use cutover_data::docker::{Project, Release};
use cutover_plan::steps::ComposeDeployStep;
use cutover_traffic::health::HttpGet;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

pub(crate) struct ComposeDeploy<'a>(pub &'a ComposeDeployStep);

/// One of the two colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Colour {
    Blue,
    Green,
}

impl Colour {
    fn name(self) -> &'static str {
        match self {
            Colour::Blue => "blue",
            Colour::Green => "green",
        }
    }

    fn other(self) -> Colour {
        match self {
            Colour::Blue => Colour::Green,
            Colour::Green => Colour::Blue,
        }
    }
}

/// What the step found and chose, journaled before any change.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct DeployState {
    /// The colour the proxy sent traffic to (`None`: it pointed elsewhere, e.g. the old host).
    pub(crate) live: Option<Colour>,
    /// The colour this release goes to.
    pub(crate) new: Colour,
    /// The proxy's upstream before.
    pub(crate) upstream_before: String,
    /// The live colour's release (what a rollback goes back to).
    pub(crate) previous: Option<Release>,
}

const STATE: &str = "compose-deploy";
const RELEASE: &str = "compose-release";

/// The journaled state of deploy step `id` in this run.
pub(crate) fn state_of(ctx: &StepCtx<'_>, id: &str) -> Result<Option<DeployState>, EngineError> {
    load_state::<DeployState>(ctx, id, STATE)
}

/// The compose.deploy step `id` of the plan.
pub(crate) fn step_of<'p>(
    ctx: &StepCtx<'p>,
    id: &str,
) -> Result<&'p ComposeDeployStep, EngineError> {
    match ctx.plan.step(id).map(|s| &s.kind) {
        Some(cutover_plan::StepKind::ComposeDeploy(s)) => Ok(s),
        _ => Err(ctx.failed(format!("`{id}` is not a compose.deploy step"))),
    }
}

/// The project of `colour` of deploy `step`.
pub(crate) fn colour_project(
    ctx: &StepCtx<'_>,
    step: &ComposeDeployStep,
    colour: Colour,
) -> Result<Project, EngineError> {
    let dir = ctx.render(&step.project.dir)?;
    let base = d::base_name(&step.project, &dir);
    d::project(
        ctx,
        &step.project,
        Some(format!("{base}-{}", colour.name())),
        Some(format!(".cutover/{}.env", colour.name())),
    )
}

/// The project name of the colour deploy step `id` made live in this run (for following
/// its logs).
pub(crate) fn live_project(ctx: &StepCtx<'_>, id: &str) -> Result<String, EngineError> {
    let step = step_of(ctx, id)?;
    let state = state_of(ctx, id)?
        .ok_or_else(|| ctx.failed(format!("`{id}` has not deployed anything in this run yet")))?;
    Ok(colour_project(ctx, step, state.new)?.name)
}

impl ComposeDeploy<'_> {
    fn port(&self, colour: Colour) -> u16 {
        match colour {
            Colour::Blue => self.0.ports.blue,
            Colour::Green => self.0.ports.green,
        }
    }

    /// The address the proxy reaches `colour` at.
    fn address(&self, ctx: &StepCtx<'_>, colour: Colour) -> Result<String, EngineError> {
        match (&self.0.addresses, &self.0.address) {
            (Some(a), _) => ctx.render(match colour {
                Colour::Blue => &a.blue,
                Colour::Green => &a.green,
            }),
            (None, Some(a)) => ctx.render(a),
            (None, None) => Ok(ctx
                .plan
                .host(&self.0.project.host.value)
                .map(|h| h.address())
                .unwrap_or_default()),
        }
    }

    fn upstream(&self, ctx: &StepCtx<'_>, colour: Colour) -> Result<String, EngineError> {
        Ok(format!(
            "{}:{}",
            self.address(ctx, colour)?,
            self.port(colour)
        ))
    }

    fn gate(&self) -> HttpGet {
        HttpGet {
            path: self.0.health.clone().unwrap_or_else(|| "/".into()),
            host: None,
            timeout: self.0.health_timeout.unwrap_or(Duration::from_secs(3)),
            from: None,
        }
    }

    fn drain(&self) -> Duration {
        self.0.drain.unwrap_or(Duration::from_secs(5))
    }

    /// The state: journaled on the first try, so a retry after a switch does not take the
    /// new colour for the old one.
    async fn state(&self, ctx: &StepCtx<'_>) -> Result<DeployState, EngineError> {
        if let Some(s) = state_of(ctx, ctx.id())? {
            return Ok(s);
        }
        let upstream_before = proxy_switch::current(ctx, &self.0.proxy.value).await?;
        let live = [Colour::Blue, Colour::Green]
            .into_iter()
            .map(|c| Ok((c, self.upstream(ctx, c)?)))
            .collect::<Result<Vec<_>, EngineError>>()?
            .into_iter()
            .find(|(_, u)| *u == upstream_before)
            .map(|(c, _)| c);
        let previous = match live {
            Some(c) => d::release(ctx, &colour_project(ctx, self.0, c)?)
                .await
                .map_err(|f| f.into_error(ctx))?,
            None => None,
        };
        let state = DeployState {
            live,
            new: live.map_or(Colour::Blue, Colour::other),
            upstream_before,
            previous,
        };
        save_state(ctx, STATE, &state)?;
        Ok(state)
    }

    /// The new colour's env file: the plan's values, then the colour's own.
    fn env(&self, ctx: &StepCtx<'_>, colour: Colour) -> Result<Vec<(String, String)>, EngineError> {
        let mut vars = d::env_values(ctx, &self.0.project)?;
        vars.retain(|(k, _)| !k.starts_with("CUTOVER_"));
        vars.push(("CUTOVER_COLOR".into(), colour.name().into()));
        vars.push(("CUTOVER_PORT".into(), self.port(colour).to_string()));
        vars.push(("CUTOVER_ADDRESS".into(), self.address(ctx, colour)?));
        Ok(vars)
    }

    /// Where traffic stays when the release does not go live, in words.
    fn stays(&self, state: &DeployState) -> String {
        match (&state.live, &state.previous) {
            (Some(c), Some(r)) => format!("traffic stays on {} ({})", c.name(), r.describe()),
            (Some(c), None) => format!("traffic stays on {}", c.name()),
            (None, _) => format!("traffic stays on {}", state.upstream_before),
        }
    }

    /// Takes the new colour down after a failed gate and fails with `why`.
    async fn abandon(
        &self,
        ctx: &StepCtx<'_>,
        project: &Project,
        state: &DeployState,
        why: d::Why,
    ) -> EngineError {
        let down = d::run(
            ctx,
            project.by_name().down(Duration::from_secs(5)),
            "docker compose down",
            QUICK,
        )
        .await;
        let cleanup = match down {
            Ok(_) => format!("{} taken down", project.name),
            Err(f) => format!(
                "taking {} down failed too: {}",
                project.name,
                f.into_error(ctx)
            ),
        };
        why.with(
            ctx,
            &format!("not switched: {}; {cleanup}", self.stays(state)),
        )
    }
}

#[async_trait]
impl StepRunner for ComposeDeploy<'_> {
    fn plan(&self, values: &Values<'_>) -> Result<Vec<String>, EngineError> {
        let s = self.0;
        let p = &s.project;
        let dir = super::show(&p.dir, values)?;
        let base = p
            .project
            .as_ref()
            .map_or_else(|| "PROJECT".to_string(), |n| n.value.clone());
        let host_address = || {
            values
                .plan
                .host(&p.host.value)
                .map(|h| h.address())
                .unwrap_or_default()
        };
        let (blue, green) = match (&s.addresses, &s.address) {
            (Some(a), _) => (
                super::show(&a.blue, values)?,
                super::show(&a.green, values)?,
            ),
            (None, Some(a)) => (super::show(a, values)?, super::show(a, values)?),
            (None, None) => (host_address(), host_address()),
        };
        let mut lines = vec![format!(
            "blue/green in {}:{dir}: the colour `{}` does not send traffic to ({base}-blue on {blue}:{}, {base}-green on {green}:{}) gets the release",
            p.host.value, s.proxy.value, s.ports.blue, s.ports.green
        )];
        lines.extend(plan_lines(p, values, ".cutover/COLOUR.env")?);
        lines.push(format!(
            "only if GET {} on the new colour answers 2xx/3xx: switch `{}` to it (the previous upstream journaled)",
            self.gate().path,
            s.proxy.value
        ));
        lines.push("the old colour keeps running; rollback switches back to it and takes the new colour down (a failed gate takes it down before any switch)".into());
        Ok(lines)
    }

    async fn verify(&self, _ctx: &StepCtx<'_>) -> Result<Verified, EngineError> {
        Ok(Verified::Unknown)
    }

    async fn apply(&self, ctx: &StepCtx<'_>) -> Result<Applied, EngineError> {
        let state = self.state(ctx).await?;
        let p = &self.0.project;
        let project = colour_project(ctx, self.0, state.new)?;
        ctx.detail(format!(
            "release goes to {} ({}); {}",
            state.new.name(),
            project.name,
            match state.live {
                Some(c) => format!("{} is live", c.name()),
                None => format!("the proxy sends traffic to {}", state.upstream_before),
            }
        ));
        let prepared: Result<(), EngineError> = async {
            d::upload(ctx, p, &project).await?;
            let env_path = format!(
                "{}/.cutover/{}.env",
                project.dir.trim_end_matches('/'),
                state.new.name()
            );
            d::write_env(ctx, &project.host, &env_path, &self.env(ctx, state.new)?).await?;
            d::check_config(ctx, &project).await
        }
        .await;
        if let Err(e) = prepared {
            return Err(self.abandon(ctx, &project, &state, d::Why::of(e)).await);
        }
        if let Err(f) = d::up(ctx, &project, &up_options(p, true)).await {
            let why = d::Why::of(f.into_error(ctx));
            return Err(self.abandon(ctx, &project, &state, why).await);
        }
        if !p.checks.is_empty() {
            if let Err(e) = super::check::run_gate(ctx, &p.checks, checks_policy(p)).await {
                return Err(self.abandon(ctx, &project, &state, d::Why::of(e)).await);
            }
        }
        let mut release = d::release(ctx, &project)
            .await
            .map_err(|f| f.into_error(ctx))?
            .unwrap_or_default();
        release.compose_digest = Some(
            files_digest(ctx, &project)
                .await
                .map_err(|f| f.into_error(ctx))?,
        );
        save_state(ctx, RELEASE, &release)?;
        let to = self.upstream(ctx, state.new)?;
        if let Err(e) = proxy_switch::gate_passes(ctx, &self.0.proxy.value, &to, &self.gate()).await
        {
            return Err(self.abandon(ctx, &project, &state, d::Why::of(e)).await);
        }
        // A switch cut off part-way is undone by the rollback, which runs for a failed try:
        // it switches back and takes the new colour down.
        let switched = proxy_switch::switch_now(ctx, &self.0.proxy.value, &to).await?;
        let old = match (&state.live, &state.previous) {
            (Some(c), Some(r)) => format!(
                "; {} kept running for a rollback ({})",
                c.name(),
                r.describe()
            ),
            _ => format!("; before: {}", state.upstream_before),
        };
        Ok(Applied::Done {
            summary: format!(
                "{} live: {}; {switched}{old}",
                state.new.name(),
                release.describe()
            ),
        })
    }

    /// The state and the proxy's previous upstream are journaled before any change: a
    /// failed try (a switch cut off part-way) is undone too.
    fn undoes_failed(&self) -> bool {
        true
    }

    async fn rollback(&self, ctx: &StepCtx<'_>) -> Result<Option<String>, EngineError> {
        let Some(state) = state_of(ctx, ctx.id())? else {
            return Ok(None);
        };
        let started = Instant::now();
        let back = proxy_switch::switch_back(ctx, &self.0.proxy.value).await?;
        if back.is_some() {
            ctx.measure(
                "switch_back_ms",
                started.elapsed().as_secs_f64() * 1000.0,
                "ms",
            )?;
        }
        let project = colour_project(ctx, self.0, state.new)?;
        let release = load_state::<Release>(ctx, ctx.id(), RELEASE)?;
        if back.is_some() {
            // Requests the new colour is serving finish, and the proxy lets go of the
            // connections it kept to it, before it stops.
            let drained = proxy_kept::drain_old(
                ctx,
                &self.0.proxy.value,
                &self.upstream(ctx, state.new)?,
                &state.upstream_before,
                self.drain(),
            )
            .await?;
            ctx.detail(drained);
        }
        // Drained, it serves nobody: it gets little time to stop.
        d::run(
            ctx,
            project.by_name().down(Duration::from_secs(2)),
            "docker compose down",
            QUICK,
        )
        .await
        .map_err(|f| f.into_error(ctx))?;
        let now_on = match (&state.live, &state.previous) {
            (Some(c), Some(r)) => format!("{} ({})", c.name(), r.describe()),
            (Some(c), None) => c.name().to_string(),
            (None, _) => state.upstream_before.clone(),
        };
        let gone = release.map_or_else(|| project.name.clone(), |r| r.describe());
        Ok(Some(match back {
            Some(b) => {
                format!("traffic back on the previous release {now_on} ({b}); {gone} taken down")
            }
            None => format!("never switched: traffic stays on {now_on}; {gone} taken down"),
        }))
    }
}
