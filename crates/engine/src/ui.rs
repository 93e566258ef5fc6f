//! What the engine tells the person watching: a stream of progress messages that the CLI
//! prints (colour on a TTY) and tests collect.

use std::sync::Mutex;

/// One piece of progress.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// A run began or resumed.
    Run {
        /// Its id.
        id: String,
        /// True when resuming.
        resumed: bool,
    },
    /// A stage began.
    Stage(String),
    /// A step began.
    StepStarted {
        /// Its id.
        step: String,
        /// Its kind.
        kind: String,
        /// What it will do.
        description: String,
    },
    /// A line of detail inside a step (a command's result, bytes copied...).
    Detail(String),
    /// A step finished.
    StepDone {
        /// Its id.
        step: String,
        /// What it did.
        summary: String,
        /// Seconds taken.
        seconds: f64,
    },
    /// A step had nothing to do.
    StepSkipped {
        /// Its id.
        step: String,
        /// Why.
        reason: String,
    },
    /// A step failed.
    StepFailed {
        /// Its id.
        step: String,
        /// The error, with framed command output.
        error: String,
    },
    /// A rollback could not undo what an interrupted step may have done.
    StepLeft {
        /// Its id.
        step: String,
        /// What may be left.
        what: String,
    },
    /// A gate holds the run.
    Waiting {
        /// Its id.
        step: String,
        /// What it waits for.
        reason: String,
    },
    /// A note for the operator (hints, next steps).
    Note(String),
}

/// Receives progress.
pub trait Ui: Send + Sync {
    /// Shows one piece of progress.
    fn show(&self, p: Progress);
}

/// Discards progress.
pub struct Silent;

impl Ui for Silent {
    fn show(&self, _: Progress) {}
}

/// Keeps progress for tests.
#[derive(Default)]
pub struct Collect(pub Mutex<Vec<Progress>>);

impl Ui for Collect {
    fn show(&self, p: Progress) {
        if let Ok(mut v) = self.0.lock() {
            v.push(p);
        }
    }
}
