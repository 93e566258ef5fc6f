//! The run on a time axis: a row per step under its stage, each try and each wait as a bar,
//! approvals as marks, rollbacks and downtime windows as bands across every row.

use crate::shown;
use crate::svg::{clock, time_ticks, Scale};
use cutover_engine::report::{SpanKind, StepSpan};
use cutover_engine::Report;
use maud::{html, Markup};

const W: f64 = 900.0;
const LABEL: f64 = 190.0;
const ROW: f64 = 13.0;
const AXIS: f64 = 20.0;

enum Row<'a> {
    Stage(&'a str),
    Step(&'a cutover_engine::report::StepReport),
}

/// The run's time range (unix ms): its start to its last event, at least one second.
pub fn range(r: &Report) -> (i64, i64) {
    let to = r.last_event_ms.unwrap_or(r.started_ms);
    (r.started_ms, to.max(r.started_ms + 1000))
}

/// The timeline chart.
pub fn timeline(r: &Report) -> Markup {
    let mut rows = Vec::new();
    for s in &r.steps {
        if !matches!(rows.iter().rev().find_map(stage_of), Some(st) if st == s.stage) {
            rows.push(Row::Stage(&s.stage));
        }
        rows.push(Row::Step(s));
    }
    let (from, to) = range(r);
    let sx = Scale::new((from as f64, to as f64), (LABEL, W - 6.0));
    let height = AXIS + ROW * rows.len() as f64 + 4.0;
    let y = |i: usize| AXIS + ROW * i as f64;
    html! {
        svg.timeline viewBox={"0 0 " (W) " " (height)} role="img" aria-label="timeline" xmlns="http://www.w3.org/2000/svg" {
            @for t in time_ticks(from, to) {
                line.grid x1=(sx.at(t as f64)) x2=(sx.at(t as f64)) y1=(AXIS - 4.0) y2=(height) {}
                text.xlabel x=(sx.at(t as f64)) y=(AXIS - 8.0) { (clock(t)) }
            }
            @for d in &r.downtime {
                @if let (Some(a), Some(b)) = (d.from_ms, d.to_ms) {
                    rect.band.downtime x=(sx.at(a as f64)) y=(AXIS) width=(width(&sx, a, b)) height=(height - AXIS) {
                        title { "downtime window of " (shown(&d.step)) }
                    }
                }
            }
            @for o in outages(r) {
                rect.band.outage data-step=(o.step) data-from-ms=(o.from_ms) data-to-ms=(o.to_ms)
                    x=(sx.at(o.from_ms as f64)) y=(AXIS) width=(width(&sx, o.from_ms, o.to_ms)) height=(height - AXIS) {
                    title { (shown(o.what)) " by " (shown(o.step)) ": " (format!("{:.3}", (o.to_ms - o.from_ms) as f64 / 1000.0)) " s from " (clock(o.from_ms)) }
                }
            }
            @for rb in &r.rollbacks {
                rect.band.rollback x=(sx.at(rb.from_ms as f64)) y=(AXIS) width=(width(&sx, rb.from_ms, rb.to_ms.unwrap_or(to))) height=(height - AXIS) {
                    title { "rollback: " (shown(&rb.cause)) }
                }
            }
            @for (i, row) in rows.iter().enumerate() {
                @match row {
                    Row::Stage(name) => {
                        text.stage x="2" y=(y(i) + ROW - 3.0) { "stage " (label(name)) }
                        @if let Some((a, b)) = stage_range(r, name, to) {
                            rect.stagebar x=(sx.at(a as f64)) y=(y(i) + 3.0) width=(width(&sx, a, b)) height=(ROW - 6.0) {}
                        }
                    }
                    Row::Step(s) => {
                        text.step x="10" y=(y(i) + ROW - 3.0) { (label(&s.id)) title { (shown(&s.id)) } }
                        @for sp in r.spans.iter().filter(|sp| sp.step == s.id) {
                            rect class=(span_class(sp)) x=(sx.at(sp.from_ms as f64)) y=(y(i) + 2.0)
                                width=(width(&sx, sp.from_ms, sp.to_ms.unwrap_or(to))) height=(ROW - 4.0) {
                                title { (span_title(sp)) }
                            }
                        }
                        @for a in r.approvals.iter().filter(|a| a.gate == s.id) {
                            circle.approval cx=(sx.at(a.at_ms as f64)) cy=(y(i) + ROW / 2.0) r="4" {
                                title { "approved by " (shown(&a.by)) " at " (a.at) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A stretch users could notice, as the step journaled it.
struct Outage<'a> {
    step: &'a str,
    what: &'a str,
    from_ms: i64,
    to_ms: i64,
}

/// The run's journaled outages (database freezes, held requests), in order.
fn outages(r: &Report) -> impl Iterator<Item = Outage<'_>> {
    r.timeline.iter().filter_map(|t| match &t.event {
        cutover_journal::Event::Outage {
            step,
            what,
            from_ms,
            to_ms,
        } => Some(Outage {
            step,
            what,
            from_ms: *from_ms,
            to_ms: *to_ms,
        }),
        _ => None,
    })
}

fn stage_of<'a>(row: &Row<'a>) -> Option<&'a str> {
    match row {
        Row::Stage(s) => Some(s),
        Row::Step(s) => Some(&s.stage),
    }
}

/// A label short enough for the label column; the full text is in its title.
fn label(s: &str) -> String {
    let s = shown(s);
    if s.chars().count() > 30 {
        format!("{}…", s.chars().take(29).collect::<String>())
    } else {
        s
    }
}

fn width(sx: &Scale, a: i64, b: i64) -> f64 {
    (sx.at(b as f64) - sx.at(a as f64)).max(1.5)
}

fn stage_range(r: &Report, stage: &str, now: i64) -> Option<(i64, i64)> {
    let ids: Vec<&str> = r
        .steps
        .iter()
        .filter(|s| s.stage == stage)
        .map(|s| s.id.as_str())
        .collect();
    let spans = r.spans.iter().filter(|sp| ids.contains(&sp.step.as_str()));
    let (mut a, mut b) = (i64::MAX, i64::MIN);
    for sp in spans {
        a = a.min(sp.from_ms);
        b = b.max(sp.to_ms.unwrap_or(now));
    }
    (a <= b).then_some((a, b))
}

fn span_class(sp: &StepSpan) -> String {
    let kind = match sp.kind {
        SpanKind::Run => "run",
        SpanKind::Wait => "wait",
    };
    let end = if sp.end.is_empty() {
        "open"
    } else {
        sp.end.as_str()
    };
    let retry = if sp.attempt > 1 { " retry" } else { "" };
    format!("span {kind} end-{end}{retry}")
}

fn span_title(sp: &StepSpan) -> String {
    let what = match sp.kind {
        SpanKind::Run => format!("try {}", sp.attempt),
        SpanKind::Wait => "waiting".to_string(),
    };
    let end = match sp.to_ms {
        Some(t) => format!("{} to {}: {}", clock(sp.from_ms), clock(t), sp.end),
        None => format!("from {}, still going", clock(sp.from_ms)),
    };
    format!("{}: {what}, {end}", shown(&sp.step))
}
