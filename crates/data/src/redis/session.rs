//! The controller's end of the Redis requests: an agent on the endpoint's host (started over
//! SSH, or in-process for the controller's own machine) answering typed calls. Agent errors
//! come back classified (`redis-auth`, `redis-unreachable`...) and become typed
//! [`RedisError`]s naming the side (source or target) and what to do.

use super::endpoint::Endpoint;
use super::error::RedisError;
use super::info::State;
use super::protocol::{Conn, RedisReply, RedisRequest};
use crate::agent::protocol::{Reply, Request};
use crate::agent::session::Session;
use crate::agent::AgentBinary;
use crate::agent::AgentError;
use cutover_exec::Executor;

/// An agent serving one server.
pub struct Agent {
    session: Session,
    /// The server.
    pub endpoint: Endpoint,
    /// `source` or `target`, for messages.
    pub side: &'static str,
}

impl Agent {
    /// Starts the agent on the endpoint's host.
    pub async fn open(
        exec: &Executor,
        binary: &AgentBinary,
        endpoint: &Endpoint,
        side: &'static str,
    ) -> Result<Agent, RedisError> {
        let session = Session::open(exec, &endpoint.host, binary, endpoint.sudo).await?;
        Ok(Agent {
            session,
            endpoint: endpoint.clone(),
            side,
        })
    }

    /// How the agent reaches the server.
    pub fn conn(&self) -> Conn {
        self.endpoint.conn()
    }

    /// Sends `request` and returns its reply (progress lines go to `progress`).
    pub async fn call(
        &mut self,
        request: RedisRequest,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<RedisReply, RedisError> {
        self.send(request).await?;
        loop {
            match self.recv().await? {
                RedisReply::Progress { keys } => progress(keys),
                other => return Ok(other),
            }
        }
    }

    /// Sends a request without waiting for its reply.
    pub async fn send(&mut self, request: RedisRequest) -> Result<(), RedisError> {
        self.session
            .send(&Request::Redis { request })
            .await
            .map_err(|e| self.classify(e))
    }

    /// Reads the next reply.
    pub async fn recv(&mut self) -> Result<RedisReply, RedisError> {
        match self.session.recv().await {
            Ok(Reply::Redis { reply }) => Ok(reply),
            Ok(other) => Err(self.classify(self.session.unexpected(&other))),
            Err(e) => Err(self.classify(e)),
        }
    }

    /// Calls `request`, which has no progress.
    pub async fn ask(&mut self, request: RedisRequest) -> Result<RedisReply, RedisError> {
        self.call(request, &mut |_| {}).await
    }

    /// The server's state, looking for `commands` among those it knows.
    pub async fn state(&mut self, commands: &[&str]) -> Result<State, RedisError> {
        self.facts(commands, true).await
    }

    /// The server's state from `INFO` alone (no settings): what a watched sync reads many
    /// times a second.
    pub async fn progress_state(&mut self) -> Result<State, RedisError> {
        self.facts(&[], false).await
    }

    async fn facts(&mut self, commands: &[&str], settings: bool) -> Result<State, RedisError> {
        let request = RedisRequest::Facts {
            server: self.conn(),
            commands: commands.iter().map(|c| c.to_string()).collect(),
            settings,
        };
        match self.ask(request).await? {
            RedisReply::Facts(f) => Ok(State::new(f)),
            other => Err(self.unexpected(&other)),
        }
    }

    /// Expects `Done`.
    pub async fn done(&mut self, request: RedisRequest) -> Result<(), RedisError> {
        match self.ask(request).await? {
            RedisReply::Done => Ok(()),
            other => Err(self.unexpected(&other)),
        }
    }

    /// An error for a reply that does not fit.
    pub fn unexpected(&self, r: &RedisReply) -> RedisError {
        RedisError::Agent(AgentError::Protocol {
            host: self.endpoint.host.clone(),
            detail: format!("unexpected Redis reply {r:?}"),
        })
    }

    /// Stops the agent.
    pub async fn close(self) {
        self.session.close().await;
    }

    /// Turns an agent error into a typed one, naming the side and what to do.
    fn classify(&self, e: AgentError) -> RedisError {
        let AgentError::Reported { message, code, .. } = e else {
            return RedisError::Agent(e);
        };
        let (side, ep) = (self.side, &self.endpoint);
        match code.as_str() {
            "redis-auth" => RedisError::Auth {
                message: format!("{side}: {message}"),
                hint: format!(
                    "check the password of the {side} (its secret) and `user` (`{}`)",
                    ep.user.as_deref().unwrap_or("default")
                ),
            },
            "redis-unreachable" => RedisError::Unreachable {
                message: format!("{side}: {message} (agent on host `{}`)", ep.host),
                hint: format!(
                    "is the server running and listening there? `address` and `port` are how host `{}` reaches it",
                    ep.host
                ),
            },
            "redis-noperm" => RedisError::Server {
                message: format!("{side}: {message}"),
                hint: Some("give the ACL user the commands cutover needs (e.g. `+@all`), or use an administrator".into()),
            },
            "redis-unknown-command" => RedisError::Server {
                message: format!("{side}: {message}"),
                hint: Some("cutover needs CONFIG, REPLICAOF, CLIENT and INFO under their own names; remove the `rename-command` for it".into()),
            },
            _ => RedisError::server(format!("{side}: {message}")),
        }
    }
}

/// Opens the agents of both sides at once.
pub async fn open_pair(
    exec: &Executor,
    binary: &AgentBinary,
    source: &Endpoint,
    target: &Endpoint,
) -> Result<(Agent, Agent), RedisError> {
    let (a, b) = tokio::join!(
        Agent::open(exec, binary, source, "source"),
        Agent::open(exec, binary, target, "target")
    );
    match (a, b) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        (Err(e), Ok(b)) => {
            b.close().await;
            Err(e)
        }
        (Ok(a), Err(e)) => {
            a.close().await;
            Err(e)
        }
        (Err(e), Err(_)) => Err(e),
    }
}
