//! `cutover journal copy FROM TO`: move a plan's runs between an SQLite journal file and a
//! shared PostgreSQL journal.

use crate::output::{paint, report_error, safe, Style};
use cutover_engine::ExitCode;
use std::path::Path;

/// Options of `cutover journal`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(clap::Subcommand)]
enum Cmd {
    /// Copy the plan's runs from one journal to another (an SQLite file path or a
    /// `postgres://` URL on either side), both locked; the hash chain is checked before and
    /// after, and the copy compared event by event.
    Copy {
        /// Where the runs are: a journal file, or `postgres://USER:{{ secrets.NAME }}@HOST/DB?sslmode=...`.
        from: String,
        /// Where they go (created if need be).
        to: String,
        /// Only this run: its id, or its number from 1 (oldest first); default every run.
        #[arg(long)]
        run: Option<String>,
    },
}

pub fn run(file: &Path, a: Args) -> ExitCode {
    match a.command {
        Cmd::Copy { from, to, run } => {
            match cutover_engine::journal_copy::copy(file, &from, &to, run.as_deref()) {
                Ok(outcome) => {
                    for c in &outcome.runs {
                        outln!(
                            "{} run {} ({} events, {} checkpoints) from {} to {}",
                            paint(Style::Green, "copied"),
                            safe(&c.run.id),
                            c.events,
                            c.checkpoints,
                            safe(&outcome.from),
                            safe(&outcome.to)
                        );
                    }
                    outln!("{}: {}", safe(&outcome.to), safe(&outcome.chain));
                    ExitCode::Ok
                }
                Err(e) => report_error(&e),
            }
        }
    }
}
