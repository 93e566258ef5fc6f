//! A source and a target server, each served by an agent on its host, opened once for an
//! operation (a sync, a switch, a proof) so that the calls inside a write pause cost one
//! round trip each and no connection setup.

use super::endpoint::Endpoint;
use super::error::RedisError;
use super::info::State;
use super::session::{open_pair, Agent};
use crate::agent::AgentBinary;
use cutover_exec::Executor;

/// Progress lines.
pub type Progress<'a> = &'a (dyn Fn(String) + Send + Sync);

/// Both servers with their agents.
pub struct Pair {
    /// Runs the plan's commands (the switch's clients command).
    pub exec: Executor,
    /// The source's agent.
    pub source: Agent,
    /// The target's agent.
    pub target: Agent,
    /// The source's full and partial sync counters and the target's replication bytes
    /// received (`total_net_repl_input_bytes`) when the preflight read them: the sync's own
    /// figures count from there (a small full sync is over before it is watched).
    pub(crate) sync_counters: Option<(u64, u64, u64)>,
    /// The target's settings before the sync, as the preflight read them: the sync restores
    /// the one it changes for its time (`repl-diskless-load`).
    pub(crate) previous: Option<super::sync::Previous>,
}

impl Pair {
    /// Starts both agents.
    pub async fn open(
        exec: &Executor,
        binary: &AgentBinary,
        source: &Endpoint,
        target: &Endpoint,
    ) -> Result<Pair, RedisError> {
        let (source, target) = open_pair(exec, binary, source, target).await?;
        Ok(Pair {
            exec: exec.clone(),
            source,
            target,
            sync_counters: None,
            previous: None,
        })
    }

    /// Both servers' states at once, looking for the commands each side needs.
    pub async fn states(
        &mut self,
        source_commands: &[&str],
        target_commands: &[&str],
    ) -> Result<(State, State), RedisError> {
        let (a, b) = tokio::join!(
            self.source.state(source_commands),
            self.target.state(target_commands)
        );
        Ok((a?, b?))
    }

    /// Both servers' states from `INFO` alone, at once (see [`Agent::progress_state`]).
    pub async fn progress_states(&mut self) -> Result<(State, State), RedisError> {
        let (a, b) = tokio::join!(self.source.progress_state(), self.target.progress_state());
        Ok((a?, b?))
    }

    /// Stops both agents.
    pub async fn close(self) {
        tokio::join!(self.source.close(), self.target.close());
    }
}
