//! Charts of what steps sampled: replication lag during syncs, and per soak check its
//! latency percentiles and probes, with the soak's trigger limits drawn.

use crate::shown;
use crate::svg::{line_chart, Limit, Line};
use cutover_engine::report::{Series, Threshold};
use cutover_engine::Report;
use maud::{html, Markup};

const PERCENTILES: &[(&str, &str, &str)] = &[
    ("p50_ms", "p50", "l0"),
    ("p90_ms", "p90", "l1"),
    ("p95_ms", "p95", "l2"),
    ("p99_ms", "p99", "l3"),
];

/// Every series' charts, grouped by step.
pub fn charts(r: &Report) -> Markup {
    charts_of(&r.series.iter().collect::<Vec<_>>(), &r.thresholds)
}

/// The charts of `series`, with the limits of `thresholds` that apply to each.
pub fn charts_of(series: &[&Series], thresholds: &[Threshold]) -> Markup {
    html! {
        @for s in series {
            section.series data-step=(s.step) data-subject=(s.subject) {
                h3 { (shown(&s.step)) ": " (shown(&s.subject)) }
                @if s.subject == "lag" {
                    (lag(s))
                } @else {
                    (soak(s, thresholds))
                }
            }
        }
    }
}

fn range(s: &Series) -> (i64, i64) {
    let a = s.points.first().map_or(0, |p| p.at_ms);
    let b = s.points.last().map_or(0, |p| p.at_ms);
    (a, b.max(a + 1000))
}

fn line(s: &Series, figure: &str, label: &str, class: &'static str, scale: f64) -> Line {
    Line {
        label: label.into(),
        class,
        points: s
            .points
            .iter()
            .filter_map(|p| p.figures.get(figure).map(|v| (p.at_ms, v * scale)))
            .collect(),
    }
}

fn lag(s: &Series) -> Markup {
    html! {
        (line_chart("replication lag (bytes)", "B", range(s), &[line(s, "bytes", "bytes behind", "l0", 1.0)], &[]))
        (line_chart("replication lag (seconds)", "s", range(s), &[line(s, "seconds", "seconds behind", "l1", 1.0)], &[]))
    }
}

/// The limits of `figure` that apply to check `subject` of soak `step`.
fn limits(ts: &[Threshold], s: &Series, figure: &str, scale: f64) -> Vec<Limit> {
    ts.iter()
        .filter(|t| t.step == s.step && t.figure == figure)
        .filter(|t| t.check.as_deref().is_none_or(|c| c == s.subject))
        .map(|t| Limit {
            label: format!("trigger: {}", shown(&t.description)),
            value: t.value * scale,
        })
        .collect()
}

fn soak(s: &Series, ts: &[Threshold]) -> Markup {
    let latency: Vec<Line> = PERCENTILES
        .iter()
        .map(|(f, label, class)| line(s, f, label, class, 1.0))
        .filter(|l| !l.points.is_empty())
        .collect();
    let latency_limits: Vec<Limit> = PERCENTILES
        .iter()
        .flat_map(|(f, ..)| limits(ts, s, f, 1.0))
        .collect();
    let probes = [
        per_interval(s, "probes", "probes sent", "l0"),
        per_interval(s, "failed", "probes failed", "l4"),
    ];
    let errors = [line(
        s,
        "error_rate",
        "error rate (last minute)",
        "l4",
        100.0,
    )];
    html! {
        (line_chart("latency percentiles over the last minute", "ms", range(s), &latency, &latency_limits))
        (line_chart("probes per sample", "", range(s), &probes, &[]))
        (line_chart("error rate over the last minute", "%", range(s), &errors, &limits(ts, s, "error_rate", 100.0)))
    }
}

/// A cumulative count as the increase since the previous point.
fn per_interval(s: &Series, figure: &str, label: &str, class: &'static str) -> Line {
    let mut prev: Option<f64> = None;
    let mut points = Vec::new();
    for p in &s.points {
        if let Some(v) = p.figures.get(figure) {
            points.push((p.at_ms, (v - prev.unwrap_or(0.0)).max(0.0)));
            prev = Some(*v);
        }
    }
    Line {
        label: label.into(),
        class,
        points,
    }
}
