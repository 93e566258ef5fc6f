//! `cutover report`: the journal as Markdown or JSON.

use crate::output::{print_json, report_error};
use cutover_engine::ExitCode;
use std::path::{Path, PathBuf};

/// Report formats.
#[derive(clap::ValueEnum, Clone, Copy)]
pub enum Format {
    /// Markdown.
    Md,
    /// JSON.
    Json,
}

/// Options of `cutover report`.
#[derive(clap::Args)]
pub struct Args {
    /// Output format.
    #[arg(long, value_enum, default_value = "md")]
    format: Format,
    /// Same as --format json.
    #[arg(long)]
    json: bool,
    /// The run to report: its id, or N for the journal's Nth run (default: the newest).
    #[arg(long)]
    run: Option<String>,
    /// Write to this file instead of standard output.
    #[arg(long, short = 'o')]
    output: Option<PathBuf>,
}

pub fn run(file: &Path, a: Args) -> ExitCode {
    let r = match cutover_engine::report(file, a.run.as_deref()) {
        Ok(r) => r,
        Err(e) => return report_error(&e),
    };
    let json = a.json || matches!(a.format, Format::Json);
    match a.output {
        None if json => print_json(&r),
        None => {
            out!("{}", r.markdown());
            ExitCode::Ok
        }
        Some(path) => {
            let text = if json {
                cutover_engine::text::json_printable(
                    &serde_json::to_string_pretty(&r).unwrap_or_default(),
                )
                .into_owned()
            } else {
                r.markdown()
            };
            match std::fs::write(&path, text) {
                Ok(()) => ExitCode::Ok,
                Err(e) => {
                    eprintln!("error: cannot write {}: {e}", path.display());
                    ExitCode::Internal
                }
            }
        }
    }
}
