//! Running the lab's helper programs (ip, ssh-keygen, sshd -t, ssh) in one place, so every
//! failure carries the command line and its stderr, and independent ones can run in parallel.

use crate::error::LabError;
use std::process::{Child, Command, Output, Stdio};

/// The command line of `cmd`, quoted so it can be pasted into a shell.
pub(crate) fn describe(cmd: &Command) -> String {
    let mut words = vec![sh_quote(&cmd.get_program().to_string_lossy())];
    words.extend(cmd.get_args().map(|a| sh_quote(&a.to_string_lossy())));
    words.join(" ")
}

/// Quotes `word` for a POSIX shell: bare if it is plainly safe, else in single quotes.
pub(crate) fn sh_quote(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./:=,@+%".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Runs `cmd` to completion with its output captured; fails only if it cannot start.
pub(crate) fn output(cmd: &mut Command, what: &str) -> Result<Output, LabError> {
    cmd.stdin(Stdio::null())
        .output()
        .map_err(|e| not_started(cmd, what, &e))
}

/// Runs `cmd` and fails unless it exits 0.
pub(crate) fn run_ok(cmd: &mut Command, what: &str) -> Result<Output, LabError> {
    let out = output(cmd, what)?;
    check(cmd, what, out)
}

/// Runs `ip ARGS...` and fails unless it exits 0.
pub(crate) fn ip(args: &[&str], what: &str) -> Result<(), LabError> {
    run_ok(Command::new("ip").args(args), what).map(drop)
}

/// A started command whose result is collected later, so independent commands overlap.
pub(crate) struct Pending {
    child: Child,
    command: Command,
    what: String,
}

/// Starts `cmd` with captured output; collect it with [`Pending::finish`].
pub(crate) fn start(mut cmd: Command, what: &str) -> Result<Pending, LabError> {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| not_started(&cmd, what, &e))?;
    Ok(Pending {
        child,
        command: cmd,
        what: what.to_string(),
    })
}

impl Pending {
    /// Waits for the command and fails unless it exited 0.
    pub(crate) fn finish(self) -> Result<Output, LabError> {
        let Pending {
            child,
            command,
            what,
        } = self;
        let out = child
            .wait_with_output()
            .map_err(|e| not_started(&command, &what, &e))?;
        check(&command, &what, out)
    }
}

/// Waits for every pending command, then returns the first failure, if any: all are reaped
/// either way, so no zombie outlives a failed setup step.
pub(crate) fn finish_all(pending: Vec<Pending>) -> Result<Vec<Output>, LabError> {
    let results: Vec<_> = pending.into_iter().map(Pending::finish).collect();
    results.into_iter().collect()
}

fn check(cmd: &Command, what: &str, out: Output) -> Result<Output, LabError> {
    if out.status.success() {
        return Ok(out);
    }
    Err(LabError::Command {
        what: what.to_string(),
        command: describe(cmd),
        status: status_text(&out.status),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// "exited with N" or "killed by signal N", for messages.
pub(crate) fn status_text(status: &std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => format!("ended with {status}"),
    }
}

fn not_started(cmd: &Command, what: &str, e: &std::io::Error) -> LabError {
    LabError::Command {
        what: what.to_string(),
        command: describe(cmd),
        status: format!("could not run: {e}"),
        stderr: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_leaves_plain_words_bare_and_wraps_the_rest() {
        assert_eq!(sh_quote("/srv/app-1.0"), "/srv/app-1.0");
        assert_eq!(sh_quote("a b"), "'a b'");
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
        assert_eq!(sh_quote(""), "''");
    }

    #[test]
    fn failed_command_reports_status_and_stderr() {
        let err = run_ok(
            Command::new("sh").args(["-c", "echo bad >&2; exit 3"]),
            "probe",
        )
        .expect_err("exit 3 must fail");
        let text = err.to_string();
        assert!(
            text.starts_with("probe: `sh -c 'echo bad >&2; exit 3'` exited with 3"),
            "{text}"
        );
        assert!(text.contains("| bad"), "{text}");
    }
}
