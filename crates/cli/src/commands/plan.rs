//! `cutover plan`: the changes `apply` would make.

use crate::output::{paint, print_json, report_error, safe, Style};
use cutover_engine::ExitCode;
use std::path::Path;

/// Options of `cutover plan`.
#[derive(clap::Args)]
pub struct Args {
    /// The plan file (the same as `-f`, which it overrides).
    #[arg(value_name = "PLAN")]
    pub plan_file: Option<std::path::PathBuf>,
    /// Print the plan as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(file: &Path, a: Args) -> ExitCode {
    let p = match cutover_engine::preview(file) {
        Ok(p) => p,
        Err(e) => return report_error(&e),
    };
    if a.json {
        return print_json(&p);
    }
    match &p.run {
        Some(run) => outln!(
            "plan {} (continuing run {})",
            paint(Style::Bold, &p.plan),
            safe(run)
        ),
        None => outln!("plan {} (a new run)", paint(Style::Bold, &p.plan)),
    }
    let mut pending = 0;
    for stage in &p.stages {
        outln!(
            "\n{}",
            paint(Style::Bold, &format!("== stage {}", stage.name))
        );
        for step in &stage.steps {
            let mark = match step.status.as_str() {
                "done" => paint(Style::Dim, "done"),
                "pending" => {
                    pending += 1;
                    paint(Style::Green, "  + ")
                }
                other => {
                    pending += 1;
                    paint(Style::Yellow, other)
                }
            };
            let d = step
                .description
                .as_ref()
                .map(|d| format!(": {d}"))
                .unwrap_or_default();
            outln!(
                "{mark} {} ({}){}",
                safe(&step.id),
                safe(&step.kind),
                safe(&d)
            );
            for c in &step.changes {
                outln!("       {}", safe(c));
            }
        }
    }
    outln!("\n{pending} step(s) to apply");
    ExitCode::Ok
}
