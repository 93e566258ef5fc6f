//! A line chart over time with trigger limits drawn as dashed lines.

use super::{clock, figure, nice_max, time_ticks, Scale};
use maud::{html, Markup};

/// One line of a chart.
pub struct Line {
    /// Its name in the legend ("p95").
    pub label: String,
    /// Its CSS class (colour): `l0`..`l5`.
    pub class: &'static str,
    /// (unix ms, value) in time order.
    pub points: Vec<(i64, f64)>,
}

/// A limit drawn across a chart (a trigger's threshold).
pub struct Limit {
    /// What it is ("trigger: users p95 latency over 5m above 500ms").
    pub label: String,
    /// Where.
    pub value: f64,
}

const W: f64 = 720.0;
const H: f64 = 180.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 8.0;
const BOTTOM: f64 = 22.0;

/// A chart of `lines` over `x` (unix ms) with `limits`; the value axis starts at zero and
/// reaches above the highest line and limit.
pub fn line_chart(
    title: &str,
    unit: &str,
    x: (i64, i64),
    lines: &[Line],
    limits: &[Limit],
) -> Markup {
    let top = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .chain(limits.iter().map(|l| l.value * 1.1))
        .fold(0.0, f64::max);
    let ymax = nice_max(top);
    let sx = Scale::new((x.0 as f64, x.1 as f64), (LEFT, W - RIGHT));
    let sy = Scale::new((0.0, ymax), (H - BOTTOM, TOP));
    let yticks: Vec<f64> = (0..=4).map(|i| ymax * f64::from(i) / 4.0).collect();
    html! {
        figure.chart {
            figcaption { (title) }
            svg.chart viewBox={"0 0 " (W) " " (H)} role="img" aria-label=(title) xmlns="http://www.w3.org/2000/svg" {
                @for y in &yticks {
                    line.grid x1=(LEFT) x2=(W - RIGHT) y1=(sy.at(*y)) y2=(sy.at(*y)) {}
                    text.ylabel x=(LEFT - 4.0) y=(sy.at(*y) + 3.0) { (figure(*y)) " " (unit) }
                }
                @for t in time_ticks(x.0, x.1) {
                    line.tick x1=(sx.at(t as f64)) x2=(sx.at(t as f64)) y1=(H - BOTTOM) y2=(H - BOTTOM + 4.0) {}
                    text.xlabel x=(sx.at(t as f64)) y=(H - 6.0) { (clock(t)) }
                }
                @for l in limits {
                    line.limit x1=(LEFT) x2=(W - RIGHT) y1=(sy.at(l.value)) y2=(sy.at(l.value)) {
                        title { (l.label) }
                    }
                }
                @for l in lines {
                    polyline class={"line " (l.class)} points=(points(&l.points, sx, sy)) {
                        title { (l.label) }
                    }
                }
            }
            ul.legend {
                @for l in lines {
                    li { span class={"swatch " (l.class)} {} (l.label) }
                }
                @for l in limits {
                    li { span.swatch.limit {} (l.label) " (" (figure(l.value)) " " (unit) ")" }
                }
            }
        }
    }
}

fn points(points: &[(i64, f64)], sx: Scale, sy: Scale) -> String {
    let mut out = String::with_capacity(points.len() * 12);
    for (t, v) in points {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&format!("{},{}", sx.at(*t as f64), sy.at(*v)));
    }
    out
}
