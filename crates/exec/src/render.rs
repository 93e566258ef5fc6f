//! Renders a [`Command`] into the line a shell runs and the bytes sent ahead of its input.
//!
//! Environment values travel as the first lines of standard input and are read by a fixed
//! prelude (`IFS= read -r NAME; export NAME`), so no value ever appears on a command line
//! where `ps` on either machine would show it. Only validated names and ids cutover itself
//! generated are spliced into scripts; every other word goes through [`crate::quote`].

use crate::command::{Command, Stdin};
use crate::error::ExecError;
use crate::quote::join;
use crate::redact::SecretValue;
use crate::tracked::tracked_script;
pub use crate::tracked::{cleanup_line, track_dir, OUTCOME_UNKNOWN, UNKNOWN_MARKER};

/// Exit status the wrappers use when the prelude could not read the environment.
pub const PRELUDE_FAILED: i32 = 123;
/// A command ready to be handed to `sh -c` (locally) or to SSH (remotely).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The shell command line.
    pub line: String,
    /// Bytes to write to standard input before anything else.
    pub prelude: Vec<u8>,
}

/// True for names that can be spliced into a script as they are.
fn valid_name(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
}

/// Renders `cmd`.
pub fn render(cmd: &Command) -> Result<Rendered, ExecError> {
    render_redacting(cmd, &[])
}

/// Renders `cmd`; a tracked command's output is redacted of `secrets` (name, value) on the
/// host before it is written there (the values travel on standard input like the
/// environment's).
pub fn render_redacting(
    cmd: &Command,
    secrets: &[(String, SecretValue)],
) -> Result<Rendered, ExecError> {
    let mut prelude = Vec::new();
    let mut reads = String::new();
    for (name, value) in &cmd.env {
        if !valid_name(name) {
            return Err(ExecError::BadEnv {
                host: cmd.host.clone(),
                name: name.clone(),
                reason: "not a valid variable name".into(),
            });
        }
        if value.expose().contains('\n') || value.expose().contains('\0') {
            return Err(ExecError::BadEnv {
                host: cmd.host.clone(),
                name: name.clone(),
                reason: "its value contains a newline or NUL byte, which the environment cannot carry this way; put multi-line values in a file on the host".into(),
            });
        }
        reads.push_str(&format!(
            "IFS= read -r {name} || exit {PRELUDE_FAILED}; export {name}; "
        ));
        prelude.extend_from_slice(value.expose().as_bytes());
        prelude.push(b'\n');
    }
    let mut redact = Vec::new();
    if cmd.track.is_some() {
        for (i, (name, value)) in secrets.iter().enumerate() {
            if value.expose().contains('\n') || value.expose().contains('\0') {
                // Such a value cannot reach the host this way, nor can it be in the
                // environment the command was given (refused above).
                continue;
            }
            let var = format!("cutover_secret_{}", i + 1);
            reads.push_str(&format!("IFS= read -r {var} || exit {PRELUDE_FAILED}; "));
            prelude.extend_from_slice(value.expose().as_bytes());
            prelude.push(b'\n');
            redact.push((var, name.clone()));
        }
    }
    let mut argv = cmd.argv.clone();
    if let Some(t) = cmd.timeout {
        let secs = t.as_secs_f64().max(0.001);
        argv.splice(
            0..0,
            [
                "timeout".to_string(),
                "-k".into(),
                "10".into(),
                format!("{secs:.3}"),
            ],
        );
    }
    let script = match &cmd.track {
        Some(track) => {
            if !valid_id(&track.run) || !valid_id(&track.invocation) {
                return Err(ExecError::BadEnv {
                    host: cmd.host.clone(),
                    name: "track id".into(),
                    reason: format!("`{}/{}` is not a valid id", track.run, track.invocation),
                });
            }
            Some(tracked_script(
                &reads,
                &track.run,
                &track.invocation,
                cmd.stdin != Stdin::Null,
                &redact,
            ))
        }
        None if reads.is_empty() => None,
        None => Some(format!("{reads}exec \"$@\"")),
    };
    let mut words: Vec<String> = Vec::new();
    if cmd.sudo {
        words.extend(["sudo".into(), "-n".into(), "--".into()]);
    }
    let line = match script {
        Some(script) => {
            words.extend(["sh".into(), "-c".into(), script, "cutover".into()]);
            words.extend(argv);
            join(&words)
        }
        None => {
            words.extend(argv);
            join(&words)
        }
    };
    Ok(Rendered { line, prelude })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::EnvValue;
    use crate::redact::SecretValue;

    #[test]
    fn plain_command_is_just_quoted_argv() {
        let cmd = Command::new("old", vec!["ls".into(), "-l".into(), "/srv/my app".into()]);
        let r = render(&cmd).unwrap();
        assert_eq!(r.line, "ls -l '/srv/my app'");
        assert!(r.prelude.is_empty());
    }

    #[test]
    fn secrets_travel_on_stdin_not_the_command_line() {
        let cmd = Command::shell("old", "psql -c 'select 1'")
            .env(
                "PGPASSWORD",
                EnvValue::Secret(SecretValue::new("s3cret".into())),
            )
            .sudo(true);
        let r = render(&cmd).unwrap();
        assert!(!r.line.contains("s3cret"));
        assert!(r
            .line
            .starts_with("sudo -n -- sh -c 'IFS= read -r PGPASSWORD"));
        assert_eq!(r.prelude, b"s3cret\n");
    }

    #[test]
    fn multiline_env_values_are_refused_with_a_reason() {
        let cmd = Command::shell("old", "true").env("KEY", EnvValue::Plain("a\nb".into()));
        let e = render(&cmd).unwrap_err().to_string();
        assert!(e.contains("newline"), "{e}");
    }
}
