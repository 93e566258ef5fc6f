//! When each step ran and waited, read from the journal's order of events: what the HTML
//! report draws on its time axis and the dashboard shows as progress.

use cutover_journal::{Event, Record};
use serde::Serialize;
use std::collections::BTreeMap;

/// What a step was doing during a span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SpanKind {
    /// Working (one try).
    Run,
    /// Held at a gate.
    Wait,
}

/// A stretch of time one step spent working or waiting.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepSpan {
    /// The step.
    pub step: String,
    /// Working or waiting.
    pub kind: SpanKind,
    /// The try (1 for the first).
    pub attempt: u32,
    /// Start (unix ms).
    pub from_ms: i64,
    /// End (unix ms); `None` while it goes on.
    pub to_ms: Option<i64>,
    /// How it ended: "applied", "skipped", "failed", "waiting", "approved", "stopped",
    /// "interrupted", or "" while it goes on.
    pub end: String,
}

/// Every step's spans, in the order they began.
pub fn spans(records: &[Record]) -> Vec<StepSpan> {
    let mut out: Vec<StepSpan> = Vec::new();
    // Index in `out` of each step's open span.
    let mut open: BTreeMap<String, usize> = BTreeMap::new();
    for r in records {
        let at = r.at_ms;
        match &r.event {
            Event::StepStarted { step, attempt, .. } => {
                let was_waiting = open
                    .get(step)
                    .is_some_and(|&i| out[i].kind == SpanKind::Wait);
                close(
                    &mut out,
                    &mut open,
                    step,
                    at,
                    if was_waiting {
                        "approved"
                    } else {
                        "interrupted"
                    },
                );
                open.insert(step.clone(), out.len());
                out.push(span(step, SpanKind::Run, *attempt, at));
            }
            Event::StepWaiting { step, .. } => {
                if open
                    .get(step)
                    .is_some_and(|&i| out[i].kind == SpanKind::Wait)
                {
                    continue;
                }
                let attempt = open.get(step).map_or(1, |&i| out[i].attempt);
                close(&mut out, &mut open, step, at, "waiting");
                open.insert(step.clone(), out.len());
                out.push(span(step, SpanKind::Wait, attempt, at));
            }
            Event::StepApplied { step, .. } => close(&mut out, &mut open, step, at, "applied"),
            Event::StepSkipped { step, .. } => close(&mut out, &mut open, step, at, "skipped"),
            Event::StepFailed { step, .. } => close(&mut out, &mut open, step, at, "failed"),
            Event::ApplyStopped { .. } | Event::RunFinished { .. } => {
                let steps: Vec<String> = open.keys().cloned().collect();
                for step in steps {
                    let waiting = open
                        .get(&step)
                        .is_some_and(|&i| out[i].kind == SpanKind::Wait);
                    // A gate still holds the run after apply stops: its wait goes on.
                    if !waiting {
                        close(&mut out, &mut open, &step, at, "stopped");
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// Ends `step`'s open span, if any, at `at` with `end`.
fn close(out: &mut [StepSpan], open: &mut BTreeMap<String, usize>, step: &str, at: i64, end: &str) {
    if let Some(i) = open.remove(step) {
        out[i].to_ms = Some(at);
        out[i].end = end.into();
    }
}

fn span(step: &str, kind: SpanKind, attempt: u32, from_ms: i64) -> StepSpan {
    StepSpan {
        step: step.to_string(),
        kind,
        attempt,
        from_ms,
        to_ms: None,
        end: String::new(),
    }
}
