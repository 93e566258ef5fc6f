//! What the `redis.*` steps share: a plan endpoint rendered into the data crate's
//! [`Endpoint`] (the password as a secret), its display for `cutover plan`, the pair of
//! agents, and error mapping (a refused password or a server out of reach is exit code 4).

use super::in_container::{self, ServerAt};
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
    in_container::resolve(ctx, endpoint_with(ctx.plan, e, |t| ctx.render(t))?).await
}

/// [`endpoint`] outside a step (`cutover status`).
pub(crate) async fn endpoint_quietly(
    exec: &Executor,
    plan: &cutover_plan::Plan,
    e: &RedisEndpoint,
    render: impl Fn(&cutover_plan::Template) -> Result<String, EngineError>,
) -> Result<Endpoint, String> {
    let ep = endpoint_with(plan, e, render).map_err(|e| e.to_string())?;
    in_container::resolve_quietly(exec, ep).await
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
        RedisError::Agent(e) => super::files_verify::agent_failed(ctx, e),
        other => ctx.failed_as(other.class(), other.to_string()),
    }
}

/// How another *server* reaches this endpoint's server (for replication): see
/// [`in_container::server_address`] (an address local to its host: loopback or a socket).
/// `field` names the step's field that sets it instead.
pub(crate) async fn server_address(
    ctx: &StepCtx<'_>,
    e: &RedisEndpoint,
    field: &str,
) -> Result<String, EngineError> {
    let at = ServerAt {
        host: &e.host.value,
        container: e.container.as_ref(),
        address: e.address.as_ref(),
        // The published port, which the endpoint resolves to as well.
        port: e.port.unwrap_or(6379),
    };
    let local = |a: &str| in_container::is_loopback(a) || a.starts_with('/');
    let (address, _) = in_container::server_address(ctx, at, field, local).await?;
    Ok(address)
}
