//! `cutover report`: the journal as Markdown, JSON or a self-contained HTML page.

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
    /// One self-contained HTML page (inline CSS and SVG charts, no script, no network).
    Html,
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
    let format = if a.json { Format::Json } else { a.format };
    match a.output {
        None if matches!(format, Format::Json) => print_json(&r),
        None => {
            out!("{}", render(&r, format));
            ExitCode::Ok
        }
        Some(path) => {
            let text = render(&r, format);
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

fn render(r: &cutover_engine::Report, format: Format) -> String {
    match format {
        Format::Md => r.markdown(),
        Format::Json => cutover_engine::text::json_printable(
            &serde_json::to_string_pretty(r).unwrap_or_default(),
        )
        .into_owned(),
        Format::Html => cutover_web::report::page(r),
    }
}
