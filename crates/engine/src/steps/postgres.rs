//! What the `postgres.*` steps share: a plan endpoint rendered into the data crate's
//! [`Endpoint`] (the password as a secret), its display for `cutover plan`, and error
//! mapping (connection failures keep their own exit code).

use super::show;
use crate::context::{StepCtx, Values};
use crate::error::EngineError;
use cutover_data::postgres::{Endpoint, PgError};
use cutover_exec::SecretValue;
use cutover_plan::steps::PgEndpoint;
use cutover_plan::{Plan, Template};

/// The endpoint with real values (the password kept secret).
pub(crate) fn endpoint(ctx: &StepCtx<'_>, e: &PgEndpoint) -> Result<Endpoint, EngineError> {
    endpoint_with(ctx.plan, e, |t| ctx.render(t))
}

/// The endpoint with every template rendered by `render` (outside a step: `cutover status`).
pub(crate) fn endpoint_with(
    plan: &Plan,
    e: &PgEndpoint,
    render: impl Fn(&Template) -> Result<String, EngineError>,
) -> Result<Endpoint, EngineError> {
    let host = e.host.value.clone();
    let address = match &e.address {
        Some(a) => render(a)?,
        None => "localhost".into(),
    };
    let mut ep = Endpoint::new(host.clone(), address, render(&e.db)?);
    ep.port = e.port.unwrap_or(5432);
    if let Some(u) = &e.user {
        ep.user = render(u)?;
    }
    if let Some(pw) = &e.password {
        ep.password = Some(SecretValue::new(render(pw)?));
    }
    if let Some(f) = &e.passfile {
        ep.passfile = Some(render(f)?);
    }
    ep.sslmode = e.sslmode.as_ref().map(|m| m.value.clone());
    if let Some(b) = &e.bin {
        ep.bin = Some(render(b)?);
    }
    if let Some(c) = &e.container {
        ep.container = Some(render(c)?);
    }
    ep.sudo = plan.host(&host).is_some_and(|h| h.sudo);
    Ok(ep)
}

/// `user@address:port/db (tools on HOST)` for `cutover plan`, no secret.
pub(crate) fn describe(values: &Values<'_>, e: &PgEndpoint) -> Result<String, EngineError> {
    let address = match &e.address {
        Some(a) => show(a, values)?,
        None => "localhost".into(),
    };
    let user = match &e.user {
        Some(u) => show(u, values)?,
        None => "postgres".into(),
    };
    let tools = match &e.container {
        Some(c) => format!("container {} on {}", show(c, values)?, e.host.value),
        None => e.host.value.clone(),
    };
    Ok(format!(
        "{user}@{address}:{}/{} (tools on {tools})",
        e.port.unwrap_or(5432),
        show(&e.db, values)?,
    ))
}

/// A PostgreSQL failure as a step failure; connection failures keep their own class.
pub(crate) fn failed(ctx: &StepCtx<'_>, e: PgError) -> EngineError {
    match e {
        PgError::Exec(e) => ctx.exec_failed(e),
        other => ctx.failed_as(other.class(), other.to_string()),
    }
}

/// Shows a progress line and keeps the step's own id out of it.
pub(crate) fn progress<'a>(ctx: &'a StepCtx<'a>) -> impl Fn(String) + Send + Sync + 'a {
    move |line: String| ctx.detail(line)
}

/// How another *server* reaches this endpoint's server (for subscriptions): its `address`
/// unless that is local to its host (loopback, a socket directory), else the host's
/// `address` from `[hosts]`.
pub(crate) fn server_address(ctx: &StepCtx<'_>, e: &PgEndpoint) -> Result<String, EngineError> {
    let address = match &e.address {
        Some(a) => ctx.render(a)?,
        None => "localhost".into(),
    };
    let local = super::in_container::is_loopback(&address) || address.starts_with('/');
    if !local {
        return Ok(address);
    }
    ctx.plan
        .host(&e.host.value)
        .map(|h| h.address())
        .ok_or_else(|| {
            ctx.failed(format!(
                "no host `{}` for the server's address",
                e.host.value
            ))
        })
}

/// The passwords `role_passwords` gives the roles a step creates, rendered from secrets.
pub(crate) fn role_passwords(
    ctx: &StepCtx<'_>,
    given: &cutover_plan::steps::role_passwords::RolePasswords,
) -> Result<cutover_data::postgres::roles::RolePasswords, EngineError> {
    let mut out = std::collections::BTreeMap::new();
    for (role, t) in given {
        out.insert(role.clone(), ctx.render(t)?);
    }
    Ok(cutover_data::postgres::roles::RolePasswords(out))
}
