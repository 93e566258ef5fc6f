//! `cutover apply`: runs the plan (resuming), asking first on a terminal unless `--yes`.

use super::{confirm, interrupt_signal};
use crate::output::{paint, report_error, safe, Printer, Style};
use cutover_engine::{ApplyOptions, ApplyOutcome, ExitCode};
use std::path::Path;

/// Options of `cutover apply`.
#[derive(clap::Args)]
pub struct Args {
    /// Stop after this stage.
    #[arg(long)]
    until: Option<String>,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    yes: bool,
    /// Stop at an approval or time gate instead of waiting there (exit code 7).
    #[arg(long)]
    no_wait: bool,
    /// Start a new run of a plan whose newest run completed (the next release), in the same
    /// journal; `cutover status --run N` and `cutover report --run N` show older runs.
    #[arg(long)]
    new_run: bool,
}

pub async fn run(file: &Path, a: Args) -> ExitCode {
    if !a.yes {
        if let Err(e) = cutover_engine::preview(file) {
            return report_error(&e);
        }
        let question = format!("apply {}? review it with `cutover plan`", file.display());
        match confirm(&question, "apply") {
            Ok(true) => {}
            Ok(false) => {
                outln!("nothing applied");
                return ExitCode::Ok;
            }
            Err(code) => return code,
        }
    }
    let opts = ApplyOptions {
        until: a.until,
        no_wait: a.no_wait,
        new_run: a.new_run,
    };
    match cutover_engine::apply(file, &opts, &Printer, interrupt_signal()).await {
        Ok(ApplyOutcome::Completed { run, applied }) => {
            outln!(
                "\n{} run {} complete ({applied} step(s) applied now); see `cutover report`",
                paint(Style::Green, "done:"),
                safe(&run)
            );
            ExitCode::Ok
        }
        Ok(ApplyOutcome::AlreadyComplete { run }) => {
            outln!(
                "run {} is already complete: nothing to do (`cutover apply --new-run` starts another)",
                safe(&run)
            );
            ExitCode::Ok
        }
        Ok(ApplyOutcome::StoppedAfter { run, stage }) => {
            outln!(
                "\nstopped after stage {} (run {}); `cutover apply` continues",
                safe(&stage),
                safe(&run)
            );
            ExitCode::Ok
        }
        Err(e) => report_error(&e),
    }
}
