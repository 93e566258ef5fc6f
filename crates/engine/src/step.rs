//! The contract every step kind implements: `plan`, `apply`, `verify`, `rollback`.

use crate::context::{StepCtx, Values};
use crate::error::EngineError;
use async_trait::async_trait;

/// What a step's `prepare` made ready for its `apply` (or its `prepare_undo` for its
/// `rollback`), of the kind's own type.
pub type Prepared = Box<dyn std::any::Any + Send>;

/// What the steps of a coordinated move prepared before it held requests, by step id.
pub type PreparedSteps = std::sync::Mutex<std::collections::HashMap<String, Prepared>>;

/// What `apply` did.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// The step's effect is now in place.
    Done {
        /// One line on what it did.
        summary: String,
    },
}

/// What `rollback` can do about an interrupted attempt (see [`StepRunner::interrupted`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interrupted {
    /// Its `rollback` undoes whatever the attempt may have done.
    Undoes,
    /// It cannot: what may be left, in words for the operator.
    Leaves(String),
}

/// What `verify` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// The effect is in place: applying would change nothing.
    InPlace,
    /// The effect is not (fully) in place.
    NotInPlace,
    /// The step cannot tell (it has no check).
    Unknown,
}

/// One step kind's behaviour. Implementations build command values and hand them to the
/// context; they never run processes themselves.
#[async_trait]
pub trait StepRunner: Send + Sync {
    /// The changes `apply` would make, one line each, secrets masked.
    fn plan(&self, values: &Values<'_>) -> Result<Vec<String>, EngineError>;

    /// Whether the step's effect is already in place.
    async fn verify(&self, ctx: &StepCtx<'_>) -> Result<Verified, EngineError>;

    /// Makes the change. Gates wait here (or return [`EngineError::Waiting`]).
    async fn apply(&self, ctx: &StepCtx<'_>) -> Result<Applied, EngineError>;

    /// True when an interrupted `apply` can be re-attached to (tracked commands): then a
    /// resumed step is applied again instead of being re-checked with `verify`.
    fn reattaches(&self) -> bool {
        false
    }

    /// How `rollback` treats an attempt that was cut off (the controller killed or stopped
    /// mid-step). By default `rollback` runs for it, and must undo whatever such an attempt
    /// may have done, as far as it got, and nothing else; a kind that cannot says what may be
    /// left, and the rollback names it.
    fn interrupted(&self) -> Interrupted {
        Interrupted::Undoes
    }

    /// True when `rollback` also runs for a step that *failed* part-way: its undo is driven
    /// by what it journaled before changing anything, or by what it finds in place (the DNS,
    /// proxy and PostgreSQL replication steps), so it restores exactly what changed and does
    /// nothing otherwise. Other kinds leave a failed attempt's effects to the operator.
    fn undoes_failed(&self) -> bool {
        false
    }

    /// The part of `apply` that can happen before a coordinated move holds requests (checks,
    /// connections); what it returns is handed back to `apply` through
    /// [`StepCtx::take_prepared`], and `verify` is then not run again. `None` by default:
    /// the kind does all its work in `apply`.
    async fn prepare(&self, _ctx: &StepCtx<'_>) -> Result<Option<Prepared>, EngineError> {
        Ok(None)
    }

    /// The part of `rollback` that can happen before a coordinated move back holds requests
    /// (reading what is in place, connections); what it returns is handed to `rollback`
    /// through [`StepCtx::take_prepared`]. `None` by default: the kind does all its work in
    /// `rollback`.
    async fn prepare_undo(&self, _ctx: &StepCtx<'_>) -> Result<Option<Prepared>, EngineError> {
        Ok(None)
    }

    /// Reverses the change; returns what was done, or `None` when there is nothing to undo.
    async fn rollback(&self, ctx: &StepCtx<'_>) -> Result<Option<String>, EngineError>;
}
