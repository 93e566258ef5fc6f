//! cutover's plan file (`cutover.toml`): its types, reading with every problem located, and
//! cross-reference validation. No I/O beyond reading the file itself.
#![deny(missing_docs)]

mod bounded;
pub mod checks;
mod encoding;
pub mod environment;
pub mod host;
pub mod journal_url;
pub mod limits;
mod named;
pub mod notify;
pub mod plan;
pub mod problem;
pub mod read;
pub mod schema;
pub mod secret;
mod secret_hint;
pub mod stage;
pub mod steps;
pub mod template;
pub mod templates;
pub mod traffic;
mod validate;

pub use checks::{Check, CheckKind};
pub use host::Host;
pub use journal_url::{JournalUrl, SslMode};
pub use notify::{Notifier, NotifyEvent, NotifyFormat};
pub use plan::{JournalConfig, Plan, SshConfig};
pub use problem::{PlanErrors, Problem};
pub use secret::{Secret, SecretSource};
pub use stage::Stage;
pub use steps::{Step, StepKind};
pub use template::{Reference, Resolve, Template};

use problem::{Problem as P, Problems, Span};
use std::path::{Path, PathBuf};

/// Parses and validates a plan from its text. `file` names it in messages; `dir` is the
/// directory relative paths are resolved against.
pub fn parse(src: &str, file: &str, dir: PathBuf) -> Result<Plan, PlanErrors> {
    let mut problems = Problems::default();
    let plan = match toml_span::parse(src) {
        Ok(mut root) => {
            let declared = validate::Declared::find(&root);
            let plan = Plan::read(&mut root, dir, &mut problems);
            if let Some(plan) = &plan {
                validate::validate(plan, &declared, src, &mut problems);
            }
            plan
        }
        Err(e) => {
            problems.push(syntax_problem(&e, src));
            None
        }
    };
    match plan {
        Some(mut plan) if problems.is_empty() => {
            plan.warnings = problems.warnings(file, src);
            Ok(plan)
        }
        _ => {
            let mut list = problems.0;
            for p in &mut list {
                p.span = clamp_span(p.span, src);
                // A table's span covers its whole body: underline only its first line.
                if let Some(nl) = src.get(p.span.start..p.span.end).and_then(|s| s.find('\n')) {
                    p.span.end = p.span.start + nl;
                }
            }
            list.sort_by_key(|p| (p.span.start, p.span.end));
            list.dedup();
            Err(PlanErrors::new(file, src.into(), list))
        }
    }
}

/// Parses and validates a plan from the bytes of its file, which must be UTF-8: each part
/// that is not is a problem at its line and column.
pub fn parse_bytes(bytes: &[u8], file: &str, dir: PathBuf) -> Result<Plan, PlanErrors> {
    match std::str::from_utf8(bytes) {
        Ok(src) => parse(src, file, dir),
        Err(_) => Err(encoding::not_utf8(bytes, file)),
    }
}

/// Reads and parses the plan file at `path`.
pub fn load(path: &Path) -> Result<(Plan, String), LoadError> {
    let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let dir = path
        .parent()
        .map(|d| {
            if d.as_os_str().is_empty() {
                Path::new(".")
            } else {
                d
            }
        })
        .unwrap_or(Path::new("."));
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let file = path.display().to_string();
    let src = String::from_utf8(bytes)
        .map_err(|e| LoadError::Invalid(encoding::not_utf8(e.as_bytes(), &file)))?;
    let plan = parse(&src, &file, dir)?;
    let plan = match environment::selected() {
        Some(name) => plan
            .in_environment(name)
            .map_err(|reason| LoadError::Environment {
                path: path.to_path_buf(),
                reason,
            })?,
        None => plan,
    };
    let plan = match journal_url::selected() {
        Some(text) => plan
            .with_journal_url(text)
            .map_err(|reason| LoadError::Journal { reason })?,
        None => plan,
    };
    Ok((plan, src))
}

