//! Printing for people: progress lines, checklists and errors; colour only on a terminal and
//! never with NO_COLOR.

use cutover_engine::{EngineError, ExitCode, Progress, Ui};
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// Writes to standard output like `print!`, without panicking when the output is closed.
macro_rules! out {
    ($($arg:tt)*) => { $crate::output::write_out(format_args!($($arg)*)) };
}

/// Writes a line to standard output like `println!`, without panicking when the output is
/// closed.
macro_rules! outln {
    () => { $crate::output::write_out(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::output::write_out(format_args!("{}\n", format_args!($($arg)*))) };
}

/// Set once standard output could not be written: everything later is dropped.
static STDOUT_GONE: AtomicBool = AtomicBool::new(false);

/// Writes `text` to standard output. When the reader went away (`cutover plan | head -1`)
/// the rest of the output is dropped quietly and the command carries on to its own exit
/// code: `apply` must not stop half-way through a step because its reader did. Any other
/// write error is said once on standard error.
pub fn write_out(text: std::fmt::Arguments<'_>) {
    if STDOUT_GONE.load(Ordering::Relaxed) {
        return;
    }
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_fmt(text) {
        output_failed(&e);
    }
}

/// Records that standard output failed with `e`, saying so unless its reader just left.
fn output_failed(e: &std::io::Error) {
    if !STDOUT_GONE.swap(true, Ordering::Relaxed) && e.kind() != std::io::ErrorKind::BrokenPipe {
        eprintln!("error: cannot write to standard output: {e}");
    }
}

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
                outln!("{} {}", paint(Style::Bold, verb), id);
            }
            Progress::Stage(name) => {
                outln!("\n{}", paint(Style::Bold, &format!("== stage {name}")))
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
                outln!("-> {step} ({kind}){d}");
            }
            Progress::Detail(line) => outln!("   {}", paint(Style::Dim, &line)),
            Progress::StepDone {
                step,
                summary,
                seconds,
            } => {
                outln!(
                    "   {} {step}: {summary} ({seconds:.1}s)",
                    paint(Style::Green, "ok")
                );
            }
            Progress::StepSkipped { step, reason } => {
                outln!("   {} {step}: {reason}", paint(Style::Dim, "skip"))
            }
            Progress::StepFailed { step, error } => {
                outln!("   {} {step}", paint(Style::Red, "FAILED"));
                for line in error.lines() {
                    outln!("   {line}");
                }
            }
            Progress::StepLeft { step, what } => {
                outln!("   {} {step}: {what}", paint(Style::Yellow, "left"))
            }
            Progress::Waiting { step, reason } => {
                outln!("   {} {step}: {reason}", paint(Style::Yellow, "waiting"))
            }
            Progress::Note(text) => outln!("{}", paint(Style::Yellow, &format!("note: {text}"))),
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

/// Prints the warnings of the plan at `file` (deprecated spellings) on standard error; a
/// plan that does not load is left to the command, which reports its problems.
pub fn print_plan_warnings(file: &std::path::Path) {
    if let Ok((plan, _)) = cutover_plan::load(file) {
        for w in &plan.warnings {
            eprintln!("warning: {}", safe(w));
        }
    }
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
    let rendered = match serde_json::to_string_pretty(value) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot render JSON: {e}");
            return ExitCode::Internal;
        }
    };
    if STDOUT_GONE.load(Ordering::Relaxed) {
        return ExitCode::Ok;
    }
    let written = writeln!(out, "{}", cutover_engine::text::json_printable(&rendered))
        .and_then(|()| out.flush());
    if let Err(e) = written {
        output_failed(&e);
    }
    ExitCode::Ok
}
