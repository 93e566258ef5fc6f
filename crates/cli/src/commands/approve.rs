//! `cutover approve GATE`: a journaled sign-off.

use crate::output::{paint, report_error, safe, Style};
use cutover_engine::ExitCode;
use std::path::Path;

/// Options of `cutover approve`.
#[derive(clap::Args)]
pub struct Args {
    /// The approval step's id.
    gate: String,
    /// Who approves (default: user@machine).
    #[arg(long)]
    by: Option<String>,
    /// Why, or on what evidence.
    #[arg(long, short = 'm')]
    comment: Option<String>,
}

pub fn run(file: &Path, a: Args) -> ExitCode {
    let by = a.by.unwrap_or_else(cutover_journal::lock::operator);
    match cutover_engine::approve(file, &a.gate, &by, a.comment.as_deref()) {
        Ok(run) => {
            outln!(
                "{} {} by {} (run {})",
                paint(Style::Green, "approved"),
                safe(&a.gate),
                safe(&by),
                safe(&run)
            );
            ExitCode::Ok
        }
        Err(e) => report_error(&e),
    }
}
