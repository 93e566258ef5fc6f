//! Errors of file sync and verification, each naming the host and saying what to do.

use cutover_exec::ExecError;

/// Why a files operation could not be carried out (a verification that finds differences
/// is not an error: it returns a report that says so).
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    /// Running a command on a host failed.
    #[error(transparent)]
    Exec(#[from] ExecError),
    /// The agent reported an error.
    #[error("on {host}: {message}")]
    Agent {
        /// The host.
        host: String,
        /// What went wrong.
        message: String,
        /// Its class (`missing`, `no-space`, `stale-binary`...).
        code: String,
    },
    /// The agent stopped unexpectedly.
    #[error("the cutover agent on {host} stopped: {detail}\n{stderr}\nhint: run with CUTOVER_LOG=debug, and check the host's free space and memory")]
    AgentDied {
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
    /// A side of a comparison or sync is malformed.
    #[error("{0}")]
    Usage(String),
}

impl FilesError {
    /// The failure's class (an agent's error code is its own typed class, sent by the agent).
    pub fn class(&self) -> cutover_exec::FailureClass {
        use cutover_exec::FailureClass as C;
        match self {
            FilesError::Exec(e) => e.class(),
            FilesError::Agent { code, .. } => match code.as_str() {
                "missing" => C::MissingObject,
                "unreadable" | "busy" => C::Permission,
                "no-space" => C::Precondition,
                "connect" | "listen" | "stalled" => C::Unreachable,
                "auth" => C::Auth,
                "protocol" => C::Failed,
                _ => C::Failed,
            },
            FilesError::Usage(_) => C::PlanInvalid,
            _ => C::Failed,
        }
    }
}
