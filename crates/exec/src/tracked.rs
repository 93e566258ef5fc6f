//! Tracked commands: run detached from the SSH session, their outcome kept on the host under
//! `~/.cache/cutover/runs/RUN/INVOCATION.*`, so that a controller that was cut off re-attaches
//! to a command instead of running it twice, and a rollback can wait for one it left running.
//!
//! The files a command leaves there:
//! - `.claim/`: made atomically by whoever starts the command, or by a rollback that gave up
//!   on it before it started, so that it never starts twice or after its undo;
//! - `.pid`: the detached subshell, `.code`: the command's exit status as soon as it ended,
//!   `.rc`: the exit status once its output is complete;
//! - `.out`, `.err`: its output. A command given secrets has its output redacted *on the
//!   host* before anything is written, so these files never hold a secret it was given (the
//!   controller redacts again what it reads). The controller removes them once the outcome
//!   is journaled ([`forget_line`]), every exit status at the end of each `apply` or
//!   `rollback` ([`tidy_line`]) and the whole directory when the run ends ([`cleanup_line`]).

use crate::quote::quote;

/// Exit status of a tracked command whose outcome was lost (see [`UNKNOWN_MARKER`]).
pub const OUTCOME_UNKNOWN: i32 = 254;
/// Printed on standard error with [`OUTCOME_UNKNOWN`]: the command had started earlier but
/// stopped without recording its exit status (host rebooted, process killed).
pub const UNKNOWN_MARKER: &str = "cutover: outcome unknown: the command started earlier but stopped without recording an exit status";

/// The last line every tracked wrapper prints on standard error, once it has the command's
/// outcome: without it, the wrapper did not end on the host (the connection dropped while it
/// waited), and the controller re-attaches instead of taking ssh's exit status for the
/// command's. The executor removes it from the output.
pub const END_MARKER: &str = "cutover: tracked wrapper ended";

/// How long a command's output may stay open after it ended (a process it started in the
/// background holding it) before its outcome is given with the output so far, in tenths of
/// a second.
const OUTPUT_GRACE_TENTHS: u32 = 50;

/// The directory on a host where tracked commands of run `run` keep their outcome.
pub fn track_dir(run: &str) -> String {
    format!("\"$HOME\"/.cache/cutover/runs/{run}")
}

/// The wrapper running `"$@"` for invocation `invocation` of run `run` (ids already
/// validated): `env_reads` is the prelude reading the environment, `redact` the shell
/// variables (read from standard input too) holding the secret values to redact from the
/// output on the host, with their names. The detached part lets go of the SSH session's
/// streams, so that a process the command leaves running cannot hold the session open.
pub(crate) fn tracked_script(
    env_reads: &str,
    run: &str,
    invocation: &str,
    has_stdin: bool,
    redact: &[(String, String)],
) -> String {
    // An asynchronous list reads /dev/null unless told otherwise: keep the input on fd 3.
    let (keep, input) = if has_stdin {
        ("exec 3<&0; ", " <&3")
    } else {
        ("", " </dev/null")
    };
    let (body, wait, grace) = if redact.is_empty() {
        (
            format!(
                r#""$@"{input} >"$f.out" 2>"$f.err"; echo $? >"$f.code"; mv -f "$f.code" "$f.rc""#
            ),
            " wait $!;",
            "",
        )
    } else {
        let filter = redactor(redact);
        (
            // Standard output and error each through the redactor; a sentinel line `x` after
            // the command's last byte tells the redactor whether the output ended with a
            // newline (and lets it pass on every complete line even if a process the command
            // left running holds the stream open).
            format!(
                r#"{{ {{ "$@"{input}; echo $? >"$f.code"; echo x; echo x >&2; }} 2>&1 1>&4 4>&- | {filter} >"$f.err"; }} 4>&1 | {filter} >"$f.out"; mv -f "$f.code" "$f.rc" 2>/dev/null"#
            ),
            "",
            r#"if [ -e "$f.code" ]; then g=$((g+1)); if [ "$g" -ge GRACE ]; then cp "$f.code" "$f.rc"; fi; fi; "#,
        )
    };
    let grace = grace.replace("GRACE", &OUTPUT_GRACE_TENTHS.to_string());
    format!(
        r#"d={dir}; f="$d"/{inv}; (umask 077; mkdir -p "$d") || {{ echo {end} >&2; exit 125; }}; {env_reads}
if [ ! -e "$f.rc" ] && [ ! -e "$f.pid" ] && mkdir "$f.claim" 2>/dev/null; then
  {keep}( {body} ) >/dev/null 2>&1 &
  echo $! >"$f.pid.tmp"; mv "$f.pid.tmp" "$f.pid";{wait}
fi
g=0; while [ ! -e "$f.rc" ] && [ ! -e "$f.pid" ] && [ "$g" -lt 20 ]; do g=$((g+1)); sleep 0.1; done
g=0; while [ ! -e "$f.rc" ] && kill -0 "$(cat "$f.pid" 2>/dev/null)" 2>/dev/null; do {grace}sleep 0.1; done
if [ ! -e "$f.rc" ] && [ -e "$f.code" ]; then cp "$f.code" "$f.rc"; fi
if [ ! -e "$f.rc" ]; then echo {marker} >&2; echo {end} >&2; exit {unknown}; fi
if [ -e "$f.out" ]; then cat "$f.out"; fi; if [ -e "$f.err" ]; then cat "$f.err" >&2; fi; echo {end} >&2; exit "$(cat "$f.rc")""#,
        dir = track_dir(run),
        inv = quote(invocation),
        marker = quote(UNKNOWN_MARKER),
        unknown = OUTCOME_UNKNOWN,
        end = quote(END_MARKER),
    )
}

