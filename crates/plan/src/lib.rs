//! cutover's plan file (`cutover.toml`): its types, reading with every problem located, and
//! cross-reference validation. No I/O beyond reading the file itself.

pub mod host;
pub mod plan;
pub mod problem;
pub mod read;
pub mod schema;
pub mod secret;
pub mod stage;
pub mod steps;
pub mod template;
pub mod templates;
mod validate;

pub use host::Host;
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
        Ok(mut root) => Plan::read(&mut root, dir, &mut problems),
        Err(e) => {
            problems.push(syntax_problem(&e));
            None
        }
    };
    if let Some(plan) = &plan {
        validate::validate(plan, src, &mut problems);
    }
    match plan {
        Some(plan) if problems.is_empty() => Ok(plan),
        _ => {
            let mut list = problems.0;
            // A table's span covers its whole body: underline only its first line.
            for p in &mut list {
                if let Some(nl) = src.get(p.span.start..p.span.end).and_then(|s| s.find('\n')) {
                    p.span.end = p.span.start + nl;
                }
            }
            list.sort_by_key(|p| (p.span.start, p.span.end));
            list.dedup();
            Err(PlanErrors {
                file: file.to_string(),
                src: src.to_string(),
                problems: list,
            })
        }
    }
}

/// Reads and parses the plan file at `path`.
pub fn load(path: &Path) -> Result<(Plan, String), LoadError> {
    let src = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
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
    let plan = parse(&src, &path.display().to_string(), dir)?;
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
}

fn syntax_problem(e: &toml_span::Error) -> P {
    use toml_span::ErrorKind as K;
    let (message, label, help): (String, &str, Option<&str>) = match &e.kind {
        K::UnterminatedString => (
            "unterminated string".into(),
            "string starts here",
            Some("close the string with a matching quote"),
        ),
        K::DuplicateKey { key, .. } => (
            format!("duplicate key `{key}`"),
            "defined again here",
            Some("remove one of the two definitions"),
        ),
        K::DuplicateTable { name, .. } => (
            format!("duplicate table `[{name}]`"),
            "defined again here",
            Some("merge the two tables into one"),
        ),
        K::Unexpected(c) => (
            format!(
                "TOML syntax error: unexpected character `{}`",
                c.escape_default()
            ),
            "unexpected",
            None,
        ),
        K::Wanted { expected, found } => (
            format!("TOML syntax error: expected {expected}, found {found}"),
            "here",
            None,
        ),
        K::InvalidNumber => (
            "TOML syntax error: invalid number".into(),
            "invalid number",
            Some("quote times and durations: \"30s\", \"2026-12-01T10:00:00Z\""),
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
        other => (format!("TOML syntax error: {other}"), "here", None),
    };
    let span = if e.span.end > e.span.start {
        e.span
    } else {
        Span::new(e.span.start, e.span.start + 1)
    };
    let p = P::new(span, message, label);
    match help {
        Some(h) => p.help(h),
        None => p,
    }
}
