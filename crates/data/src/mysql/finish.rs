//! `finish`: the end of a switch's way back. Once the run no longer needs to roll back, the
//! source stops replicating from the target and forgets it (`STOP REPLICA`, `RESET REPLICA
//! ALL`: the reverse channel the switch created, with the target's account in it), and is
//! left read-only or writable as the plan says. Where the servers stand is read from them,
//! so a repeat (also after a kill) finishes what an attempt left and a second run changes
//! nothing.

use super::endpoint::Endpoint;
use super::error::MysqlError;
use super::replication;
use super::session::{open_pair, Agent};
use super::switch::read_only;
use crate::agent::AgentBinary;
use cutover_exec::Executor;

/// What the source server is left as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceAfter {
    /// `read_only` (and `super_read_only` on MySQL), as the switch's freeze left it.
    ReadOnly,
    /// Writable.
    Writable,
}

/// What a switch left running, as found on the servers (for `cutover status`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeftRunning {
    /// The source replicates from the target (`host:port` it was told).
    pub reverse_from: Option<String>,
    /// The source is read-only.
    pub source_frozen: bool,
}

/// Ends what the switch left running; idempotent. Returns what was done, one phrase each.
pub async fn finish(
    exec: &Executor,
    source: &Endpoint,
    target: &Endpoint,
    agent: &AgentBinary,
    after: SourceAfter,
) -> Result<Vec<String>, MysqlError> {
    let (mut s, mut t) = open_pair(exec, agent, source, target).await?;
    let result = finish_with(&mut s, &mut t, after).await;
    tokio::join!(s.close(), t.close());
    result
}

async fn finish_with(
    s: &mut Agent,
    t: &mut Agent,
    after: SourceAfter,
) -> Result<Vec<String>, MysqlError> {
    let flavor = replication::flavor(s).await?;
    if replication::status(t, flavor).await?.configured() || read_only(t).await? {
        return Err(MysqlError::precondition(
            format!(
                "the target on {} still replicates or is read-only: no switch was made, there is nothing to finish",
                t.endpoint.host
            ),
            "run the mysql.switch step first; finish only ends what a switch left running",
        ));
    }
    let (old, new) = (s.endpoint.host.clone(), t.endpoint.host.clone());
    let mut done = Vec::new();
    // Read-only before the replication stops, so the source never takes a write in between.
    if after == SourceAfter::ReadOnly {
        let on = replication::read_only(flavor, true);
        let refs: Vec<&str> = on.iter().map(String::as_str).collect();
        s.run(&refs).await?;
    }
    if replication::status(s, flavor).await?.configured() {
        s.run(&[replication::stop(flavor), replication::reset(flavor)])
            .await?;
        done.push(format!(
            "{old} no longer replicates from {new} ({}, {})",
            replication::stop(flavor),
            replication::reset(flavor)
        ));
    }
    done.push(match after {
        SourceAfter::ReadOnly => format!("{old} left read-only"),
        SourceAfter::Writable => {
            let off = replication::read_only(flavor, false);
            let refs: Vec<&str> = off.iter().map(String::as_str).collect();
            s.run(&refs).await?;
            format!("{old} writable again")
        }
    });
    Ok(done)
}

/// Looks for what the switch left running.
pub async fn left_running(
    exec: &Executor,
    source: &Endpoint,
    target: &Endpoint,
    agent: &AgentBinary,
) -> Result<LeftRunning, MysqlError> {
    let (mut s, t) = open_pair(exec, agent, source, target).await?;
    let result = async {
        let flavor = replication::flavor(&mut s).await?;
        let status = replication::status(&mut s, flavor).await?;
        Ok(LeftRunning {
            reverse_from: status.configured().then(|| status.primary.clone()),
            source_frozen: read_only(&mut s).await?,
        })
    }
    .await;
    tokio::join!(s.close(), t.close());
    result
}

/// True when the source replicates from nothing and is read-only or writable as `after`
/// says, and the target takes writes.
pub async fn is_finished(
    exec: &Executor,
    source: &Endpoint,
    target: &Endpoint,
    agent: &AgentBinary,
    after: SourceAfter,
) -> Result<bool, MysqlError> {
    let (mut s, mut t) = open_pair(exec, agent, source, target).await?;
    let result = async {
        let flavor = replication::flavor(&mut s).await?;
        Ok(!replication::status(&mut s, flavor).await?.configured()
            && !replication::status(&mut t, flavor).await?.configured()
            && !read_only(&mut t).await?
            && read_only(&mut s).await? == (after == SourceAfter::ReadOnly))
    }
    .await;
    tokio::join!(s.close(), t.close());
    result
}
