//! `cutover rollback`: undo every applied step, newest first.

use super::{confirm, interrupt_signal};
use crate::output::{paint, report_error, safe, Printer, Style};
use cutover_engine::{ExitCode, RollbackScope};
use std::path::Path;

/// Options of `cutover rollback`.
#[derive(clap::Args)]
pub struct Args {
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    yes: bool,
    /// Why (journaled).
    #[arg(long, default_value = "requested by the operator")]
    reason: String,
    /// Undo newest first down to and including this step; earlier steps stay applied and
    /// the run stays resumable (`cutover apply` applies the undone steps again).
    #[arg(long, value_name = "STEP", conflicts_with = "only")]
    to: Option<String>,
    /// Undo only this step (also one marked `keep = true`); the run stays resumable.
    #[arg(long, value_name = "STEP")]
    only: Option<String>,
}

pub async fn run(file: &Path, a: Args) -> ExitCode {
    let scope = match (a.to, a.only) {
        (Some(to), _) => RollbackScope::To(to),
        (None, Some(only)) => RollbackScope::Only(only),
        (None, None) => RollbackScope::All,
    };
    let question = match &scope {
        RollbackScope::All => format!("roll back every applied step of {}?", file.display()),
        RollbackScope::To(to) => format!(
            "roll back the applied steps of {} down to `{to}`?",
            file.display()
        ),
        RollbackScope::Only(only) => format!("roll back step `{only}` of {}?", file.display()),
    };
    if !a.yes {
        match confirm(&question, "roll back") {
            Ok(true) => {}
            Ok(false) => {
                outln!("nothing rolled back");
                return ExitCode::Ok;
            }
            Err(code) => return code,
        }
    }
    match cutover_engine::rollback(file, &a.reason, &scope, &Printer, interrupt_signal()).await {
        Ok(o) => {
            let kept = match o.kept.as_slice() {
                [] => String::new(),
                kept => format!(", {} kept: {}", kept.len(), kept.join(", ")),
            };
            let left = match o.left.as_slice() {
                [] => String::new(),
                left => format!(
                    ", {} left in place: {}",
                    left.len(),
                    left.iter()
                        .map(|l| l.step.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            let found = match o.found.as_slice() {
                [] => String::new(),
                found => format!(
                    ", {} found in place and not undone: {}",
                    found.len(),
                    found.join(", ")
                ),
            };
            let what = if o.whole {
                "rolled back"
            } else {
                "partly rolled back"
            };
            outln!(
                "\n{} run {} {what} ({} step(s) undone{}{}{})",
                paint(Style::Green, "done:"),
                safe(&o.run),
                o.undone.len(),
                safe(&kept),
                safe(&left),
                safe(&found)
            );
            if !o.whole {
                outln!("the run stays open: `cutover apply` applies the undone steps again");
            }
            ExitCode::Ok
        }
        Err(e) => report_error(&e),
    }
}
