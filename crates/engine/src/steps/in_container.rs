//! A Redis or MariaDB/MySQL server in a container (`container = "NAME"` on a `redis.*` or
//! `mysql.*` endpoint), resolved when a step runs: the agent on the container's host
//! reaches it where `docker inspect` says (the published port, else the container's
//! address), and another server reaches it through the published port on the host's
//! address. Resolved at each step, not once: a container recreated by compose between two
//! steps gets a new address and may get a new port. Also how another server reaches a
//! store's server that is not in a container ([`server_address`]).

use super::docker::{self, Failed, QUICK};
use crate::context::StepCtx;
use crate::error::EngineError;
use cutover_data::docker::reach::{self, FromOtherHosts, NoReach, Reach};
use cutover_data::docker::DockerFailure;
use cutover_exec::{Executor, FailureClass};
use cutover_plan::Template;

/// A store's endpoint whose server may run in a container (Redis, MariaDB/MySQL).
pub(crate) trait Contained {
    /// The host its agent runs on, and whether commands there run with sudo.
    fn on(&self) -> (&str, bool);
    /// The container's name and the port the server listens on in it, if in one.
    fn container(&self) -> Option<(&str, u16)>;
    /// Where the agent reaches the server instead.
    fn reached_at(&mut self, address: String, port: u16);
}

macro_rules! contained {
    ($endpoint:ty) => {
        impl Contained for $endpoint {
            fn on(&self) -> (&str, bool) {
                (&self.host, self.sudo)
            }
            fn container(&self) -> Option<(&str, u16)> {
                self.container.as_deref().map(|c| (c, self.port))
            }
            fn reached_at(&mut self, address: String, port: u16) {
                (self.address, self.port) = (address, port);
            }
        }
    };
}
contained!(cutover_data::redis::Endpoint);
contained!(cutover_data::mysql::Endpoint);

/// `ep` with a server in a container looked up where the agent reaches it.
pub(crate) async fn resolve<E: Contained>(ctx: &StepCtx<'_>, mut ep: E) -> Result<E, EngineError> {
    if let Some((container, port)) = ep.container() {
        let r = reach(ctx, ep.on().0, container, port).await?;
        ep.reached_at(r.address, r.port);
    }
    Ok(ep)
}

/// [`resolve`] outside a step (`cutover status`).
pub(crate) async fn resolve_quietly<E: Contained>(exec: &Executor, mut ep: E) -> Result<E, String> {
    if let Some((container, port)) = ep.container() {
        let (host, sudo) = ep.on();
        let r = reach_quietly(exec, sudo, host, container, port).await?;
        ep.reached_at(r.address, r.port);
    }
    Ok(ep)
}

/// True for an address that means "this host" (other hosts cannot use it).
pub(crate) fn is_loopback(address: &str) -> bool {
    address == "localhost" || address.starts_with("127.") || address == "::1"
}

/// Where a store's server is, as its endpoint says: on `host`, in `container` or at
/// `address` (default 127.0.0.1), listening on `port`.
pub(crate) struct ServerAt<'e> {
    /// The host its agent runs on.
    pub host: &'e str,
    /// The container it runs in.
    pub container: Option<&'e Template>,
    /// Its address as the host reaches it.
    pub address: Option<&'e Template>,
    /// Its port.
    pub port: u16,
}

/// How another *server* reaches this one (for replication), address and port: its
/// `address` unless `local` says only its host can use it, else the address other hosts
/// reach its host at (`[hosts]`' `address`, else what its SSH configuration resolves to); a
/// server in a container through its published port there. `field` names the step's field
/// that sets the address instead.
pub(crate) async fn server_address(
    ctx: &StepCtx<'_>,
    at: ServerAt<'_>,
    field: &str,
    local: impl Fn(&str) -> bool,
) -> Result<(String, u16), EngineError> {
    if let Some(c) = at.container {
        let c = ctx.render(c)?;
        return peer_address(ctx, at.host, &c, at.port, field).await;
    }
    let address = match at.address {
        Some(a) => ctx.render(a)?,
        None => "127.0.0.1".into(),
    };
    if !local(&address) {
        return Ok((address, at.port));
    }
    Ok((ctx.reach_address(at.host).await?, at.port))
}

/// Where the agent on `host` reaches the server listening on `port` in `container`.
pub(crate) async fn reach(
    ctx: &StepCtx<'_>,
    host: &str,
    container: &str,
    port: u16,
) -> Result<Reach, EngineError> {
    let found = match docker::run(
        ctx,
        reach::inspect(host, container),
        "docker inspect",
        QUICK,
    )
    .await
    {
        Ok(json) => reach::reach(&json, host, container, port),
        Err(Failed::Docker(DockerFailure::Other { detail, .. })) if reach::is_missing(&detail) => {
            Err(NoReach::Missing {
                host: host.into(),
                container: container.into(),
            })
        }
        Err(f) => return Err(f.into_error(ctx)),
    };
    found.map_err(|e| ctx.failed_as(e.class(), e.to_string()))
}

/// The same outside a step (`cutover status`): nothing journaled, failures as text.
pub(crate) async fn reach_quietly(
    exec: &Executor,
    sudo: bool,
    host: &str,
    container: &str,
    port: u16,
) -> Result<Reach, String> {
    let cmd = reach::inspect(host, container)
        .sudo(sudo)
        .timeout(Some(QUICK));
    let out = exec.run(&cmd).await.map_err(|e| e.to_string())?;
    if !out.success() {
        if reach::is_missing(&out.stderr) {
            let missing = NoReach::Missing {
                host: host.into(),
                container: container.into(),
            };
            return Err(missing.to_string());
        }
        return Err(DockerFailure::classify(host, "docker inspect", &out.stderr).to_string());
    }
    reach::reach(&out.stdout, host, container, port).map_err(|e| e.to_string())
}

/// The address and port at which a server on another host reaches the server on `port` in
/// `container` on `host` (a replication's peer). `field` is the step's field that names
/// the address instead, for the message when there is none.
pub(crate) async fn peer_address(
    ctx: &StepCtx<'_>,
    host: &str,
    container: &str,
    port: u16,
    field: &str,
) -> Result<(String, u16), EngineError> {
    let r = reach(ctx, host, container, port).await?;
    match r.from_other_hosts {
        FromOtherHosts::HostAddress => Ok((ctx.reach_address(host).await?, r.port)),
        FromOtherHosts::Address(a) => Ok((a, r.port)),
        FromOtherHosts::Unreachable { why } => Err(ctx.failed_as(
            FailureClass::Precondition,
            format!(
                "the server on the other host cannot reach container `{container}` on {host}: it {why}; publish the port on an address other hosts reach (compose `ports: [\"{port}:{port}\"]`), or set `{field}` to an address the other server reaches it at"
            ),
        )),
    }
}
