//! The report's tables: steps and their figures, approvals, downtime, rollbacks, and every
//! event.

use crate::shown;
use crate::svg::figure;
use cutover_engine::Report;
use cutover_journal::Event;
use maud::{html, Markup};
use std::fmt::Write;

/// Steps in plan order with their outcome, tries and duration.
pub fn steps(r: &Report) -> Markup {
    html! {
        table.steps {
            thead { tr { th { "stage" } th { "step" } th { "kind" } th { "outcome" } th { "tries" } th { "seconds" } th { "summary" } } }
            tbody {
                @for s in &r.steps {
                    tr data-step=(s.id) class={"outcome-" (s.outcome.replace(' ', "-"))} {
                        td { (shown(&s.stage)) }
                        td { (shown(&s.id)) }
                        td { (shown(&s.kind)) }
                        td.outcome { (shown(&s.outcome)) }
                        td.num data-figure="tries" { (s.attempts) }
                        td.num data-figure="seconds" { @if let Some(x) = s.seconds { (format!("{x:.2}")) } }
                        td.summary { (shown(s.summary.as_deref().unwrap_or(""))) }
                    }
                }
            }
        }
    }
}

/// Every figure a step measured.
pub fn measurements(r: &Report) -> Markup {
    html! {
        table.measurements {
            thead { tr { th { "step" } th { "measure" } th { "value" } th { "unit" } } }
            tbody {
                @for s in &r.steps {
                    @for m in &s.measurements {
                        tr data-step=(s.id) data-measure=(m.name) {
                            td { (shown(&s.id)) }
                            td { (shown(&m.name)) }
                            td.num.value { (figure(m.value)) }
                            td { (shown(&m.unit)) }
                        }
                    }
                }
            }
        }
    }
}

/// Who approved which gate, when, and why.
pub fn approvals(r: &Report) -> Markup {
    html! {
        @if r.approvals.is_empty() { p.none { "No gate was approved." } }
        @else {
            table.approvals {
                thead { tr { th { "gate" } th { "by" } th { "at" } th { "comment" } } }
                tbody {
                    @for a in &r.approvals {
                        tr data-gate=(a.gate) {
                            td { (shown(&a.gate)) } td.by { (shown(&a.by)) } td { (a.at) }
                            td { (shown(a.comment.as_deref().unwrap_or(""))) }
                        }
                    }
                }
            }
        }
    }
}

/// Measured unavailability around switches, and database freezes.
pub fn downtime(r: &Report) -> Markup {
    let opt = |v: Option<f64>| v.map(figure).unwrap_or_default();
    html! {
        @if r.downtime.is_empty() { p.none { "No downtime was measured (the plan has no [downtime] prober and no database switch ran)." } }
        @else {
            table.downtime {
                thead { tr { th { "step" } th { "unavailable (s)" } th { "longest outage (s)" } th { "failed / requests" } th { "write freeze (s)" } } }
                tbody {
                    @for d in &r.downtime {
                        tr data-step=(d.step) {
                            td { (shown(&d.step)) }
                            td.num data-figure="unavailable_s" { (opt(d.unavailable_s)) }
                            td.num data-figure="longest_outage_s" { (opt(d.longest_outage_s)) }
                            td.num { (opt(d.failed)) @if d.requests.is_some() { " / " (opt(d.requests)) } }
                            td.num data-figure="freeze_s" { (opt(d.freeze_s)) }
                        }
                    }
                }
            }
        }
    }
}

/// Each rollback with its cause and what it undid.
pub fn rollbacks(r: &Report) -> Markup {
    html! {
        @if r.rollbacks.is_empty() { p.none { "Nothing was rolled back." } }
        @for rb in &r.rollbacks {
            section.rollback {
                p { "Rollback at " (cutover_journal::format_ms(rb.from_ms))
                    @if let Some(t) = rb.to_ms { ", ended " (cutover_journal::format_ms(t)) } "." }
                p { "Cause:" }
                pre.cause { (shown(&rb.cause)) }
                p { "Undone: " @if rb.undone.is_empty() { "nothing" } @else { (shown(&rb.undone.join(", "))) } "." }
                @if let Some((step, error)) = &rb.failed {
                    p.bad { "The undo of " (shown(step)) " failed:" }
                    pre { (shown(error)) }
                }
            }
        }
    }
}

/// Every event of the run but the samples (which the charts show) and the progress reports
/// of running steps (their final figures are measured), one line each: plain text keeps a
/// run of thousands of events quick to open.
pub fn events(r: &Report) -> Markup {
    let samples = r
        .timeline
        .iter()
        .filter(|t| matches!(t.event, Event::Sampled { .. }))
        .count();
    let mut log = String::new();
    for t in r
        .timeline
        .iter()
        .filter(|t| !matches!(t.event, Event::Sampled { .. } | Event::Progressed { .. }))
    {
        let detail = cutover_engine::report::detail(&t.event);
        let _ = writeln!(
            log,
            "{:>6}  {}  {:<18} {:<24} {}",
            t.seq,
            t.at,
            t.event.name(),
            t.event.step().unwrap_or("-"),
            detail.lines().next().unwrap_or("")
        );
    }
    html! {
        @if samples > 0 {
            p { (samples) " samples of lag and soak checks are drawn in the charts above, not listed here." }
        }
        pre.events { (shown(&log)) }
    }
}