/// Why a plan file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read plan file {path}: {source}")]
    Read {
        /// The path given.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file has problems.
    #[error(transparent)]
    Invalid(#[from] PlanErrors),
    /// The journal URL given with `--journal` or `CUTOVER_JOURNAL` is not one.
    #[error("--journal (or CUTOVER_JOURNAL): {reason}")]
    Journal {
        /// What is wrong and how to write it.
        reason: String,
    },
    /// The environment chosen with `-e` is not in the plan.
    #[error("{}: {reason}", path.display())]
    Environment {
        /// The plan file.
        path: PathBuf,
        /// What is wrong, with the environments there are.
        reason: String,
    },
}

fn syntax_problem(e: &toml_span::Error, src: &str) -> P {
    use toml_span::ErrorKind as K;
    let first_at = |first: &Span| {
        let (line, col) = problem::line_col(src, first.start);
        format!("line {line}, column {col}")
    };
    let (message, label, help): (String, &str, Option<String>) = match &e.kind {
        // A basic string may not span lines, so a missing closing quote shows up as a newline
        // inside the string.
        K::UnterminatedString | K::InvalidCharInString('\n') => (
            "unterminated string".into(),
            "the string is still open here",
            Some("close the string with a matching quote on the same line, or use \"\"\"...\"\"\" for text spanning lines".into()),
        ),
        K::InvalidCharInString(c) => (
            format!("invalid character `{}` in a string", shown(*c)),
            "invalid character",
            Some("write control characters as escapes such as \\t or \\u0007".into()),
        ),
        K::InvalidEscape(c) | K::InvalidHexEscape(c) => (
            format!("invalid escape `\\{}` in a string", shown(*c)),
            "invalid escape",
            Some("write a backslash as `\\\\`, or use a 'literal string' in which backslashes are plain".into()),
        ),
        K::DuplicateKey { key, first } => (
            format!("duplicate key `{key}`"),
            "defined again here",
            Some(format!("it is first defined at {}; remove one of the two definitions", first_at(first))),
        ),
        K::DuplicateTable { name, first } => {
            // toml-span names only the last segment of the header; quote the header as written.
            let header = src
                .get(e.span.start..e.span.end)
                .map(str::trim)
                .filter(|h| h.starts_with('['))
                .map_or_else(|| format!("[{name}]"), str::to_string);
            (
                format!("duplicate table `{header}`"),
                "defined again here",
                Some(format!("it is first defined at {}; merge the two tables into one", first_at(first))),
            )
        }
        K::Unexpected(c) => (
            format!("TOML syntax error: unexpected character `{}`", shown(*c)),
            "unexpected",
            None,
        ),
        K::Wanted { expected, found } => (
            format!("TOML syntax error: expected {expected}, found {found}"),
            "here",
            None,
        ),
        K::InvalidNumber if looks_like_datetime(src.get(e.span.start..).unwrap_or("")) => (
            "TOML syntax error: dates and times must be quoted".into(),
            "unquoted date or time",
            Some("write it as a string: \"2026-12-01T10:00:00Z\"".into()),
        ),
        K::InvalidNumber => (
            "TOML syntax error: invalid number".into(),
            "invalid number",
            Some("quote times and durations: \"30s\", \"2026-12-01T10:00:00Z\"".into()),
        ),
        K::UnexpectedEof => (
            "TOML syntax error: unexpected end of file".into(),
            "file ends here",
            None,
        ),
        K::RedefineAsArray => (
            "a table is redefined as an array of tables".into(),
            "redefined here",
            None,
        ),
        // toml-span's `Error` displays a sentence; its `ErrorKind` only a kebab-case code.
        _ => (format!("TOML syntax error: {e}"), "here", None),
    };
    let mut span = e.span;
    if matches!(e.kind, K::InvalidEscape(_) | K::InvalidHexEscape(_))
        && span.start > 0
        && src.as_bytes().get(span.start - 1) == Some(&b'\\')
    {
        // toml-span points after the backslash; underline the whole escape.
        span = Span::new(span.start - 1, span.end);
    }
    let p = P::new(span, message, label);
    match help {
        Some(h) => p.help(h),
        None => p,
    }
}

/// A character as shown in a message: escaped only when it would be invisible.
fn shown(c: char) -> String {
    if c.is_control() || c.is_whitespace() {
        c.escape_default().to_string()
    } else {
        c.to_string()
    }
}

/// True when `text` starts like a TOML date or time (`2026-12-01`, `10:00`), which toml-span
/// does not support and reports as an invalid number.
fn looks_like_datetime(text: &str) -> bool {
    let b = text.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    (digits(0..4) && b.get(4) == Some(&b'-') && digits(5..7))
        || (digits(0..2) && b.get(2) == Some(&b':') && digits(3..5))
}

/// Keeps `span` inside `src`, on char boundaries, and at least one character wide where the
/// text allows, so renderers can underline it (parser errors may point one past the end).
fn clamp_span(span: Span, src: &str) -> Span {
    let floor = |mut i: usize| {
        i = i.min(src.len());
        while !src.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let start = floor(span.start);
    let mut end = floor(span.end.max(start));
    if end == start && span.end > span.start {
        // Widen an emptied span to the whole character it started on.
        end = src[start..]
            .chars()
            .next()
            .map_or(start, |c| start + c.len_utf8());
    }
    Span::new(start, end)
}
