//! `cutover status`: where the run stands.

use crate::output::{paint, print_json, report_error, safe, Style};
use cutover_engine::ExitCode;
use std::path::Path;

/// Options of `cutover status`.
#[derive(clap::Args)]
pub struct Args {
    /// Print the status as JSON.
    #[arg(long)]
    json: bool,
    /// The run to show: its id, or N for the journal's Nth run (default: the newest).
    #[arg(long, value_name = "RUN")]
    run: Option<String>,
}

pub async fn run(file: &Path, a: Args) -> ExitCode {
    let s = match cutover_engine::status(file, a.run.as_deref()).await {
        Ok(s) => s,
        Err(e) => return report_error(&e),
    };
    if a.json {
        return print_json(&s);
    }
    match &s.run {
        Some(run) => outln!(
            "plan {}: run {} {}",
            paint(Style::Bold, &s.plan),
            safe(run),
            paint(Style::Bold, &s.state)
        ),
        None => outln!("plan {}: {}", paint(Style::Bold, &s.plan), safe(&s.state)),
    }
    if let Some(n) = s
        .run
        .as_ref()
        .and_then(|r| s.runs.iter().position(|x| x == r))
    {
        if s.runs.len() > 1 {
            outln!(
                "run {} of {} in the journal (`cutover status --run N` shows another)",
                n + 1,
                s.runs.len()
            );
        }
    }
    if let Some(w) = &s.waiting_for {
        outln!("{} {}", paint(Style::Yellow, "waiting for"), safe(w));
    }
    if let Some(l) = &s.locked_by {
        outln!("locked by {}", safe(l));
    }
    for step in &s.steps {
        let status = match step.status.as_str() {
            "applied" => paint(Style::Green, "applied"),
            "failed" | "rollback_failed" => paint(Style::Red, &step.status),
            "waiting" | "in_flight" => paint(Style::Yellow, &step.status),
            other => safe(other).into_owned(),
        };
        let detail = step
            .detail
            .as_ref()
            .and_then(|d| d.lines().next())
            .unwrap_or("");
        let line = format!(
            "  {:<12} {:<20} {:<8} {status:<10} {}",
            safe(&step.stage),
            safe(&step.id),
            safe(&step.kind),
            safe(detail)
        );
        outln!("{}", line.trim_end());
    }
    for u in &s.users_saw {
        println!("users saw: {}", safe(u));
    }
    if !s.users_saw.is_empty() {
        println!("  ({})", cutover_engine::users_saw::BY_METHOD);
    }
    for l in &s.left_running {
        println!("{} {}", paint(Style::Yellow, "left running:"), safe(l));
    }
    for w in &s.warnings {
        outln!("{} {}", paint(Style::Yellow, "warning:"), safe(w));
    }
    ExitCode::Ok
}
