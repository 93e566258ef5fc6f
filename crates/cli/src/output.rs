//! Printing for people: progress lines, checklists and errors; colour only on a terminal and
//! never with NO_COLOR.

use cutover_engine::{EngineError, ExitCode, Progress, Ui};
use std::io::{IsTerminal, Write};

/// True when stdout is a terminal and NO_COLOR is unset.
pub fn color_enabled() -> bool {
    std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal()
}

/// A style for a piece of text.
#[derive(Clone, Copy)]
pub enum Style {
    Bold,
    Green,
    Red,
    Yellow,
    Dim,
}

/// Text from outside cutover (hosts' output, file names, the journal) as it may reach the
/// terminal: control and bidirectional characters shown as escapes.
pub fn safe(text: &str) -> std::borrow::Cow<'_, str> {
    cutover_engine::text::printable(text)
}

/// `text` in `style` when colour is on; `text` made [`safe`] either way.
pub fn paint(style: Style, text: &str) -> String {
    let text = safe(text);
    if !color_enabled() {
        return text.into_owned();
    }
    let code = match style {
        Style::Bold => "1",
        Style::Green => "32",
        Style::Red => "31",
        Style::Yellow => "33",
        Style::Dim => "2",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// Prints engine progress to standard output, every piece of text made [`safe`].
pub struct Printer;

impl Ui for Printer {
    fn show(&self, p: Progress) {
        match safe_progress(p) {
            Progress::Run { id, resumed } => {
                let verb = if resumed {
                    "resuming run"
                } else {
                    "starting run"
                };
                println!("{} {}", paint(Style::Bold, verb), id);
            }
            Progress::Stage(name) => {
                println!("\n{}", paint(Style::Bold, &format!("== stage {name}")))
            }
            Progress::StepStarted {
                step,
                kind,
                description,
            } => {
                let d = if description.is_empty() {
                    String::new()
                } else {
                    format!(": {description}")
                };
                println!("-> {step} ({kind}){d}");
            }
            Progress::Detail(line) => println!("   {}", paint(Style::Dim, &line)),
            Progress::StepDone {
                step,
                summary,
                seconds,
            } => {
                println!(
                    "   {} {step}: {summary} ({seconds:.1}s)",
                    paint(Style::Green, "ok")
                );
            }
            Progress::StepSkipped { step, reason } => {
                println!("   {} {step}: {reason}", paint(Style::Dim, "skip"))
            }
            Progress::StepFailed { step, error } => {
                println!("   {} {step}", paint(Style::Red, "FAILED"));
                for line in error.lines() {
                    println!("   {line}");
                }
            }
            Progress::StepLeft { step, what } => {
                println!("   {} {step}: {what}", paint(Style::Yellow, "left"))
            }
            Progress::Waiting { step, reason } => {
                println!("   {} {step}: {reason}", paint(Style::Yellow, "waiting"))
            }
            Progress::Note(text) => println!("{}", paint(Style::Yellow, &format!("note: {text}"))),
        }
    }
}

/// `p` with each of its texts made [`safe`].
fn safe_progress(p: Progress) -> Progress {
    let s = |t: String| safe(&t).into_owned();
    match p {
        Progress::Run { id, resumed } => Progress::Run { id: s(id), resumed },
        Progress::Stage(name) => Progress::Stage(s(name)),
        Progress::StepStarted {
            step,
            kind,
            description,
        } => Progress::StepStarted {
            step: s(step),
            kind: s(kind),
            description: s(description),
        },
        Progress::Detail(line) => Progress::Detail(s(line)),
        Progress::StepDone {
            step,
            summary,
            seconds,
        } => Progress::StepDone {
            step: s(step),
            summary: s(summary),
            seconds,
        },
        Progress::StepSkipped { step, reason } => Progress::StepSkipped {
            step: s(step),
            reason: s(reason),
        },
        Progress::StepFailed { step, error } => Progress::StepFailed {
            step: s(step),
            error: s(error),
        },
        Progress::StepLeft { step, what } => Progress::StepLeft {
            step: s(step),
            what: s(what),
        },
        Progress::Waiting { step, reason } => Progress::Waiting {
            step: s(step),
            reason: s(reason),
        },
        Progress::Note(text) => Progress::Note(s(text)),
    }
}

/// Prints an engine error (plan problems in full) and returns its exit code.
pub fn report_error(e: &EngineError) -> ExitCode {
    match e {
        EngineError::Plan(cutover_plan::LoadError::Invalid(errors)) => print_plan_errors(errors),
        other => eprintln!(
            "{} {}",
            paint(Style::Red, "error:"),
            safe(&other.to_string())
        ),
    }
    e.exit_code()
}

/// The most problems printed in full. A plan generated wrong can have thousands; the first
/// ones (the likely cause) would scroll away under the rest, and `check --json` lists all.
pub const PROBLEMS_SHOWN: usize = 50;

/// Prints the first [`PROBLEMS_SHOWN`] problems of a plan file, each with its excerpt, label
/// and hint, then how many more there are.
pub fn print_plan_errors(errors: &cutover_plan::PlanErrors) {
    let theme = if color_enabled() {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    let handler = miette::GraphicalReportHandler::new_themed(theme).with_context_lines(1);
    for d in errors.diagnostics().take(PROBLEMS_SHOWN) {
        let mut out = String::new();
        if handler.render_report(&mut out, &d).is_ok() {
            eprintln!("{out}");
        } else {
            eprintln!("{}: {d}", d.location());
        }
    }
    let more = errors.problems.len().saturating_sub(PROBLEMS_SHOWN);
    if more > 0 {
        eprintln!(
            "... and {more} more problem{} (`cutover check --json` lists every one)",
            if more == 1 { "" } else { "s" }
        );
    }
    eprintln!("{}", paint(Style::Red, &format!("error: {errors}")));
}

/// Prints `value` as pretty JSON, written as it is rendered (a plan's problems can run to
/// tens of megabytes).
pub fn print_json<T: serde::Serialize>(value: &T) -> ExitCode {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let written = serde_json::to_string_pretty(value)
        .map_err(std::io::Error::from)
        .and_then(|s| writeln!(out, "{}", cutover_engine::text::json_printable(&s)))
        .and_then(|()| out.flush());
    match written {
        Ok(()) => ExitCode::Ok,
        Err(e) => {
            eprintln!("error: cannot render JSON: {e}");
            ExitCode::Internal
        }
    }
}
