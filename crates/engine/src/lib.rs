//! cutover's engine: runs a plan's stages and steps through their gates, journals every
//! action, resumes after a crash, rolls back, and renders status and reports.
#![deny(missing_docs)]

pub mod apply;
pub mod approve;
pub mod check;
pub mod context;
mod downtime;
pub mod error;
pub mod hosts;
pub mod journal_copy;
pub mod journal_store;
mod left_by_replicas;
mod left_running;
mod leftovers;
pub mod notify;
mod outputs;
mod pin;
pub mod preview;
pub mod progress;
pub mod report;
pub mod rollback;
mod schema_drift;
pub mod secrets;
pub mod session;
pub mod status;
pub mod step;
#[cfg(test)]
mod step_harness;
pub mod steps;
pub mod text;
mod tidy;
pub mod ui;
pub mod users_saw;
pub mod writable;

pub use apply::{apply, ApplyOptions, ApplyOutcome};
pub use approve::approve;
pub use check::{check, is_plan_problem, offline_check, CheckItem};
pub use error::{EngineError, ExitCode};
pub use preview::{preview, Preview};
pub use report::{report, Report};
pub use rollback::{rollback, RollbackOutcome, RollbackScope};
pub use status::{status, Status};
pub use ui::{Progress, Ui};
