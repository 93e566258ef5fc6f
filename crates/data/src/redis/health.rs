//! One server's health as the store sees it: reachable with its credentials, its version,
//! its role, and how far behind it is when it replicates.

use super::endpoint::Endpoint;
use super::error::RedisError;
use super::session::Agent;
use super::sync::role_text;
use crate::agent::AgentBinary;
use cutover_exec::Executor;

/// A server's health.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Health {
    /// `Redis 7.0.15`.
    pub version: String,
    /// `primary`, or `replica of host:port, link up`.
    pub role: String,
    /// Keys in every database.
    pub keys: u64,
    /// Used memory in bytes.
    pub used_memory: u64,
}

/// Reaches the server through an agent on its host and reads its health.
pub async fn health(
    exec: &Executor,
    binary: &AgentBinary,
    endpoint: &Endpoint,
) -> Result<Health, RedisError> {
    let mut agent = Agent::open(exec, binary, endpoint, "server").await?;
    let state = agent.state(&[]).await;
    agent.close().await;
    let state = state?;
    Ok(Health {
        version: state.version_text(),
        role: role_text(&state),
        keys: state.keys(),
        used_memory: state.number("used_memory"),
    })
}
