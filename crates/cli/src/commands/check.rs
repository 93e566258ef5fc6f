//! `cutover check`: every plan problem at once, then a checklist of secrets and hosts.

use crate::output::{paint, print_json, report_error, safe, Style};
use cutover_engine::{EngineError, ExitCode};
use std::path::Path;

/// Options of `cutover check`.
#[derive(clap::Args)]
pub struct Args {
    /// The plan file (the same as `-f`, which it overrides).
    #[arg(value_name = "PLAN")]
    pub plan_file: Option<std::path::PathBuf>,
    /// Only the checks that need no network: the plan file, and what it asks of its DNS
    /// providers against what they can do; no host or API is contacted.
    #[arg(long)]
    offline: bool,
    /// Record the keys of hosts not yet in known_hosts (verified against `host_key` when set).
    #[arg(long)]
    pin_host_keys: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

/// `check --json` for a plan with problems: every problem, borrowed from the plan's errors
/// (a generated plan can have hundreds of thousands). Fields in alphabetical order, as they
/// were when this went through `serde_json::Value`.
#[derive(serde::Serialize)]
struct JsonProblems<'a> {
    plan_ok: bool,
    problems: Vec<JsonProblem<'a>>,
}

#[derive(serde::Serialize)]
struct JsonProblem<'a> {
    column: usize,
    file: &'a str,
    help: Option<&'a str>,
    label: &'a str,
    line: usize,
    message: &'a str,
}

impl<'a> JsonProblems<'a> {
    fn new(errors: &'a cutover_plan::PlanErrors) -> Self {
        let problems = errors
            .problems
            .iter()
            .map(|p| {
                let (line, column) = errors.line_col(p);
                JsonProblem {
                    column,
                    file: &errors.file,
                    help: p.help.as_deref(),
                    label: &p.label,
                    line,
                    message: &p.message,
                }
            })
            .collect();
        JsonProblems {
            plan_ok: false,
            problems,
        }
    }
}

pub async fn run(file: &Path, a: Args) -> ExitCode {
    // Load once up front so plan problems are reported before any connection is tried.
    if let Err(e) = cutover_plan::load(file) {
        let e = EngineError::Plan(e);
        if a.json {
            if let EngineError::Plan(cutover_plan::LoadError::Invalid(errors)) = &e {
                print_json(&JsonProblems::new(errors));
                return e.exit_code();
            }
        }
        return report_error(&e);
    }
    let items = if a.offline {
        cutover_engine::offline_check(file)
    } else {
        cutover_engine::check(file, a.pin_host_keys).await
    };
    let items = match items {
        Ok(items) => items,
        Err(e) => return report_error(&e),
    };
    let ok = items.iter().all(|i| i.ok);
    if a.json {
        print_json(&serde_json::json!({ "plan_ok": true, "checks": items }));
    } else {
        outln!("{} {} is valid", paint(Style::Green, "ok"), file.display());
        for i in &items {
            let note = cutover_engine::check::is_note(i);
            let mark = if note {
                paint(Style::Yellow, "!")
            } else if i.ok {
                paint(Style::Green, "✓")
            } else {
                paint(Style::Red, "✗")
            };
            outln!(
                "{mark} {:<16} {:<16} {}",
                safe(&i.subject),
                safe(&i.check),
                safe(&i.detail)
            );
            if let (false, Some(h)) | (true, Some(h)) = (i.ok && !note, &i.hint) {
                outln!("  {} {}", paint(Style::Yellow, "hint:"), safe(h));
            }
        }
    }
    if ok {
        ExitCode::Ok
    } else if items.iter().any(cutover_engine::is_plan_problem) {
        // The plan asks a provider for what it cannot do: fixed in the plan, like any
        // other plan problem.
        ExitCode::PlanInvalid
    } else {
        ExitCode::Unreachable
    }
}
