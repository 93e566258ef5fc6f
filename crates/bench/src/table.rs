//! The result table: our figure next to the baseline's, measured in the same run.

/// One comparison.
pub struct Row {
    /// What was measured ("verify 20k files + 1 GiB").
    pub what: String,
    /// The baseline tool and its figure.
    pub baseline: String,
    /// Baseline figure (seconds, or the unit in `unit`).
    pub baseline_value: f64,
    /// cutover's figure.
    pub ours: f64,
    /// Unit of both figures ("s", "MB").
    pub unit: String,
    /// The target ratio (baseline / ours) the issue asks for, if any.
    pub target: Option<f64>,
}

/// Prints the rows as a Markdown table with ratio = baseline / ours (higher is better for
/// times).
pub fn print(rows: &[Row]) {
    println!("| measure | baseline | baseline | cutover | ratio | target |");
    println!("|---|---|---|---|---|---|");
    for r in rows {
        let ratio = r.baseline_value / r.ours.max(1e-9);
        let target = match r.target {
            Some(t) if ratio >= t => format!(">= {t}x: met"),
            Some(t) => format!(">= {t}x: NOT met"),
            None => String::new(),
        };
        println!(
            "| {} | {} | {:.3} {u} | {:.3} {u} | {ratio:.2}x | {target} |",
            cell(&r.what),
            cell(&r.baseline),
            r.baseline_value,
            r.ours,
            u = r.unit
        );
    }
}

/// The median of a few measurements (the mean of the middle two for an even count; NaN
/// for none).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// A cell's text with its pipes escaped, so that `a | b` in a baseline's name does not
/// split the Markdown row.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    #[test]
    fn median_of_odd_even_and_no_values() {
        assert_eq!(super::median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(super::median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(super::median(Vec::new()).is_nan());
    }

    #[test]
    fn pipes_in_a_cell_are_escaped() {
        assert_eq!(super::cell("pg_dump | sha256sum"), "pg_dump \\| sha256sum");
    }
}
