//! Renders a [`Command`] into the line a shell runs and the bytes sent ahead of its input.
//!
//! Environment values travel as the first lines of standard input and are read by a fixed
//! prelude (`IFS= read -r NAME; export NAME`), so no value ever appears on a command line
//! where `ps` on either machine would show it. Only validated names and ids cutover itself
//! generated are spliced into scripts; every other word goes through [`crate::quote`].

use crate::command::{Command, Stdin};
use crate::error::ExecError;
use crate::quote::{join, quote};

/// Exit status the wrappers use when the prelude could not read the environment.
pub const PRELUDE_FAILED: i32 = 123;
/// Exit status of a tracked command whose outcome was lost (see [`UNKNOWN_MARKER`]).
pub const OUTCOME_UNKNOWN: i32 = 254;
/// Printed on standard error with [`OUTCOME_UNKNOWN`]: the command had started earlier but
/// stopped without recording its exit status (host rebooted, process killed).
pub const UNKNOWN_MARKER: &str = "cutover: outcome unknown: the command started earlier but stopped without recording an exit status";

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

/// The directory on a host where tracked commands of run `run` keep their outcome.
pub fn track_dir(run: &str) -> String {
    format!("\"$HOME\"/.cache/cutover/runs/{run}")
}

/// A wrapper that runs `"$@"` detached from the SSH session, records its exit status and
/// output on the host, and on a second invocation with the same id (after the controller
/// was interrupted) waits for or replays that outcome instead of running the command again.
fn tracked_script(env_reads: &str, run: &str, invocation: &str, has_stdin: bool) -> String {
    // An asynchronous list reads /dev/null unless told otherwise: keep the input on fd 3.
    let (keep, input) = if has_stdin {
        ("exec 3<&0; ", " <&3")
    } else {
        ("", " </dev/null")
    };
    format!(
        r#"d={dir}; f="$d"/{inv}; (umask 077; mkdir -p "$d") || exit 125; {env_reads}
if [ ! -e "$f.rc" ]; then
  if [ -e "$f.pid" ] && kill -0 "$(cat "$f.pid")" 2>/dev/null; then
    while [ ! -e "$f.rc" ] && kill -0 "$(cat "$f.pid")" 2>/dev/null; do sleep 0.1; done
  elif [ -e "$f.pid" ]; then
    :
  else
    {keep}( "$@"{input} >"$f.out" 2>"$f.err"; echo $? >"$f.rc.tmp"; mv "$f.rc.tmp" "$f.rc" ) &
    echo $! >"$f.pid"; wait $!
  fi
fi
if [ ! -e "$f.rc" ]; then echo {marker} >&2; exit {unknown}; fi
cat "$f.out"; cat "$f.err" >&2; exit "$(cat "$f.rc")""#,
        dir = track_dir(run),
        inv = quote(invocation),
        marker = quote(UNKNOWN_MARKER),
        unknown = OUTCOME_UNKNOWN,
    )
}

/// A script removing the outcomes kept for run `run` (once the journal holds them).
pub fn cleanup_line(run: &str) -> String {
    format!("rm -rf {}", track_dir(run))
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
