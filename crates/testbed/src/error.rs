//! The one error type of the testbed. Every variant says what was being done and carries the
//! evidence (command line, stderr, log tail) so a failed test explains itself without a rerun.

use std::path::PathBuf;
use std::time::Duration;

/// Why a lab could not be set up, used or torn down.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// Namespaces, mounts and sshd on port 22 need root.
    #[error("the lab needs root (network namespaces, mounts, sshd on port 22); run the tests as root after scripts/install-deps.sh")]
    NotRoot,

    /// A program the lab runs is not installed.
    #[error("`{program}` is not installed ({why}); run scripts/install-deps.sh")]
    MissingProgram {
        /// The program looked for.
        program: String,
        /// What the lab needs it for.
        why: String,
    },

    /// A command exited non-zero or could not be started.
    #[error("{what}: `{command}` {status}{}", frame("stderr", stderr))]
    Command {
        /// What the command was for, e.g. "create network namespace co3-old".
        what: String,
        /// The command line, for rerunning it by hand.
        command: String,
        /// How it ended ("exited with 1", "could not start: ...").
        status: String,
        /// Its standard error.
        stderr: String,
    },

    /// A file or directory operation failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done, e.g. "write sshd config".
        what: String,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// Every test slot stayed busy for the whole wait.
    #[error("all lab slots 1-{last} stayed busy for {waited:?} (locks in /run/cutover-lab); too many labs at once, or a hung test holds them")]
    SlotsBusy {
        /// The highest slot number tried.
        last: u8,
        /// How long slots were polled.
        waited: Duration,
    },

    /// A host's sshd did not accept `ssh true` before the deadline.
    #[error(
        "host {host}: sshd not ready after {waited:?}: {reason}{}{}",
        frame("ssh stderr", ssh_stderr),
        frame("sshd log", sshd_log)
    )]
    NotReady {
        /// The host.
        host: String,
        /// How long readiness was polled.
        waited: Duration,
        /// What was seen last ("sshd exited with 255", "ssh exited with 255").
        reason: String,
        /// The last ssh attempt's stderr.
        ssh_stderr: String,
        /// The tail of the host's sshd log.
        sshd_log: String,
    },

    /// A host of a running lab does not answer.
    #[error("host {host} is down: {reason}")]
    HostDown {
        /// The host.
        host: String,
        /// What is wrong (namespace missing, sshd gone, ssh failing, with its stderr).
        reason: String,
    },

    /// Teardown went on past failures; these are what is left to clean by hand.
    #[error("teardown of lab slot {slot} was incomplete{}", frame("problems", &problems.join("\n")))]
    Teardown {
        /// The lab's slot.
        slot: u8,
        /// One message per failed step.
        problems: Vec<String>,
    },

    /// The lab was asked for something its configuration does not allow.
    #[error("invalid lab setup: {0}")]
    Invalid(String),

    /// No host of that name in the lab.
    #[error("no host `{name}` in this lab (hosts: {})", known.join(", "))]
    UnknownHost {
        /// The name asked for.
        name: String,
        /// The lab's hosts.
        known: Vec<String>,
    },

    /// A persistent lab's state file is missing or unreadable.
    #[error("no lab is up in {} ({reason}); run `cutover-lab up --dir {}`", dir.display(), dir.display())]
    NotUp {
        /// The lab directory.
        dir: PathBuf,
        /// What was wrong with its state file.
        reason: String,
    },
}

impl LabError {
    pub(crate) fn io(
        what: impl Into<String>,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        LabError::Io {
            what: what.into(),
            path: path.into(),
            source,
        }
    }
}

/// Frames a block of text under a title, one `| ` per line, or nothing if it is empty, so
/// multi-line stderr stays readable inside a one-line error message.
pub(crate) fn frame(title: &str, text: &str) -> String {
    let text = text.trim_end();
    if text.is_empty() {
        return String::new();
    }
    let mut out = format!("\n  {title}:");
    for line in text.lines() {
        out.push_str("\n  | ");
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_error_frames_stderr_lines() {
        let e = LabError::Command {
            what: "create namespace".into(),
            command: "ip netns add x".into(),
            status: "exited with 1".into(),
            stderr: "line one\nline two\n".into(),
        };
        assert_eq!(
            e.to_string(),
            "create namespace: `ip netns add x` exited with 1\n  stderr:\n  | line one\n  | line two"
        );
    }

    #[test]
    fn empty_stderr_adds_no_frame() {
        assert_eq!(frame("stderr", " \n"), "");
    }
}
