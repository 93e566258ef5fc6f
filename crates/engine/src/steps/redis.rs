//! What the `redis.*` steps share: a plan endpoint rendered into the data crate's
//! [`Endpoint`] (the password as a secret), its display for `cutover plan`, the pair of
//! agents, and error mapping (a refused password or a server out of reach is exit code 4).

use super::in_container;
use super::show;
use crate::context::{StepCtx, Values};
use crate::error::EngineError;
use cutover_data::redis::{Endpoint, Pair, RedisError};
use cutover_exec::{Executor, SecretValue};
use cutover_plan::steps::RedisEndpoint;

/// The endpoint with real values (the password kept secret), a server in a container
/// looked up where the agent reaches it.
pub(crate) async fn endpoint(
    ctx: &StepCtx<'_>,
    e: &RedisEndpoint,
) -> Result<Endpoint, EngineError> {
    let mut ep = endpoint_with(ctx.plan, e, |t| ctx.render(t))?;
    if let Some(c) = &ep.container {
        let r = in_container::reach(ctx, &ep.host, c, ep.port).await?;
        (ep.address, ep.port) = (r.address, r.port);
    }
    Ok(ep)
}

/// [`endpoint`] outside a step (`cutover status`).
pub(crate) async fn endpoint_quietly(
    exec: &Executor,
    plan: &cutover_plan::Plan,
    e: &RedisEndpoint,
    render: impl Fn(&cutover_plan::Template) -> Result<String, EngineError>,
) -> Result<Endpoint, String> {
    let mut ep = endpoint_with(plan, e, render).map_err(|e| e.to_string())?;
    if let Some(c) = &ep.container {
        let r = in_container::reach_quietly(exec, ep.sudo, &ep.host, c, ep.port).await?;
        (ep.address, ep.port) = (r.address, r.port);
    }
    Ok(ep)
}

/// The endpoint with every template rendered by `render`, a server in a container not yet
/// looked up (its `address` and `port` are the container's own).
fn endpoint_with(
    plan: &cutover_plan::Plan,
    e: &RedisEndpoint,
    render: impl Fn(&cutover_plan::Template) -> Result<String, EngineError>,
) -> Result<Endpoint, EngineError> {
    let host = e.host.value.clone();
    let address = match &e.address {
        Some(a) => render(a)?,
        None => "127.0.0.1".into(),
    };
    let mut ep = Endpoint::new(host.clone(), address);
    ep.port = e.port.unwrap_or(6379);
    if let Some(u) = &e.user {
        ep.user = Some(render(u)?);
    }
    if let Some(pw) = &e.password {
        ep.password = Some(SecretValue::new(render(pw)?));
    }
    ep.sudo = plan.host(&host).is_some_and(|h| h.sudo);
    if let Some(c) = &e.container {
        ep.container = Some(render(c)?);
    }
    Ok(ep)
}

/// `[user@]address:port (agent on HOST)` for `cutover plan`, no secret (`container NAME`
/// for the address of a server in a container).
pub(crate) fn describe(values: &Values<'_>, e: &RedisEndpoint) -> Result<String, EngineError> {
    let address = match (&e.container, &e.address) {
        (Some(c), _) => format!("container {}", show(c, values)?),
        (None, Some(a)) => show(a, values)?,
        (None, None) => "127.0.0.1".into(),
    };
    let user = match &e.user {
        Some(u) => format!("{}@", show(u, values)?),
        None => String::new(),
    };
    Ok(format!(
        "{user}{address}:{} (agent on {})",
        e.port.unwrap_or(6379),
        e.host.value
    ))
}

/// Both servers' agents.
pub(crate) async fn open(
    ctx: &StepCtx<'_>,
    source: &RedisEndpoint,
    target: &RedisEndpoint,
) -> Result<Pair, EngineError> {
    let (s, t) = (endpoint(ctx, source).await?, endpoint(ctx, target).await?);
    let agent = super::files_verify::agent(ctx)?;
    Pair::open(ctx.exec, &agent, &s, &t)
        .await
        .map_err(|e| failed(ctx, e))
}

/// A Redis failure as a step failure: access failures are exit code 4, SSH failures keep
/// their own class.
pub(crate) fn failed(ctx: &StepCtx<'_>, e: RedisError) -> EngineError {
    match e {
        RedisError::Agent(f) => super::files_verify::files_failed(ctx, f),
        other => ctx.failed_as(other.class(), other.to_string()),
    }
}

/// How another *server* reaches this endpoint's server (for replication): its `address`
/// unless that is local to its host (loopback, a socket), else the address other hosts reach
/// its host at (`[hosts]`' `address`, else what its SSH configuration resolves to); a
/// server in a container through its published port there. `field` names the step's
/// field that sets it instead.
pub(crate) async fn server_address(
    ctx: &StepCtx<'_>,
    e: &RedisEndpoint,
    field: &str,
) -> Result<String, EngineError> {
    if let Some(c) = &e.container {
        let (c, port) = (ctx.render(c)?, e.port.unwrap_or(6379));
        // The port is the published one, which the endpoint resolves to as well.
        let (address, _) = in_container::peer_address(ctx, &e.host.value, &c, port, field).await?;
        return Ok(address);
    }
    let address = match &e.address {
        Some(a) => ctx.render(a)?,
        None => "127.0.0.1".into(),
    };
    let local = address == "localhost"
        || address.starts_with("127.")
        || address == "::1"
        || address.starts_with('/');
    if !local {
        return Ok(address);
    }
    ctx.reach_address(&e.host.value).await
}
