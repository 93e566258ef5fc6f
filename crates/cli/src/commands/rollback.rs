//! `cutover rollback`: undo every applied step, newest first.

use super::{confirm, interrupt_signal};
use crate::output::{paint, report_error, safe, Printer, Style};
use cutover_engine::ExitCode;
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
}

pub async fn run(file: &Path, a: Args) -> ExitCode {
    if !a.yes {
        match confirm(
            &format!("roll back every applied step of {}?", file.display()),
            "roll back",
        ) {
            Ok(true) => {}
            Ok(false) => {
                outln!("nothing rolled back");
                return ExitCode::Ok;
            }
            Err(code) => return code,
        }
    }
    match cutover_engine::rollback(file, &a.reason, &Printer, interrupt_signal()).await {
        Ok(o) => {
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
            outln!(
                "\n{} run {} rolled back ({} step(s) undone{})",
                paint(Style::Green, "done:"),
                safe(&o.run),
                o.undone.len(),
                safe(&left)
            );
            ExitCode::Ok
        }
        Err(e) => report_error(&e),
    }
}
