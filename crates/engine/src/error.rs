//! Engine errors, each in a class with its own exit code (documented in the README).

use cutover_exec::{ExecError, FailureClass};
use cutover_journal::JournalError;

/// Exit codes of the `cutover` binary, one per error class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum ExitCode {
    /// Success.
    Ok = 0,
    /// An unexpected internal error.
    Internal = 1,
    /// Wrong command-line usage.
    Usage = 2,
    /// The plan file has problems.
    PlanInvalid = 3,
    /// A host, secret or tool could not be reached or used (connectivity, host key, auth).
    Unreachable = 4,
    /// A step failed; the run stopped before the next one (rollback is available).
    StepFailed = 5,
    /// Another process holds the plan's lock.
    Locked = 6,
    /// The run stopped at a gate (approval or time) and resumes with `cutover apply`.
    Waiting = 7,
    /// Rollback failed; the journal names the step.
    RollbackFailed = 8,
    /// A verification found a difference (data proof, health gate); no traffic moved.
    VerifyFailed = 9,
    /// Interrupted (Ctrl-C, SIGTERM); resume with `cutover apply`.
    Interrupted = 10,
}

impl ExitCode {
    /// The exit code of a step that failed with `class`: access problems (auth, unreachable)
    /// are 4, a proof's difference 9, an invalid plan 3, anything else 5. The standalone
    /// commands (`cutover verify ...`) use it too, so the same failure exits the same way.
    pub fn of_step(class: FailureClass) -> ExitCode {
        match class {
            FailureClass::Auth | FailureClass::Unreachable => ExitCode::Unreachable,
            FailureClass::VerificationFailed => ExitCode::VerifyFailed,
            FailureClass::PlanInvalid => ExitCode::PlanInvalid,
            FailureClass::MissingObject
            | FailureClass::Permission
            | FailureClass::Precondition
            | FailureClass::Failed => ExitCode::StepFailed,
        }
    }
}

/// What a step asks the apply loop to undo, and why.
#[derive(Debug)]
pub struct RollbackRequest {
    /// The step asking.
    pub step: String,
    /// What happened, with its evidence (shown, and the failure's message).
    pub what: String,
    /// The applied steps to undo, newest last (they are undone newest first).
    pub targets: Vec<String>,
    /// Why, as the journal's rollback records it.
    pub reason: String,
    /// When it happened: the rollback's time is measured from here.
    pub at: std::time::Instant,
}

/// Why an engine command stopped.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The plan cannot be loaded.
    #[error(transparent)]
    Plan(#[from] cutover_plan::LoadError),
    /// The journal failed or is locked.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// A secret cannot be read.
    #[error("secret `{name}`: {reason}")]
    Secret {
        /// The secret.
        name: String,
        /// Why.
        reason: String,
    },
    /// Connecting to a host failed.
    #[error(transparent)]
    Connect(ExecError),
    /// A step failed.
    #[error("step `{step}` failed: {message}")]
    StepFailed {
        /// The step.
        step: String,
        /// What went wrong.
        message: String,
        /// What kind of failure it was: it chooses the exit code.
        class: FailureClass,
    },
    /// The run stopped at a gate.
    #[error("stopped at step `{step}`: {reason}")]
    Waiting {
        /// The gate.
        step: String,
        /// What it waits for.
        reason: String,
    },
    /// The run was interrupted.
    #[error("interrupted during step `{step}`; run `cutover apply` to resume")]
    Interrupted {
        /// Where.
        step: String,
    },
    /// The connection to a host dropped while a step's tracked command ran there and did
    /// not come back: the try is not over (the command may still run), so `cutover apply`
    /// re-attaches to it rather than running it again.
    #[error("step `{step}`: {message}")]
    HostLost {
        /// The step.
        step: String,
        /// What happened, from the executor.
        message: String,
    },
    /// A step asks for steps of the run to be undone at once (a soak's trigger fired): the
    /// apply loop does it, journals it as a rollback, and fails the step with the outcome.
    #[error("step `{}`: {}", .0.step, .0.what)]
    RollbackRequested(Box<RollbackRequest>),
    /// Rollback failed.
    #[error("rollback of step `{step}` failed: {message}")]
    RollbackFailed {
        /// The step.
        step: String,
        /// What went wrong.
        message: String,
    },
    /// The request does not fit the run's state (e.g. approving an unknown gate).
    #[error("{0}")]
    Invalid(String),
}

impl EngineError {
    /// The exit code for this error's class.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            EngineError::Plan(cutover_plan::LoadError::Invalid(_)) => ExitCode::PlanInvalid,
            EngineError::Plan(_) => ExitCode::PlanInvalid,
            EngineError::Journal(JournalError::Locked { .. }) => ExitCode::Locked,
            EngineError::Journal(JournalError::Unreachable { .. }) => ExitCode::Unreachable,
            EngineError::Journal(_) => ExitCode::Internal,
            EngineError::Secret { .. } | EngineError::Connect(_) | EngineError::HostLost { .. } => {
                ExitCode::Unreachable
            }
            EngineError::StepFailed { class, .. } => ExitCode::of_step(*class),
            EngineError::Waiting { .. } => ExitCode::Waiting,
            EngineError::Interrupted { .. } => ExitCode::Interrupted,
            EngineError::RollbackFailed { .. } => ExitCode::RollbackFailed,
            EngineError::RollbackRequested(_) => ExitCode::StepFailed,
            EngineError::Invalid(_) => ExitCode::Usage,
        }
    }
}
