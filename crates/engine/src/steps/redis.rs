//! What the `redis.*` steps share: a plan endpoint rendered into the data crate's
//! [`Endpoint`] (the password as a secret), its display for `cutover plan`, the pair of
//! agents, and error mapping (a refused password or a server out of reach is exit code 4).

use super::show;
use crate::context::{StepCtx, Values};
use crate::error::EngineError;
use cutover_data::redis::{Endpoint, Pair, RedisError};
use cutover_exec::SecretValue;
use cutover_plan::steps::RedisEndpoint;

/// The endpoint with real values (the password kept secret).
pub(crate) fn endpoint(ctx: &StepCtx<'_>, e: &RedisEndpoint) -> Result<Endpoint, EngineError> {
    endpoint_with(ctx.plan, e, |t| ctx.render(t))
}

/// The endpoint with every template rendered by `render` (outside a step: `cutover status`).
pub(crate) fn endpoint_with(
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
    Ok(ep)
}

/// `[user@]address:port (agent on HOST)` for `cutover plan`, no secret.
pub(crate) fn describe(values: &Values<'_>, e: &RedisEndpoint) -> Result<String, EngineError> {
    let address = match &e.address {
        Some(a) => show(a, values)?,
        None => "127.0.0.1".into(),
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
    let (s, t) = (endpoint(ctx, source)?, endpoint(ctx, target)?);
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
/// its host at (`[hosts]`' `address`, else what its SSH configuration resolves to).
pub(crate) async fn server_address(
    ctx: &StepCtx<'_>,
    e: &RedisEndpoint,
) -> Result<String, EngineError> {
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
