//! Errors of file sync and verification, each naming the host and saying what to do.

use crate::agent::AgentError;

/// Why a files operation could not be carried out (a verification that finds differences
/// is not an error: it returns a report that says so).
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    /// The agent on a host could not be started, stopped answering, or reported an error.
    #[error(transparent)]
    Agent(#[from] AgentError),
    /// A side of a comparison or sync is malformed.
    #[error("{0}")]
    Usage(String),
}

impl FilesError {
    /// The failure's class (an agent's error code is its own typed class, sent by the agent).
    pub fn class(&self) -> cutover_exec::FailureClass {
        match self {
            FilesError::Agent(e) => e.class(),
            FilesError::Usage(_) => cutover_exec::FailureClass::PlanInvalid,
        }
    }

    /// The host an agent that reported an error or stopped ran on.
    pub fn failed_on(&self) -> Option<&str> {
        match self {
            FilesError::Agent(e) => e.failed_on(),
            FilesError::Usage(_) => None,
        }
    }
}
