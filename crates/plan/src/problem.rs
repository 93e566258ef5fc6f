//! Plan problems: every error found in a plan file, with its location, a label and a hint.

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceSpan};
use std::fmt;
use std::sync::Arc;

/// A byte range in the plan file.
pub type Span = toml_span::Span;

/// One problem found in a plan file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where in the file the problem is.
    pub span: Span,
    /// What is wrong, as one sentence without a trailing period.
    pub message: String,
    /// A short label shown under the underlined location.
    pub label: String,
    /// What to do about it, when we can tell.
    pub help: Option<String>,
}

impl Problem {
    /// A problem at `span` with a message and a label.
    pub fn new(span: Span, message: impl Into<String>, label: impl Into<String>) -> Self {
        Problem {
            span,
            message: message.into(),
            label: label.into(),
            help: None,
        }
    }

    /// The same problem with a hint on what to do.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// The problems collected while reading a plan; reading goes on after each one so that
/// `cutover check` can report all of them at once. Warnings (a deprecated spelling) are
/// kept apart: they do not make the plan invalid.
#[derive(Debug, Default)]
pub struct Problems(pub Vec<Problem>, Vec<Problem>);

impl Problems {
    /// Records a problem.
    pub fn push(&mut self, problem: Problem) {
        self.0.push(problem);
    }

    /// Records a warning: something the plan should change that still works.
    pub fn warn(&mut self, warning: Problem) {
        self.1.push(warning);
    }

    /// The warnings recorded, each as `FILE:LINE:COL: message` followed by its help.
    pub fn warnings(&self, file: &str, src: &str) -> Vec<String> {
        self.1
            .iter()
            .map(|w| {
                let (line, col) = line_col(src, w.span.start);
                match &w.help {
                    Some(h) => format!("{file}:{line}:{col}: {}\n  help: {h}", w.message),
                    None => format!("{file}:{line}:{col}: {}", w.message),
                }
            })
            .collect()
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let before = &src[..floor_char_boundary(src, offset)];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Where each line of a text starts, to turn byte offsets into lines and columns without
/// scanning the text from its start for every problem.
#[derive(Debug, Clone)]
pub struct LineIndex(Vec<usize>);

impl LineIndex {
    /// Indexes the lines of `src`.
    pub fn new(src: &str) -> Self {
        let starts = std::iter::once(0)
            .chain(src.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        LineIndex(starts)
    }

    /// 1-based line and column (in characters) of a byte offset of `src`, the text this
    /// index was built from; the same as [`line_col`].
    pub fn line_col(&self, src: &str, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(src, offset.min(src.len()));
        let line = self.0.partition_point(|&start| start <= offset).max(1);
        let start = self.0[line - 1];
        (line, src[start..offset].chars().count() + 1)
    }
}

/// All problems of one plan file, renderable by miette (file excerpt, underline, label, help)
/// or as plain `file:line:col: message` lines.
#[derive(Debug)]
pub struct PlanErrors {
    /// The plan file's name as the user gave it.
    pub file: String,
    /// The plan file's text, shared by every diagnostic (a plan with thousands of problems
    /// must not hold thousands of copies of itself).
    pub src: Arc<str>,
    /// Every problem found, in file order.
    pub problems: Vec<Problem>,
    lines: LineIndex,
}

impl PlanErrors {
    /// The problems of the plan file `file` whose text is `src`.
    pub fn new(file: impl Into<String>, src: Arc<str>, problems: Vec<Problem>) -> Self {
        let lines = LineIndex::new(&src);
        PlanErrors {
            file: file.into(),
            src,
            problems,
            lines,
        }
    }

    /// 1-based line and column of `problem`.
    pub fn line_col(&self, problem: &Problem) -> (usize, usize) {
        self.lines.line_col(&self.src, problem.span.start)
    }

    /// One `file:line:col: message` line per problem.
    pub fn plain_lines(&self) -> Vec<String> {
        self.problems
            .iter()
            .map(|p| {
                let (line, col) = self.line_col(p);
                format!("{}:{line}:{col}: {}", self.file, p.message)
            })
            .collect()
    }

    /// The diagnostics, one per problem in file order, for a miette report handler; made
    /// as they are taken, each sharing the plan's text.
    pub fn diagnostics(&self) -> impl ExactSizeIterator<Item = ProblemReport> + '_ {
        self.problems.iter().map(|p| {
            let (l, c) = self.line_col(p);
            ProblemReport {
                problem: p.clone(),
                location: format!("{}:{l}:{c}", self.file),
                source: NamedSource::new(self.file.clone(), Arc::clone(&self.src)),
            }
        })
    }
}

impl fmt::Display for PlanErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        write!(
            f,
            "{} has {n} problem{}",
            self.file,
            if n == 1 { "" } else { "s" }
        )
    }
}

impl std::error::Error for PlanErrors {}

/// One problem with its source attached, as a miette diagnostic.
#[derive(Debug)]
pub struct ProblemReport {
    problem: Problem,
    location: String,
    source: NamedSource<Arc<str>>,
}

impl fmt::Display for ProblemReport {
    /// The message alone: renderers show the location from the span.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.problem.message)
    }
}

impl ProblemReport {
    /// `file:line:col` of the problem.
    pub fn location(&self) -> &str {
        &self.location
    }
}

impl std::error::Error for ProblemReport {}

impl Diagnostic for ProblemReport {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new("cutover::plan"))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.problem
            .help
            .as_ref()
            .map(|h| Box::new(h.clone()) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let span = self.problem.span;
        let len = span.end.saturating_sub(span.start).max(1);
        let label = LabeledSpan::new_with_span(
            Some(self.problem.label.clone()),
            SourceSpan::new(span.start.into(), len),
        );
        Some(Box::new(std::iter::once(label)))
    }
}

/// The closest known name to `unknown`, if any is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    unknown: &str,
    known: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    known
        .into_iter()
        .filter_map(|k| {
            let edits = strsim::osa_distance(unknown, k);
            let near = edits <= (k.len().max(unknown.len()) / 3).max(1)
                || strsim::jaro_winkler(unknown, k) > 0.85
                // `timeout` for `connect_timeout`: a word of a longer name.
                || k.split('_').any(|word| word == unknown);
            near.then_some((edits, k))
        })
        .min_by_key(|(edits, _)| *edits)
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_index_agrees_with_line_col_at_every_offset() {
        for src in ["", "a", "\n", "a\nbc\n", "é\n😀x\n\nz", "x\r\ny"] {
            let index = LineIndex::new(src);
            for offset in 0..=src.len() + 2 {
                assert_eq!(
                    index.line_col(src, offset),
                    line_col(src, offset),
                    "{src:?} at {offset}"
                );
            }
        }
    }
}
