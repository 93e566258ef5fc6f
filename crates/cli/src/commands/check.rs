//! `cutover check`: every plan problem at once, then a checklist of secrets and hosts.

use crate::output::{paint, print_json, report_error, Style};
use cutover_engine::{EngineError, ExitCode};
use cutover_plan::problem::line_col;
use std::path::Path;

/// Options of `cutover check`.
#[derive(clap::Args)]
pub struct Args {
    /// Only validate the plan file; do not contact hosts.
    #[arg(long)]
    offline: bool,
    /// Record the keys of hosts not yet in known_hosts (verified against `host_key` when set).
    #[arg(long)]
    pin_host_keys: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(serde::Serialize)]
struct JsonProblem {
    file: String,
    line: usize,
    column: usize,
    message: String,
    label: String,
    help: Option<String>,
}

pub async fn run(file: &Path, a: Args) -> ExitCode {
    // Load once up front so plan problems are reported before any connection is tried.
    if let Err(e) = cutover_plan::load(file) {
        let e = EngineError::Plan(e);
        if a.json {
            if let EngineError::Plan(cutover_plan::LoadError::Invalid(errors)) = &e {
                let problems: Vec<JsonProblem> = errors
                    .problems
                    .iter()
                    .map(|p| {
                        let (line, column) = line_col(&errors.src, p.span.start);
                        JsonProblem {
                            file: errors.file.clone(),
                            line,
                            column,
                            message: p.message.clone(),
                            label: p.label.clone(),
                            help: p.help.clone(),
                        }
                    })
                    .collect();
                print_json(&serde_json::json!({ "plan_ok": false, "problems": problems }));
                return e.exit_code();
            }
        }
        return report_error(&e);
    }
    if a.offline {
        if a.json {
            print_json(&serde_json::json!({ "plan_ok": true, "checks": [] }));
        } else {
            println!("{} {} is valid", paint(Style::Green, "ok"), file.display());
        }
        return ExitCode::Ok;
    }
    let items = match cutover_engine::check(file, a.pin_host_keys).await {
        Ok(items) => items,
        Err(e) => return report_error(&e),
    };
    let ok = items.iter().all(|i| i.ok);
    if a.json {
        print_json(&serde_json::json!({ "plan_ok": true, "checks": items }));
    } else {
        println!("{} {} is valid", paint(Style::Green, "ok"), file.display());
        for i in &items {
            let mark = if i.ok {
                paint(Style::Green, "✓")
            } else {
                paint(Style::Red, "✗")
            };
            println!("{mark} {:<16} {:<16} {}", i.subject, i.check, i.detail);
            if let (false, Some(h)) = (i.ok, &i.hint) {
                println!("  {} {h}", paint(Style::Yellow, "hint:"));
            }
        }
    }
    if ok {
        ExitCode::Ok
    } else {
        ExitCode::Unreachable
    }
}