/// Removes the wrapper's [`END_MARKER`] line from the end of `stderr`; false when it is not
/// there (the wrapper did not end on the host).
pub fn strip_end_marker(stderr: &mut String) -> bool {
    let Some(rest) = stderr
        .strip_suffix('\n')
        .and_then(|s| s.strip_suffix(END_MARKER))
    else {
        return false;
    };
    // The command's own error output may not have ended with a newline: the marker then
    // sits at the end of its last line, which is given back as it was.
    let keep = rest.len();
    stderr.truncate(keep);
    true
}

/// An `awk` filter replacing each secret value (from the environment, never from argv) with
/// `[redacted:NAME]`, line by line, longest value first like the controller's redactor; the
/// sentinel line `x` ending its input is dropped. Bytes, not characters (`LC_ALL=C`), so that any
/// output passes.
fn redactor(redact: &[(String, String)]) -> String {
    const PROGRAM: &str = r#"function r(s,  i, v, o, p) { for (i = 1; i <= n; i++) { v = ENVIRON["CUTOVER_SECRET_" i]; o = ""; while ((p = index(s, v)) > 0) { o = o substr(s, 1, p - 1) "[redacted:" ENVIRON["CUTOVER_LABEL_" i] "]"; s = substr(s, p + length(v)) } s = o s } return s }
NR > 1 { print r(prev); fflush() }
{ prev = $0 }
END { sub(/x$/, "", prev); printf "%s", r(prev) }"#;
    let mut env = String::from("LC_ALL=C");
    for (i, (var, name)) in redact.iter().enumerate() {
        env.push_str(&format!(
            " CUTOVER_SECRET_{n}=\"${var}\" CUTOVER_LABEL_{n}={label}",
            n = i + 1,
            label = quote(name)
        ));
    }
    format!("{env} awk -v n={} {}", redact.len(), quote(PROGRAM))
}

