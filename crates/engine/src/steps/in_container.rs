//! A Redis or MariaDB/MySQL server in a container (`container = "NAME"` on a `redis.*` or
//! `mysql.*` endpoint), resolved when a step runs: the agent on the container's host
//! reaches it where `docker inspect` says (the published port, else the container's
//! address), and another server reaches it through the published port on the host's
//! address. Resolved at each step, not once: a container recreated by compose between two
//! steps gets a new address and may get a new port.

use super::docker::{self, Failed, QUICK};
use crate::context::StepCtx;
use crate::error::EngineError;
use cutover_data::docker::reach::{self, FromOtherHosts, NoReach, Reach};
use cutover_data::docker::DockerFailure;
use cutover_exec::{Executor, FailureClass};

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
