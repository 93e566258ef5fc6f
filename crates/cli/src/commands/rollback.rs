//! `cutover rollback`: undo every applied step, newest first.

use super::interrupt_signal;
use crate::output::{paint, report_error, Printer, Style};
use cutover_engine::ExitCode;
use std::io::{BufRead, IsTerminal, Write};
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
        if !std::io::stdin().is_terminal() {
            eprintln!("error: refusing to roll back without confirmation: pass --yes when not on a terminal");
            return ExitCode::Usage;
        }
        print!("roll back every applied step of {}? [y/N] ", file.display());
        let _ = std::io::stdout().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            println!("nothing rolled back");
            return ExitCode::Ok;
        }
    }
    match cutover_engine::rollback(file, &a.reason, &Printer, interrupt_signal()).await {
        Ok(o) => {
            println!(
                "\n{} run {} rolled back ({} step(s) undone)",
                paint(Style::Green, "done:"),
                o.run,
                o.undone.len()
            );
            ExitCode::Ok
        }
        Err(e) => report_error(&e),
    }
}