/// A script run by a rollback before it undoes an interrupted step: waits for the command
/// of invocation `invocation` to end if it runs, or makes sure it never starts if it has
/// not, and prints what became of it (`none`, `ended CODE` or `lost`: see [`Settled`]).
/// The wrapper renames `.code` to `.rc` when the output is complete: `.code` is read
/// without testing for it first, then `.rc` again, so the rename cannot fall in between.
pub fn settle_line(run: &str, invocation: &str) -> String {
    format!(
        r#"d={dir}; f="$d"/{inv}; (umask 077; mkdir -p "$d") || exit 125
if [ ! -e "$f.rc" ] && [ ! -e "$f.pid" ] && mkdir "$f.claim" 2>/dev/null; then echo none; exit 0; fi
g=0; while [ ! -e "$f.rc" ] && [ ! -e "$f.pid" ] && [ "$g" -lt 20 ]; do g=$((g+1)); sleep 0.1; done
while [ ! -e "$f.rc" ] && [ ! -e "$f.code" ] && kill -0 "$(cat "$f.pid" 2>/dev/null)" 2>/dev/null; do sleep 0.1; done
if [ -e "$f.rc" ]; then echo "ended $(cat "$f.rc")"; elif c=$(cat "$f.code" 2>/dev/null); then echo "ended $c"; elif [ -e "$f.rc" ]; then echo "ended $(cat "$f.rc")"; else echo lost; fi"#,
        dir = track_dir(run),
        inv = quote(invocation),
    )
}

/// What [`settle_line`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// The command never started, and now never will.
    NotStarted,
    /// It ended with this exit status (waited for if it was still running).
    Ended(i32),
    /// It stopped without recording an exit status (host rebooted, process killed).
    Lost,
}

impl Settled {
    /// Reads [`settle_line`]'s output; `None` when it is not that.
    pub fn parse(stdout: &str) -> Option<Settled> {
        match stdout.trim().split_once(' ') {
            Some(("ended", code)) => code.trim().parse().ok().map(Settled::Ended),
            None if stdout.trim() == "none" => Some(Settled::NotStarted),
            None if stdout.trim() == "lost" => Some(Settled::Lost),
            _ => None,
        }
    }
}

/// A script removing the output kept for invocation `invocation` of run `run`, once the
/// journal holds it (its exit status stays, for a resumed attempt to find).
pub fn forget_line(run: &str, invocation: &str) -> String {
    format!(
        r#"f={dir}/{inv}; rm -f "$f.out" "$f.err""#,
        dir = track_dir(run),
        inv = quote(invocation)
    )
}

/// A script removing the output of every command of run `run` that has ended, keeping what
/// a resumed run needs (exit statuses, and commands still running).
pub fn tidy_line(run: &str) -> String {
    format!(
        r#"d={dir}; [ -d "$d" ] || exit 0; for r in "$d"/*.rc; do [ -e "$r" ] || continue; rm -f "${{r%.rc}}.out" "${{r%.rc}}.err"; done"#,
        dir = track_dir(run)
    )
}

/// A script removing everything kept for run `run` (once the run has ended).
pub fn cleanup_line(run: &str) -> String {
    format!("rm -rf {}", track_dir(run))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_end_marker_is_taken_off_the_output_as_it_came() {
        let mut e = format!("oops\n{END_MARKER}\n");
        assert!(strip_end_marker(&mut e));
        assert_eq!(e, "oops\n");
        let mut e = format!("no newline{END_MARKER}\n");
        assert!(strip_end_marker(&mut e));
        assert_eq!(e, "no newline");
        let mut e = "Connection to new closed by remote host.\n".to_string();
        assert!(!strip_end_marker(&mut e));
    }

    #[test]
    fn settle_output_is_read_back() {
        assert_eq!(Settled::parse("none\n"), Some(Settled::NotStarted));
        assert_eq!(Settled::parse("ended 3\n"), Some(Settled::Ended(3)));
        assert_eq!(Settled::parse("lost\n"), Some(Settled::Lost));
        assert_eq!(Settled::parse("sh: oops\n"), None);
    }

    #[test]
    fn secret_values_reach_the_redactor_through_its_environment_only() {
        let script = tracked_script(
            "",
            "r1",
            "s.old.1",
            false,
            &[("cutover_secret_1".into(), "token".into())],
        );
        assert!(
            script.contains(
                r#"CUTOVER_SECRET_1="$cutover_secret_1" CUTOVER_LABEL_1=token awk -v n=1 "#
            ),
            "{script}"
        );
    }
}
