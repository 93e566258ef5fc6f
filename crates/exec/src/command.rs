//! Commands as values: what to run, where, with which environment and input. Steps build
//! them; only the [`crate::Executor`] runs them, so argv can be unit-tested without SSH.

use crate::quote;
use crate::redact::SecretValue;
use std::fmt;
use std::time::Duration;

/// An environment variable's value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EnvValue {
    /// Shown in plans and logs.
    Plain(String),
    /// Never shown; sent to the process through its standard input.
    Secret(SecretValue),
}

impl EnvValue {
    pub(crate) fn expose(&self) -> &str {
        match self {
            EnvValue::Plain(s) => s,
            EnvValue::Secret(s) => s.expose(),
        }
    }
}

/// What the process reads on standard input (after cutover's environment lines).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Stdin {
    /// Nothing: standard input is closed at once.
    #[default]
    Null,
    /// These bytes.
    Bytes(Vec<u8>),
    /// Streamed by the caller (see [`crate::Executor::spawn`]).
    Piped,
}

/// Identifies one run of a tracked command so its outcome can be found again after the
/// controller was interrupted: the host keeps the exit status and output under this id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackId {
    /// The run's id (letters, digits, `-`).
    pub run: String,
    /// The invocation's id within the run (letters, digits, `-`, `.`).
    pub invocation: String,
}

/// A command to run on one host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    /// The host's name in the plan.
    pub host: String,
    /// Program and arguments.
    pub argv: Vec<String>,
    /// Environment variables set for the program.
    pub env: Vec<(String, EnvValue)>,
    /// Standard input.
    pub stdin: Stdin,
    /// Run through `sudo -n`.
    pub sudo: bool,
    /// Kill the command after this long.
    pub timeout: Option<Duration>,
    /// Record the outcome on the host (see [`TrackId`]).
    pub track: Option<TrackId>,
    /// The most standard output kept; more fails the command
    /// ([`crate::ExecError::OutputTooLarge`]) instead of filling the controller's memory.
    pub max_stdout: usize,
}

impl Command {
    /// Runs `argv` on `host`.
    pub fn new(host: impl Into<String>, argv: Vec<String>) -> Self {
        Command {
            host: host.into(),
            argv,
            env: Vec::new(),
            stdin: Stdin::Null,
            sudo: false,
            timeout: None,
            track: None,
            max_stdout: crate::bounded::DEFAULT_MAX_STDOUT,
        }
    }

    /// Allows up to `bytes` of standard output (default
    /// [`crate::bounded::DEFAULT_MAX_STDOUT`]).
    pub fn max_stdout(mut self, bytes: usize) -> Self {
        self.max_stdout = bytes;
        self
    }

    /// Runs `script` with `sh -c` on `host`.
    pub fn shell(host: impl Into<String>, script: impl Into<String>) -> Self {
        Self::new(host, vec!["sh".into(), "-c".into(), script.into()])
    }

    /// Adds an environment variable.
    pub fn env(mut self, name: impl Into<String>, value: EnvValue) -> Self {
        self.env.push((name.into(), value));
        self
    }

    /// Sets standard input.
    pub fn stdin(mut self, stdin: Stdin) -> Self {
        self.stdin = stdin;
        self
    }

    /// Sets `sudo`.
    pub fn sudo(mut self, sudo: bool) -> Self {
        self.sudo = sudo;
        self
    }

    /// Sets a timeout.
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// Tracks the command's outcome on the host.
    pub fn track(mut self, track: TrackId) -> Self {
        self.track = Some(track);
        self
    }

    /// The same command run inside container `container` on the same host, through
    /// `docker exec -i`: the environment still travels on standard input to the host's
    /// shell, and `-e NAME` (a name, never a value) hands each variable on to the container,
    /// so no value reaches a command line on the host either. Standard input and output
    /// pass through, so pipes and streamed copies work as on the host.
    pub fn in_container(mut self, container: &str) -> Self {
        let mut argv = vec!["docker".to_string(), "exec".into(), "-i".into()];
        for (name, _) in &self.env {
            argv.push("-e".into());
            argv.push(name.clone());
        }
        argv.push(container.to_string());
        argv.append(&mut self.argv);
        self.argv = argv;
        self
    }

    /// The script when the command is `sh -c SCRIPT`, else the quoted argv: what a reader
    /// of `cutover plan` wants to see.
    pub fn display_command(&self) -> String {
        match self.argv.as_slice() {
            [sh, c, script] if sh == "sh" && c == "-c" => script.clone(),
            argv => quote::join(argv),
        }
    }
}

impl fmt::Display for Command {
    /// `host: [sudo] [NAME=value NAME=***] command`, secrets masked.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.host)?;
        if self.sudo {
            f.write_str("sudo ")?;
        }
        for (name, value) in &self.env {
            match value {
                EnvValue::Plain(v) => write!(f, "{name}={} ", quote::quote(v))?,
                EnvValue::Secret(_) => write!(f, "{name}=*** ")?,
            }
        }
        f.write_str(&self.display_command())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::SecretValue;

    #[test]
    fn in_container_names_variables_but_never_their_values() {
        let c = Command::new("new", vec!["psql".into(), "-c".into(), "select 1".into()])
            .env(
                "PGPASSWORD",
                EnvValue::Secret(SecretValue::new("s3cret".into())),
            )
            .env("PGHOST", EnvValue::Plain("localhost".into()))
            .in_container("shop-db-1");
        assert_eq!(
            c.argv,
            [
                "docker",
                "exec",
                "-i",
                "-e",
                "PGPASSWORD",
                "-e",
                "PGHOST",
                "shop-db-1",
                "psql",
                "-c",
                "select 1"
            ]
        );
        assert!(!c.to_string().contains("s3cret"), "{c}");
        assert_eq!(c.env.len(), 2, "the values still reach the host's shell");
    }
}
