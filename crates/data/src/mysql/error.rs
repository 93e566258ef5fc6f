//! Errors of the MariaDB/MySQL movers and verifiers, each naming the server, the host it was
//! reached from, and what to do next; each in a [`FailureClass`] decided from typed facts
//! (the agent's failure code, the server's error number), which chooses the exit code.

use crate::agent::AgentError;
use cutover_exec::FailureClass;

/// Why a MariaDB/MySQL operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MysqlError {
    /// The agent on the host could not be started or stopped answering (SSH, upload...).
    #[error(transparent)]
    Agent(#[from] AgentError),
    /// The server, or the agent's work, failed.
    #[error("{message}{}", hint.as_deref().map(|h| format!("\nhint: {h}")).unwrap_or_default())]
    Failed {
        /// What failed, naming the side, the server and the host.
        message: String,
        /// What to do, when known.
        hint: Option<String>,
        /// The kind of failure.
        class: FailureClass,
    },
}

impl MysqlError {
    /// A precondition failure.
    pub fn precondition(problem: impl Into<String>, hint: impl Into<String>) -> Self {
        MysqlError::Failed {
            message: problem.into(),
            hint: Some(hint.into()),
            class: FailureClass::Precondition,
        }
    }

    /// A failure of the work itself.
    pub fn failed(message: impl Into<String>) -> Self {
        MysqlError::Failed {
            message: message.into(),
            hint: None,
            class: FailureClass::Failed,
        }
    }

    /// The failure's class.
    pub fn class(&self) -> FailureClass {
        match self {
            MysqlError::Agent(e) => e.class(),
            MysqlError::Failed { class, .. } => *class,
        }
    }
}
