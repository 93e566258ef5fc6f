//! Errors of the Redis movers and verifiers, each naming the server, the host it was reached
//! from, and what to do next. Access failures (a wrong password, a server out of reach) are
//! their own variants, so [`RedisError::class`] gives them the "cannot reach or use" exit
//! code without reading message text.

use crate::agent::AgentError;

/// Why a Redis operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    /// The agent on the host could not be started or stopped answering (SSH, upload...).
    #[error(transparent)]
    Agent(#[from] AgentError),
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

    /// The failure's class: exit codes follow from it, never from the text. A refused
    /// password is [`Auth`](cutover_exec::FailureClass::Auth) and a server out of reach
    /// [`Unreachable`](cutover_exec::FailureClass::Unreachable) (both exit code 4); an
    /// agent's failure keeps its own class (an SSH failure, say).
    pub fn class(&self) -> cutover_exec::FailureClass {
        use cutover_exec::FailureClass as C;
        match self {
            RedisError::Agent(e) => e.class(),
            RedisError::Auth { .. } => C::Auth,
            RedisError::Unreachable { .. } => C::Unreachable,
            RedisError::Server { .. } => C::Failed,
            RedisError::Precondition { .. } => C::Precondition,
            RedisError::Usage(_) => C::PlanInvalid,
        }
    }
}
