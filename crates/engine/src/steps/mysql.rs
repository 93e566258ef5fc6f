//! What the `mysql.*` steps share: a plan endpoint rendered into the data crate's
//! [`Endpoint`] (the password as a secret), its display for `cutover plan`, error mapping
//! (each failure in its class: a refused password is exit code 4), the steps a sync and a
//! switch name, and the states the copy journals (its snapshots and the tables it loaded),
//! from which a resumed copy and the sync read where to go on.

use super::in_container::{self, ServerAt};
use super::show;
use super::traffic::save_state;
use crate::context::{StepCtx, Values};
use crate::error::EngineError;
use cutover_data::mysql::protocol::Position;
use cutover_data::mysql::{Endpoint, MysqlError};
use cutover_exec::{Executor, SecretValue};
use cutover_journal::Event;
use cutover_plan::steps::{MysqlCopyStep, MysqlEndpoint, MysqlSyncStep};
use cutover_plan::{Plan, StepKind};

/// The endpoint with real values (the password kept secret), a server in a container
/// looked up where the agent reaches it.
pub(crate) async fn endpoint(
    ctx: &StepCtx<'_>,
    e: &MysqlEndpoint,
) -> Result<Endpoint, EngineError> {
    in_container::resolve(ctx, endpoint_with(ctx.plan, e, |t| ctx.render(t))?).await
}

/// [`endpoint`] outside a step (`cutover status`).
pub(crate) async fn endpoint_quietly(
    exec: &Executor,
    plan: &Plan,
    e: &MysqlEndpoint,
    render: impl Fn(&cutover_plan::Template) -> Result<String, EngineError>,
) -> Result<Endpoint, String> {
    let ep = endpoint_with(plan, e, render).map_err(|e| e.to_string())?;
    in_container::resolve_quietly(exec, ep).await
}

/// The endpoint with every template rendered by `render`, a server in a container not yet
/// looked up (its `address` and `port` are the container's own).
fn endpoint_with(
    plan: &Plan,
    e: &MysqlEndpoint,
    render: impl Fn(&cutover_plan::Template) -> Result<String, EngineError>,
) -> Result<Endpoint, EngineError> {
    let host = e.host.value.clone();
    let address = match &e.address {
        Some(a) => render(a)?,
        None => "127.0.0.1".into(),
    };
    let mut ep = Endpoint::new(host.clone(), address);
    ep.port = e.port.unwrap_or(3306);
    if let Some(s) = &e.socket {
        ep.socket = Some(render(s)?);
    }
    if let Some(u) = &e.user {
        ep.user = render(u)?;
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

/// `user@address:port (agent on HOST)` for `cutover plan`, no secret.
pub(crate) fn describe(values: &Values<'_>, e: &MysqlEndpoint) -> Result<String, EngineError> {
    let user = match &e.user {
        Some(u) => show(u, values)?,
        None => "root".into(),
    };
    let port = e.port.unwrap_or(3306);
    let at = match (&e.container, &e.socket, &e.address) {
        (Some(c), _, _) => format!("container {}:{port}", show(c, values)?),
        (None, Some(s), _) => show(s, values)?,
        (None, None, Some(a)) => format!("{}:{port}", show(a, values)?),
        (None, None, None) => format!("127.0.0.1:{port}"),
    };
    Ok(format!("{user}@{at} (agent on {})", e.host.value))
}

/// A MariaDB/MySQL failure as a step failure in its class (exit code 4 for access).
pub(crate) fn failed(ctx: &StepCtx<'_>, e: MysqlError) -> EngineError {
    match e {
        MysqlError::Agent(e) => super::files_verify::agent_failed(ctx, e),
        other => ctx.failed_as(other.class(), other.to_string()),
    }
}

/// How another *server* reaches this endpoint's server (for replication), address and
/// port: see [`in_container::server_address`] (an address local to its host: loopback, or
/// any with a `socket`). `field` names the step's field that sets the address instead.
pub(crate) async fn server_address(
    ctx: &StepCtx<'_>,
    e: &MysqlEndpoint,
    field: &str,
) -> Result<(String, u16), EngineError> {
    let at = ServerAt {
        host: &e.host.value,
        container: e.container.as_ref(),
        address: e.address.as_ref(),
        port: e.port.unwrap_or(3306),
    };
    let local = |a: &str| in_container::is_loopback(a) || e.socket.is_some();
    in_container::server_address(ctx, at, field, local).await
}

/// The `mysql.copy` step a sync names.
pub(crate) fn copy_step<'p>(plan: &'p Plan, id: &str) -> Result<&'p MysqlCopyStep, EngineError> {
    match plan.step(id).map(|s| &s.kind) {
        Some(StepKind::MysqlCopy(c)) => Ok(c),
        _ => Err(EngineError::Invalid(format!(
            "`{id}` is not a mysql.copy step"
        ))),
    }
}

