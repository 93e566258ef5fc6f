//! Errors of the agent's transport, whichever store's requests it carries (files, Redis,
//! MariaDB/MySQL, Docker images, the hold relay): it could not be started or uploaded, it
//! stopped, it answered out of protocol, or it reported a failure of its own, with a code
//! that classifies it. Each names the host and says what to do.

use cutover_exec::{ExecError, FailureClass};

/// Why the controller could not get an answer it can use from an agent.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// Running the agent's command on a host failed (SSH, a timeout).
    #[error(transparent)]
    Exec(#[from] ExecError),
    /// The agent reported an error (its store's handler names the store in `code`).
    #[error("on {host}: {message}")]
    Reported {
        /// The host.
        host: String,
        /// What went wrong.
        message: String,
        /// Its class (`missing`, `no-space`, `stale-binary`, `redis-auth`...).
        code: String,
    },
    /// The agent stopped unexpectedly.
    #[error("the cutover agent on {host} stopped: {detail}\n{stderr}\nhint: run with CUTOVER_LOG=debug, and check the host's free space and memory")]
    Died {
        /// The host.
        host: String,
        /// What was seen.
        detail: String,
        /// Its standard error, framed.
        stderr: String,
    },
    /// The agent said something that does not fit the protocol.
    #[error("the cutover agent on {host} answered out of protocol: {detail}\nhint: the host may run an agent of another cutover version; remove ~/.cache/cutover/bin on it")]
    Protocol {
        /// The host.
        host: String,
        /// What was wrong.
        detail: String,
    },
    /// The agent binary could not be copied to the host.
    #[error("cannot upload the cutover agent to {host}: {message}\nhint: the agent goes to ~/.cache/cutover/bin on the host; check that the home directory is writable and has space")]
    Upload {
        /// The host.
        host: String,
        /// What failed.
        message: String,
    },
    /// The controller cannot read its own executable to upload it.
    #[error("cannot read the agent binary {0}\nhint: set CUTOVER_AGENT_BIN to a cutover binary for the hosts' OS and architecture")]
    Binary(String),
    /// In-process agent plumbing failed.
    #[error("cannot start the local agent: {0}")]
    Local(String),
}

impl AgentError {
    /// The failure's class: an SSH failure keeps its own, an agent's error code is its own
    /// typed class (sent by the agent); the rest is a failure of the work.
    pub fn class(&self) -> FailureClass {
        use FailureClass as C;
        match self {
            AgentError::Exec(e) => e.class(),
            AgentError::Reported { code, .. } => match code.as_str() {
                "missing" => C::MissingObject,
                "unreadable" | "busy" => C::Permission,
                "no-space" => C::Precondition,
                "connect" | "listen" | "stalled" => C::Unreachable,
                "auth" => C::Auth,
                _ => C::Failed,
            },
            AgentError::Died { .. }
            | AgentError::Protocol { .. }
            | AgentError::Upload { .. }
            | AgentError::Binary(_)
            | AgentError::Local(_) => C::Failed,
        }
    }

    /// The host an agent that reported an error or stopped ran on.
    pub fn failed_on(&self) -> Option<&str> {
        match self {
            AgentError::Reported { host, .. } | AgentError::Died { host, .. } => Some(host),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reported(code: &str) -> AgentError {
        AgentError::Reported {
            host: "new".into(),
            message: "no space left on /srv".into(),
            code: code.into(),
        }
    }

    #[test]
    fn an_agents_error_code_is_its_class() {
        let classes: Vec<_> = [
            "missing",
            "busy",
            "no-space",
            "stalled",
            "auth",
            "redis-auth",
        ]
        .iter()
        .map(|c| reported(c).class())
        .collect();
        assert_eq!(
            classes,
            [
                FailureClass::MissingObject,
                FailureClass::Permission,
                FailureClass::Precondition,
                FailureClass::Unreachable,
                FailureClass::Auth,
                FailureClass::Failed,
            ]
        );
    }

    #[test]
    fn a_transport_failure_names_the_host_and_what_to_do() {
        assert_eq!(
            reported("no-space").to_string(),
            "on new: no space left on /srv"
        );
        let died = AgentError::Died {
            host: "old".into(),
            detail: "the agent stopped".into(),
            stderr: "| killed".into(),
        };
        assert_eq!(
            died.to_string(),
            "the cutover agent on old stopped: the agent stopped\n| killed\nhint: run with CUTOVER_LOG=debug, and check the host's free space and memory"
        );
        assert_eq!(died.class(), FailureClass::Failed);
        assert_eq!(died.failed_on(), Some("old"));
    }
}
