//! Errors of the Redis movers and verifiers, each naming the server, the host it was reached
//! from, and what to do next. Access failures (a wrong password, a server out of reach) are
//! their own variants, so callers give them the "cannot reach or use" exit code without
//! reading message text.

use crate::files::FilesError;

/// Why a Redis operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    /// The agent on the host could not be started or stopped answering (SSH, upload...).
    #[error(transparent)]
    Agent(#[from] FilesError),
    /// The server refused the credentials.
    #[error("{message}\nhint: {hint}")]
    Auth {
        /// What was refused, naming the server and the user.
        message: String,
        /// What to do.
        hint: String,
    },
    /// The server could not be reached from the host.
    #[error("{message}\nhint: {hint}")]
    Unreachable {
        /// What failed, naming the server and the host.
        message: String,
        /// What to do.
        hint: String,
    },
    /// The server answered with an error.
    #[error("{message}{}", hint.as_deref().map(|h| format!("\nhint: {h}")).unwrap_or_default())]
    Server {
        /// What failed.
        message: String,
        /// What to do, when known.
        hint: Option<String>,
    },
    /// A precondition does not hold (versions, a target holding data, renamed commands...).
    #[error("{problem}\nhint: {hint}")]
    Precondition {
        /// What is wrong, naming the server.
        problem: String,
        /// How to fix it.
        hint: String,
    },
    /// An argument is not usable (a URL on the command line).
    #[error("{0}")]
    Usage(String),
}

impl RedisError {
    /// A precondition failure.
    pub fn precondition(problem: impl Into<String>, hint: impl Into<String>) -> Self {
        RedisError::Precondition {
            problem: problem.into(),
            hint: hint.into(),
        }
    }

    /// A server error without a hint.
    pub fn server(message: impl Into<String>) -> Self {
        RedisError::Server {
            message: message.into(),
            hint: None,
        }
    }

    /// True for failures to reach or log in to a server or host (exit code 4), as opposed to
    /// a server that refused an operation.
    pub fn is_access(&self) -> bool {
        matches!(
            self,
            RedisError::Auth { .. }
                | RedisError::Unreachable { .. }
                | RedisError::Agent(FilesError::Exec(cutover_exec::ExecError::Connect { .. }))
        )
    }
}
