//! SVG drawn on the server: scales, axes and charts as markup, so the report needs no script
//! to be read and prints as it shows.

mod chart;
pub use chart::{line_chart, Limit, Line};

/// A linear map from a data range onto a pixel range.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    from: (f64, f64),
    to: (f64, f64),
}

impl Scale {
    /// Maps `from` onto `to`; an empty data range maps onto the start.
    pub fn new(from: (f64, f64), to: (f64, f64)) -> Self {
        Scale { from, to }
    }

    /// Where `v` lands, clamped to the pixel range.
    pub fn at(&self, v: f64) -> f64 {
        let span = self.from.1 - self.from.0;
        let t = if span > 0.0 && v.is_finite() {
            ((v - self.from.0) / span).clamp(0.0, 1.0)
        } else {
            0.0
        };
        round(self.to.0 + t * (self.to.1 - self.to.0))
    }
}

/// One decimal is plenty for pixels and keeps the file small.
pub fn round(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// Tick times (unix ms) over `from..=to`: a round step giving at most about eight ticks.
pub fn time_ticks(from: i64, to: i64) -> Vec<i64> {
    const STEPS_S: &[i64] = &[
        1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
    ];
    let span = (to - from).max(1);
    let step = STEPS_S
        .iter()
        .map(|s| s * 1000)
        .find(|s| span / s <= 8)
        .unwrap_or(span / 8 + 1);
    let first = (from + step - 1).div_euclid(step) * step;
    (0..)
        .map(|i| first + i * step)
        .take_while(|t| *t <= to)
        .collect()
}

/// A tick's label: the UTC time of day (`10:52:30`).
pub fn clock(ms: i64) -> String {
    let s = cutover_journal::format_ms(ms);
    s.get(11..19).unwrap_or(&s).to_string()
}

/// A round upper bound for values up to `max` (1, 2 or 5 times a power of ten).
pub fn nice_max(max: f64) -> f64 {
    if !(max.is_finite() && max > 0.0) {
        return 1.0;
    }
    let p = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|v| *v >= max)
        .unwrap_or(10.0 * p)
}

/// A value for an axis label or a caption, in the report's figure style.
pub fn figure(v: f64) -> String {
    cutover_engine::report::figure(v)
}
