//! Errors from running commands, each naming the host and saying what to do.

use std::time::Duration;

/// Why an SSH connection failed, read from the client's messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectFailure {
    /// The host presented a key different from the one in known_hosts.
    HostKeyChanged,
    /// No key is known for the host.
    HostKeyUnknown,
    /// The server refused our credentials.
    AuthDenied,
    /// The host could not be reached (DNS, refused, timeout, no route).
    Unreachable,
    /// Anything else.
    Other,
}

impl ConnectFailure {
    /// Classifies the SSH client's standard error.
    pub fn classify(stderr: &str) -> Self {
        let s = stderr.to_ascii_lowercase();
        if s.contains("remote host identification has changed")
            || s.contains("host key for") && s.contains("has changed")
        {
            ConnectFailure::HostKeyChanged
        } else if s.contains("host key is known") || s.contains("host key verification failed") {
            ConnectFailure::HostKeyUnknown
        } else if s.contains("permission denied") || s.contains("too many authentication failures")
        {
            ConnectFailure::AuthDenied
        } else if [
            "could not resolve",
            "connection refused",
            "timed out",
            "no route to host",
            "network is unreachable",
            "connection closed",
        ]
        .iter()
        .any(|m| s.contains(m))
        {
            ConnectFailure::Unreachable
        } else {
            ConnectFailure::Other
        }
    }

    /// What the operator should do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            ConnectFailure::HostKeyChanged => "the host's key is not the one recorded in known_hosts: this may be an attack or a reinstalled server; verify the new key out of band, then replace the old entry (ssh-keygen -R HOST) and pin it again",
            ConnectFailure::HostKeyUnknown => "no key is recorded for this host: run `cutover check --pin-host-keys` to record it (set `host_key` in the plan to have it verified)",
            ConnectFailure::AuthDenied => "the server refused the key: check `user` and `identity`, and that the key is in the host's authorized_keys",
            ConnectFailure::Unreachable => "check the address, port and network path (jump host, firewall)",
            ConnectFailure::Other => "run the same `ssh` command by hand to see more",
        }
    }
}

/// An error running a command.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The plan names a host the executor does not know.
    #[error("unknown host `{0}`")]
    UnknownHost(String),
    /// Connecting over SSH failed.
    #[error("cannot connect to host `{host}`: {}\n{stderr}\nhint: {}", summary(.failure), .failure.hint())]
    Connect {
        /// The host.
        host: String,
        /// What went wrong.
        failure: ConnectFailure,
        /// The SSH client's messages.
        stderr: String,
    },
    /// A process could not be started.
    #[error("cannot start `{program}` for host `{host}`: {source}")]
    Spawn {
        /// The host.
        host: String,
        /// The program.
        program: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Input/output with a running process failed.
    #[error("i/o with the command on host `{host}` failed: {source}")]
    Io {
        /// The host.
        host: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The command ran longer than its timeout and was killed.
    #[error("the command on host `{host}` ran longer than {} and was stopped", humanize(*.after))]
    Timeout {
        /// The host.
        host: String,
        /// The timeout.
        after: Duration,
    },
    /// The command printed more than its standard output may hold.
    #[error("the command on host `{host}` printed more than {} on its standard output; cutover stopped reading and ended it rather than fill its memory (a host that answers without end is not trusted)\nhint: if that much output is expected, have the command write it to a file on the host", mib(*.limit))]
    OutputTooLarge {
        /// The host.
        host: String,
        /// The limit it passed.
        limit: usize,
    },
    /// The connection dropped while a tracked command ran, and the host could not be reached
    /// again to re-attach to it.
    #[error("lost the connection to host `{host}` while its command was being started or ran, and could not reach it again within {}; the command may still be running there: once the host is reachable, `cutover apply` re-attaches to it (a tracked command never runs twice){}", humanize(*.after), last_words(.stderr))]
    Lost {
        /// The host.
        host: String,
        /// How long re-attaching was tried.
        after: Duration,
        /// What ssh said last.
        stderr: String,
    },
    /// The directory for SSH control sockets is not private to this user.
    #[error("the SSH control directory {} cannot be trusted: {problem}\nhint: {hint}", .path.display())]
    ControlDir {
        /// The directory.
        path: std::path::PathBuf,
        /// What is wrong with it.
        problem: String,
        /// What to do.
        hint: String,
    },
    /// The way to a host (its jump hosts) cannot be worked out.
    #[error("cannot work out how to reach host `{host}`: {problem}\nhint: fix `jump` in the plan or ProxyJump in the SSH config")]
    Route {
        /// The host.
        host: String,
        /// What is wrong.
        problem: String,
    },
    /// An environment variable cannot be passed.
    #[error("cannot pass `{name}` to the command on host `{host}`: {reason}")]
    BadEnv {
        /// The host.
        host: String,
        /// The variable.
        name: String,
        /// Why.
        reason: String,
    },
}

impl ExecError {
    /// The failure's class.
    pub fn class(&self) -> crate::FailureClass {
        use crate::FailureClass as C;
        match self {
            ExecError::Connect { failure, .. } => match failure {
                ConnectFailure::AuthDenied => C::Auth,
                _ => C::Unreachable,
            },
            ExecError::Lost { .. } => C::Unreachable,
            ExecError::UnknownHost(_) | ExecError::Route { .. } | ExecError::BadEnv { .. } => {
                C::PlanInvalid
            }
            ExecError::ControlDir { .. } => C::Permission,
            ExecError::Spawn { .. } => C::MissingObject,
            ExecError::Io { .. } | ExecError::Timeout { .. } | ExecError::OutputTooLarge { .. } => {
                C::Failed
            }
        }
    }
}

fn last_words(stderr: &str) -> String {
    match stderr.trim() {
        "" => String::new(),
        s => format!("\nssh said:\n{}", crate::ssh::frame(s)),
    }
}

fn summary(f: &ConnectFailure) -> &'static str {
    match f {
        ConnectFailure::HostKeyChanged => "HOST KEY MISMATCH",
        ConnectFailure::HostKeyUnknown => "host key not known",
        ConnectFailure::AuthDenied => "authentication refused",
        ConnectFailure::Unreachable => "host unreachable",
        ConnectFailure::Other => "ssh failed",
    }
}

fn mib(bytes: usize) -> String {
    format!("{} MiB", bytes / (1024 * 1024))
}

fn humanize(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_openssh_messages() {
        let changed = "@@@@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\nHost key verification failed.";
        assert_eq!(
            ConnectFailure::classify(changed),
            ConnectFailure::HostKeyChanged
        );
        let unknown = "No ED25519 host key is known for 198.51.100.10 and you have requested strict checking.\nHost key verification failed.";
        assert_eq!(
            ConnectFailure::classify(unknown),
            ConnectFailure::HostKeyUnknown
        );
        assert_eq!(
            ConnectFailure::classify("root@x: Permission denied (publickey)."),
            ConnectFailure::AuthDenied
        );
        assert_eq!(
            ConnectFailure::classify("ssh: connect to host x port 22: Connection refused"),
            ConnectFailure::Unreachable
        );
    }
}
