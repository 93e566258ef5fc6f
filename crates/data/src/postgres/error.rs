//! Errors of the PostgreSQL movers and verifiers, each naming the host, the database and what
//! to do next.

use cutover_exec::ExecError;

/// Why a PostgreSQL operation failed.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// Running a command failed (connection, timeout...).
    #[error(transparent)]
    Exec(#[from] ExecError),
    /// A client tool exited with an error.
    #[error("{what} failed on host `{host}` (database `{db}`, exit {code}):\n{stderr}{}", hint.as_deref().map(|h| format!("\nhint: {h}")).unwrap_or_default())]
    Tool {
        /// What was being done ("list tables of the source").
        what: String,
        /// Where the tool ran.
        host: String,
        /// The database.
        db: String,
        /// Exit status (`-1` when killed).
        code: i32,
        /// The tool's standard error, framed.
        stderr: String,
        /// What to do about it, when known.
        hint: Option<String>,
        /// What kind of failure it is (from the tool's message, read where it was made).
        class: cutover_exec::FailureClass,
    },
    /// The client tools needed are not on the host.
    #[error("PostgreSQL {want} client tools not found on host `{host}` (looked in: {looked}); install them (e.g. the postgresql-client-{want} package) or set `bin` to their directory")]
    ToolsMissing {
        /// The host.
        host: String,
        /// The major version wanted.
        want: u32,
        /// Where we looked.
        looked: String,
    },
    /// The client tools are too old for the source server.
    #[error("pg_dump {tools} on host `{host}` cannot dump a PostgreSQL {server} server: pg_dump must be at least the server's major version; use the client tools of the target's major version")]
    ToolsTooOld {
        /// The host.
        host: String,
        /// The tools' major version.
        tools: u32,
        /// The server's major version.
        server: u32,
    },
    /// A server's answer could not be understood.
    #[error("unexpected answer from {what} on host `{host}`: {detail}")]
    Protocol {
        /// What was asked.
        what: String,
        /// Where.
        host: String,
        /// What was wrong.
        detail: String,
    },
    /// A precondition does not hold (server setting, non-empty target, missing key...).
    #[error("{problem}\nhint: {hint}")]
    Precondition {
        /// What is wrong, naming the server.
        problem: String,
        /// How to fix it.
        hint: String,
    },
    /// A connection URL given on the command line is not usable.
    #[error("bad PostgreSQL URL `{url}`: {reason}")]
    BadUrl {
        /// The URL (without any password).
        url: String,
        /// Why.
        reason: String,
    },
}

impl PgError {
    /// The failure's class: an exit code and a report follow from it, never from the text.
    pub fn class(&self) -> cutover_exec::FailureClass {
        use cutover_exec::FailureClass as C;
        match self {
            PgError::Exec(e) => e.class(),
            PgError::Tool { class, .. } => *class,
            PgError::ToolsMissing { .. } => C::MissingObject,
            PgError::ToolsTooOld { .. } | PgError::Precondition { .. } => C::Precondition,
            PgError::Protocol { .. } => C::Failed,
            PgError::BadUrl { .. } => C::PlanInvalid,
        }
    }

    /// A precondition failure.
    pub fn precondition(problem: impl Into<String>, hint: impl Into<String>) -> Self {
        PgError::Precondition {
            problem: problem.into(),
            hint: hint.into(),
        }
    }
}
