//! Moving runs between journals (`cutover journal copy`): a run that began in the SQLite
//! file on a laptop continues in the team's PostgreSQL journal, or the other way round.
//!
//! The source's chain is checked before anything is written; each event is appended to the
//! destination with its original time, chained anew there; the destination's chain is
//! checked after, and the copy compared event by event with the source.

use crate::chain::ChainStatus;
use crate::event::{Event, RunInfo};
use crate::{Journal, JournalError, PgJournal, Record, SqliteJournal};

/// A journal a run can be copied into: it takes a run with its own id and start time, and
/// events with their own times.
pub trait Import: Journal {
    /// Adds run `run` as it is (its id and start time), refusing an id already there.
    fn import_run(&self, run: &RunInfo) -> Result<(), JournalError>;
    /// Appends `event` to run `run` stamped `at_ms`.
    fn import_event(&self, run: &str, event: &Event, at_ms: i64) -> Result<Record, JournalError>;
}

impl Import for SqliteJournal {
    fn import_run(&self, run: &RunInfo) -> Result<(), JournalError> {
        self.insert_run(run)
    }
    fn import_event(&self, run: &str, event: &Event, at_ms: i64) -> Result<Record, JournalError> {
        self.append_at(run, event, at_ms)
    }
}

impl Import for PgJournal {
    fn import_run(&self, run: &RunInfo) -> Result<(), JournalError> {
        self.insert_run(run)
    }
    fn import_event(&self, run: &str, event: &Event, at_ms: i64) -> Result<Record, JournalError> {
        self.append_at(run, event, at_ms)
    }
}

/// What one run's copy came to.
#[derive(Debug, Clone, PartialEq)]
pub struct Copied {
    /// The run.
    pub run: RunInfo,
    /// Events copied.
    pub events: usize,
    /// Step checkpoints copied.
    pub checkpoints: usize,
}

/// Why a copy was refused or failed, in words for the user.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// A journal failed.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The copy would be wrong or lose something.
    #[error("{0}")]
    Refused(String),
}

/// Copies `runs` from `from` into `to`, then checks `to`'s chain and compares the copy.
pub fn copy_runs(
    from: &dyn Journal,
    to: &dyn Import,
    runs: &[RunInfo],
) -> Result<Vec<Copied>, CopyError> {
    if let ChainStatus::Broken { .. } = from.verify_chain()? {
        return Err(CopyError::Refused(format!(
            "the source's {}: a copy would vouch for events nobody can vouch for",
            from.verify_chain()?
        )));
    }
    let there: Vec<String> = to.runs()?.into_iter().map(|r| r.id).collect();
    if let Some(run) = runs.iter().find(|r| there.contains(&r.id)) {
        return Err(CopyError::Refused(format!(
            "the destination already has run {}: nothing was copied",
            run.id
        )));
    }
    let mut copied = Vec::new();
    for run in runs {
        copied.push(copy_one(from, to, run)?);
    }
    match to.verify_chain()? {
        ChainStatus::Intact { .. } => Ok(copied),
        broken => Err(CopyError::Refused(format!(
            "after the copy, the destination's {broken}"
        ))),
    }
}

fn copy_one(from: &dyn Journal, to: &dyn Import, run: &RunInfo) -> Result<Copied, CopyError> {
    let events = from.events(&run.id)?;
    to.import_run(run)?;
    for record in &events {
        to.import_event(&run.id, &record.event, record.at_ms)?;
    }
    let mut steps: Vec<&str> = events.iter().filter_map(|r| r.event.step()).collect();
    steps.sort_unstable();
    steps.dedup();
    let mut checkpoints = 0;
    for step in steps {
        if let Some(body) = from.checkpoint(&run.id, step)? {
            to.save_checkpoint(&run.id, step, &body)?;
            checkpoints += 1;
        }
    }
    let back = to.events(&run.id)?;
    let same = back.len() == events.len()
        && back
            .iter()
            .zip(&events)
            .all(|(a, b)| a.at_ms == b.at_ms && a.event == b.event);
    if !same {
        return Err(CopyError::Refused(format!(
            "run {} reads back differently from the destination ({} events there, {} in the source)",
            run.id,
            back.len(),
            events.len()
        )));
    }
    Ok(Copied {
        run: run.clone(),
        events: events.len(),
        checkpoints,
    })
}