/// The `mysql.sync` step a switch names.
pub(crate) fn sync_step<'p>(plan: &'p Plan, id: &str) -> Result<&'p MysqlSyncStep, EngineError> {
    match plan.step(id).map(|s| &s.kind) {
        Some(StepKind::MysqlSync(c)) => Ok(c),
        _ => Err(EngineError::Invalid(format!(
            "`{id}` is not a mysql.sync step"
        ))),
    }
}

/// Every state `label` step `step` journaled in this run since it was last rolled back, in
/// order (a copy's tables and snapshots: each attempt adds its own).
pub(crate) fn states<T: serde::de::DeserializeOwned>(
    ctx: &StepCtx<'_>,
    step: &str,
    label: &str,
) -> Result<Vec<T>, EngineError> {
    let mut out = Vec::new();
    for r in ctx.journal.events(ctx.run_id)? {
        match &r.event {
            Event::StepRolledBack { step: s, .. } if s == step => out.clear(),
            Event::StateRecorded {
                step: s,
                label: l,
                body,
            } if s == step && l == label => {
                let v = serde_json::from_str(body).map_err(|e| {
                    ctx.failed(format!("journaled {label} of `{step}` is unreadable: {e}"))
                })?;
                out.push(v);
            }
            _ => {}
        }
    }
    Ok(out)
}

/// A snapshot a copy attempt took.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Snapshot {
    /// The attempt's number among the step's snapshots (0 first).
    pub attempt: usize,
    /// The source's position.
    pub position: Position,
}

/// A table a copy attempt loaded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct TableDone {
    /// Database.
    pub db: String,
    /// Table.
    pub name: String,
    /// The snapshot it was read from.
    pub attempt: usize,
}

/// Journals a snapshot of this copy step; returns its attempt number.
pub(crate) fn save_snapshot(ctx: &StepCtx<'_>, position: &Position) -> Result<usize, EngineError> {
    let attempt = states::<Snapshot>(ctx, ctx.id(), "snapshot")?.len();
    save_state(
        ctx,
        "snapshot",
        &Snapshot {
            attempt,
            position: position.clone(),
        },
    )?;
    Ok(attempt)
}

/// Where the sync of copy step `copy` starts, and (for a copy resumed from later
/// snapshots) up to where it replays idempotently.
pub(crate) fn copy_positions(
    ctx: &StepCtx<'_>,
    copy: &str,
) -> Result<(Position, Option<Position>), EngineError> {
    let snapshots: Vec<Snapshot> = states(ctx, copy, "snapshot")?;
    let tables: Vec<TableDone> = states(ctx, copy, "table")?;
    let used: Vec<&Snapshot> = snapshots
        .iter()
        .filter(|s| tables.iter().any(|t| t.attempt == s.attempt))
        .collect();
    // A copy of databases without tables loaded none: its last snapshot is where to start.
    if used.is_empty() {
        if let Some(last) = snapshots.last() {
            return Ok((last.position.clone(), None));
        }
    }
    let (Some(first), Some(last)) = (used.first(), used.last()) else {
        return Err(ctx.failed_as(
            cutover_exec::FailureClass::Precondition,
            format!("the copy step `{copy}` recorded no snapshot in this run: replication starts from the copy's position, so run it first (`cutover apply`)"),
        ));
    };
    let converge = (first.attempt != last.attempt).then(|| last.position.clone());
    Ok((first.position.clone(), converge))
}
