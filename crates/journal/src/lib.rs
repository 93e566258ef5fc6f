//! cutover's durable state and audit trail: an append-only journal of events per run, a lock
//! so that one plan is applied by one process at a time, and the run state those events
//! imply. Storage sits behind [`Journal`]: the embedded SQLite file next to the plan
//! ([`SqliteJournal`]) or a PostgreSQL database a team shares ([`PgJournal`]).
#![deny(missing_docs)]

pub mod chain;
pub mod copy;
mod crash;
pub mod event;
pub mod lock;
pub mod pg;
pub mod sqlite;
pub mod state;

pub use chain::ChainStatus;
pub use event::{format_ms, now_ms, Event, OutputValue, Record, RunInfo};
pub use lock::{Holder, LockGuard};
pub use pg::{PgJournal, PgTarget, PgTls};
pub use sqlite::SqliteJournal;
pub use state::{RunState, SchemaRecord, StepState, StepStatus};

use std::sync::Arc;

/// A function that removes secrets from text before it is stored.
pub type RedactFn = Arc<dyn Fn(&str) -> String + Send + Sync>;

/// An error from the journal.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The storage failed.
    #[error("journal {path}: {message}")]
    Storage {
        /// Where the journal is.
        path: String,
        /// What failed.
        message: String,
    },
    /// The journal's server cannot be reached, or refused the login or the TLS handshake.
    #[error("journal {path}: {message}\nhint: check that the server is up and reachable from this machine, and the role, the password's secret and the TLS settings of the journal URL")]
    Unreachable {
        /// Where the journal is (no password).
        path: String,
        /// What failed.
        message: String,
    },
    /// Another process holds the plan's lock.
    #[error("the plan is locked by {holder}\nhint: wait for that run to finish, or stop it; if it is gone, the lock is released by itself")]
    Locked {
        /// Who holds it.
        holder: Holder,
    },
    /// A file is where the journal should be, but it is not a complete journal: reading it as
    /// "no run yet" would apply every step again.
    #[error("journal {path} is not a cutover journal: {problem}\nhint: if this plan was applied before, the journal was damaged: restore it from a backup before running anything (a new journal would apply every step again); if it never was, remove the file")]
    NotAJournal {
        /// Where the journal is.
        path: String,
        /// What the file is instead.
        problem: String,
    },
    /// The journal was written by a newer cutover.
    #[error("journal {path} has schema version {found}, newer than this cutover understands ({supported})\nhint: use a newer cutover")]
    TooNew {
        /// Where the journal is.
        path: String,
        /// Its version.
        found: i64,
        /// Ours.
        supported: i64,
    },
}

/// Durable storage of runs and their events.
pub trait Journal: Send + Sync {
    /// Starts a new run of plan `plan`.
    fn create_run(&self, plan: &str) -> Result<RunInfo, JournalError>;
    /// Every run, oldest first.
    fn runs(&self) -> Result<Vec<RunInfo>, JournalError>;
    /// Appends an event to run `run`; it is durable when this returns.
    fn append(&self, run: &str, event: &Event) -> Result<Record, JournalError>;
    /// Every event of run `run`, in order.
    fn events(&self, run: &str) -> Result<Vec<Record>, JournalError>;
    /// Run `run`'s events after sequence number `after`, in order (what a viewer that has
    /// seen up to `after` is missing).
    fn events_after(&self, run: &str, after: i64) -> Result<Vec<Record>, JournalError>;
    /// The newest event's sequence number in any run (0 when there is none): a cheap
    /// question to ask often.
    fn last_seq(&self) -> Result<i64, JournalError>;
    /// Takes the plan's exclusive lock for `holder`; it is released when the guard drops or
    /// the process dies.
    fn lock(&self, holder: Holder) -> Result<LockGuard, JournalError>;

    /// Who holds the plan's lock now, if anyone (a probe: never blocks a holder-to-be for
    /// more than an instant).
    fn holder(&self) -> Option<Holder>;

    /// Stores `body` as step `step`'s working state in run `run`, replacing the one before
    /// (a long step's progress, such as a soak window's statistics, that a resume picks up).
    /// Redacted like events; kept apart from the append-only events, which it never joins.
    fn save_checkpoint(&self, run: &str, step: &str, body: &str) -> Result<(), JournalError>;

    /// Step `step`'s last checkpoint in run `run`, if any.
    fn checkpoint(&self, run: &str, step: &str) -> Result<Option<String>, JournalError>;

    /// Whether every event still hashes as cutover wrote it (see [`chain`]).
    fn verify_chain(&self) -> Result<ChainStatus, JournalError>;

    /// The newest run, if any.
    fn latest_run(&self) -> Result<Option<RunInfo>, JournalError> {
        Ok(self.runs()?.pop())
    }
}
