//! What the dashboard shows of a run, rebuilt from the report each time events arrive: where
//! the run is (stage, step, try, progress), what it waits for, replication lag, the current
//! soak's charts and the timeline. The markup is made here, escaped like the report's; the
//! page's script only puts it in place.

use crate::report::{charts, timeline};
use crate::shown;
use cutover_engine::report::{SpanKind, StepSpan};
use cutover_engine::Report;
use maud::{html, Markup};
use serde::Serialize;

/// A gate holding the run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateView {
    /// The approve step's id.
    pub id: String,
    /// What it waits for.
    pub reason: String,
}

/// The view after some event.
#[derive(Debug, Clone, Serialize)]
pub struct View {
    /// The newest event shown.
    pub seq: i64,
    /// The markup of the live part of the page.
    pub html: String,
    /// The approval gate waiting, if any.
    pub gate: Option<GateView>,
    /// The run's outcome once it ended.
    pub outcome: Option<String>,
}

impl View {
    /// Before any run.
    pub fn waiting() -> Self {
        View {
            seq: 0,
            html: html! { p.none { "No run yet: the dashboard shows it as soon as `cutover apply` starts." } }.into_string(),
            gate: None,
            outcome: None,
        }
    }
}

/// The view of `r`.
pub fn view(r: &Report, plan: &cutover_plan::Plan) -> View {
    let outcome = (r.outcome != "in progress").then(|| r.outcome.clone());
    // A run that ended (rolled back while it waited at a gate) holds at nothing any more.
    let open: Vec<&StepSpan> = r
        .spans
        .iter()
        .filter(|s| s.to_ms.is_none() && outcome.is_none())
        .collect();
    let gate = open
        .iter()
        .filter(|s| s.kind == SpanKind::Wait)
        .find(|s| {
            matches!(
                plan.step(&s.step).map(|st| &st.kind),
                Some(cutover_plan::StepKind::Approve(_))
            )
        })
        .map(|s| GateView {
            id: s.step.clone(),
            reason: r
                .timeline
                .iter()
                .rev()
                .find_map(|t| match &t.event {
                    cutover_journal::Event::StepWaiting { step, reason, .. } if *step == s.step => {
                        Some(shown(reason))
                    }
                    _ => None,
                })
                .unwrap_or_default(),
        });
    View {
        seq: r.timeline.last().map_or(0, |t| t.seq),
        html: markup(r, &open, outcome.as_deref()).into_string(),
        gate,
        outcome,
    }
}

fn markup(r: &Report, open: &[&StepSpan], outcome: Option<&str>) -> Markup {
    let done = r
        .steps
        .iter()
        .filter(|s| matches!(s.outcome.as_str(), "applied" | "skipped"))
        .count();
    let total = r.steps.len().max(1);
    let now = r.last_event_ms.unwrap_or(r.started_ms);
    let current = open.last().copied();
    let lag = r.series.iter().rev().find(|s| s.subject == "lag");
    let soak_step = r
        .series
        .iter()
        .rev()
        .find(|s| s.subject != "lag")
        .map(|s| s.step.clone());
    let soak: Vec<_> = r
        .series
        .iter()
        .filter(|s| Some(&s.step) == soak_step.as_ref())
        .collect();
    html! {
        section #where {
            h2 { "Where the run is" }
            @if let Some(o) = outcome {
                p #outcome class={"outcome-" (o.replace(' ', "-"))} { "Run " (shown(&r.run)) " ended: " (shown(o)) }
            }
            @if let Some(c) = current {
                @let step = r.steps.iter().find(|s| s.id == c.step);
                p #current data-step=(c.step) {
                    "stage " strong { (shown(step.map_or("", |s| s.stage.as_str()))) }
                    ", step " strong #current-step { (shown(&c.step)) }
                    @if let Some(s) = step { " (" (shown(&s.kind)) ")" }
                    @match c.kind {
                        SpanKind::Run => { ", try " (c.attempt) ", running for " (secs(now - c.from_ms)) }
                        SpanKind::Wait => { ", waiting for " (secs(now - c.from_ms)) }
                    }
                }
                @if c.kind == SpanKind::Run {
                    @if let Some(bar) = super::step_progress::progress(&r.timeline, c) { (bar) }
                }
            }
            progress #progress max=(total) value=(done) {}
            span #progress-text { (done) " of " (r.steps.len()) " steps done" }
        }
        @if let Some(l) = lag {
            @let last = l.points.last();
            section #lag {
                h2 { "Replication lag" }
                p {
                    (shown(&l.step)) ": "
                    span #lag-bytes { (last.and_then(|p| p.figures.get("bytes")).map(|v| crate::svg::figure(*v)).unwrap_or_default()) } " bytes"
                    // Not every store says how far behind in time (Redis does not).
                    @if let Some(s) = last.and_then(|p| p.figures.get("seconds")) {
                        ", " span #lag-seconds { (crate::svg::figure(*s)) } " s"
                    }
                    " behind"
                }
            }
        }
        @if !soak.is_empty() {
            section #soak {
                h2 { "Soak " (shown(soak_step.as_deref().unwrap_or(""))) }
                (charts::charts_of(&soak, &r.thresholds))
            }
        }
        section #run-timeline { h2 { "Timeline" } (timeline::timeline(r)) }
    }
}

fn secs(ms: i64) -> String {
    format!("{:.0} s", (ms.max(0) as f64) / 1000.0)
}
