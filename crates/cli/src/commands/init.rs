//! `cutover init`: writes a starter plan.

use crate::output::{paint, Style};
use cutover_engine::ExitCode;
use cutover_plan::templates::{template, TEMPLATES};
use std::path::Path;

/// Options of `cutover init`.
#[derive(clap::Args)]
pub struct Args {
    /// The starter plan to write.
    #[arg(long, short = 't', default_value = "basic")]
    template: String,
    /// List the starter plans.
    #[arg(long)]
    list: bool,
    /// Overwrite an existing file.
    #[arg(long)]
    force: bool,
}

pub fn run(file: &Path, a: Args) -> ExitCode {
    if a.list {
        for t in TEMPLATES {
            outln!("{:<10} {}", t.name, t.summary);
        }
        return ExitCode::Ok;
    }
    let Some(t) = template(&a.template) else {
        let names: Vec<&str> = TEMPLATES.iter().map(|t| t.name).collect();
        eprintln!(
            "error: no template `{}`; templates: {}",
            a.template,
            names.join(", ")
        );
        return ExitCode::Usage;
    };
    if file.exists() && !a.force {
        eprintln!(
            "error: {} exists; use --force to overwrite it, or -f to write elsewhere",
            file.display()
        );
        return ExitCode::Usage;
    }
    if let Err(e) = std::fs::write(file, t.text) {
        eprintln!("error: cannot write {}: {e}", file.display());
        return ExitCode::Internal;
    }
    outln!(
        "{} {} ({})",
        paint(Style::Green, "wrote"),
        file.display(),
        t.summary
    );
    outln!("next: edit it, then `cutover check` and `cutover plan`");
    ExitCode::Ok
}
