//! What every store's proof reports, whatever the store: a verdict, one line, the whole text,
//! the differences that fail it and the figures it journals. The engine's one verify runner
//! and the CLI's `cutover verify STORE` conclude every store's proof through this, so a proof
//! fails, prints, journals and exits the same way for PostgreSQL, Redis and MariaDB.

use serde::Serialize;

/// A figure a proof journals beside its time and its count of differences.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figure {
    /// The measure's name in the journal ("rows", "keys").
    pub name: &'static str,
    /// Its value.
    pub value: f64,
    /// Its unit.
    pub unit: &'static str,
}

impl Figure {
    /// A figure named `name` of `value` in `unit`.
    pub fn new(name: &'static str, value: f64, unit: &'static str) -> Self {
        Figure { name, value, unit }
    }
}

/// A store's finished proof.
pub trait DataProof: Serialize + Send + Sync {
    /// True when nothing that fails the proof was found.
    fn matches(&self) -> bool;

    /// One line: what was compared and the verdict.
    fn summary(&self) -> String;

    /// The whole proof for people: both sides' figures and every difference listed.
    fn render(&self) -> String;

    /// Wall-clock seconds the proof took.
    fn seconds(&self) -> f64;

    /// The first `limit` differences that fail the proof, one line each, and how many
    /// there are in all (a store may count more than it lists).
    fn failures(&self, limit: usize) -> (Vec<String>, u64);

    /// Differences found that do not fail the proof (said, not fatal).
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }

    /// The store's own figures (tables and rows, keys), journaled as measures.
    fn figures(&self) -> Vec<Figure>;
}

/// The failure text of a proof that does not match: how many differences, the first
/// `limit` of them, and where the rest are.
pub fn failure_text<P: DataProof>(proof: &P, limit: usize) -> String {
    let (shown, total) = proof.failures(limit);
    let listed: Vec<String> = shown.iter().map(|d| format!("  ✗ {d}")).collect();
    let more = total.saturating_sub(shown.len() as u64);
    format!(
        "the target differs from the source in {total} place(s):\n{}{}",
        listed.join("\n"),
        if more > 0 {
            format!("\n  … and {more} more (see `cutover report`)")
        } else {
            String::new()
        }
    )
}

impl DataProof for crate::postgres::VerifyReport {
    fn matches(&self) -> bool {
        self.matches()
    }
    fn summary(&self) -> String {
        self.summary()
    }
    fn render(&self) -> String {
        self.render()
    }
    fn seconds(&self) -> f64 {
        self.seconds
    }
    fn failures(&self, limit: usize) -> (Vec<String>, u64) {
        let shown = self.failures().take(limit).map(|d| d.to_string()).collect();
        (shown, self.failures().count() as u64)
    }
    fn notes(&self) -> Vec<String> {
        self.differences
            .iter()
            .filter(|d| !d.fatal)
            .map(|d| d.to_string())
            .collect()
    }
    fn figures(&self) -> Vec<Figure> {
        vec![
            Figure::new("tables", self.tables.len() as f64, "tables"),
            Figure::new("rows", self.rows as f64, "rows"),
        ]
    }
}

impl DataProof for crate::redis::VerifyReport {
    fn matches(&self) -> bool {
        self.matches()
    }
    fn summary(&self) -> String {
        if self.matches() {
            return self.summary();
        }
        let kinds: Vec<String> = self
            .by_kind
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect();
        format!(
            "{} difference(s) ({}) among {} keys in {} database(s); {:.2}s",
            self.total_differences,
            kinds.join(", "),
            self.source.keys(),
            self.source.dbs.len(),
            self.seconds
        )
    }
    fn render(&self) -> String {
        self.render()
    }
    fn seconds(&self) -> f64 {
        self.seconds
    }
    fn failures(&self, limit: usize) -> (Vec<String>, u64) {
        let shown = self
            .differences
            .iter()
            .take(limit)
            .map(|d| d.to_string())
            .collect();
        (shown, self.total_differences)
    }
    fn figures(&self) -> Vec<Figure> {
        vec![
            Figure::new("keys", self.source.keys() as f64, "keys"),
            Figure::new("keys_compared", self.keys_compared as f64, "keys"),
        ]
    }
}

impl DataProof for crate::mysql::verify::report::VerifyReport {
    fn matches(&self) -> bool {
        self.matches()
    }
    /// The verdict the text ends with ("MATCH: 3 table(s), ... rows hashed ...").
    fn summary(&self) -> String {
        self.render().lines().last().unwrap_or_default().to_string()
    }
    fn render(&self) -> String {
        self.render()
    }
    fn seconds(&self) -> f64 {
        self.seconds
    }
    fn failures(&self, limit: usize) -> (Vec<String>, u64) {
        let shown = self
            .differences
            .iter()
            .take(limit)
            .map(|d| d.to_string())
            .collect();
        (shown, self.differences.len() as u64)
    }
    fn figures(&self) -> Vec<Figure> {
        vec![
            Figure::new("tables", self.tables.len() as f64, "tables"),
            Figure::new("rows", self.rows as f64, "rows"),
        ]
    }
}

/// A server a proof compares, as the journal names it.
pub trait Place {
    /// The host cutover reaches it from.
    fn host(&self) -> &str;
    /// `user@address:port (from host ...)`, no secret.
    fn describe(&self) -> String;
}

macro_rules! place {
    ($($endpoint:ty),*) => {$(
        impl Place for $endpoint {
            fn host(&self) -> &str {
                &self.host
            }
            fn describe(&self) -> String {
                self.describe()
            }
        }
    )*};
}

place!(
    crate::postgres::Endpoint,
    crate::redis::Endpoint,
    crate::mysql::Endpoint
);

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Lines(Vec<&'static str>, u64);

    impl DataProof for Lines {
        fn matches(&self) -> bool {
            self.1 == 0
        }
        fn summary(&self) -> String {
            String::new()
        }
        fn render(&self) -> String {
            String::new()
        }
        fn seconds(&self) -> f64 {
            0.0
        }
        fn failures(&self, limit: usize) -> (Vec<String>, u64) {
            let shown = self.0.iter().take(limit).map(|s| s.to_string()).collect();
            (shown, self.1)
        }
        fn figures(&self) -> Vec<Figure> {
            Vec::new()
        }
    }

    #[test]
    fn the_failure_text_lists_the_first_differences_and_counts_the_rest() {
        let text = failure_text(&Lines(vec!["a", "b", "c"], 7), 2);
        assert_eq!(
            text,
            "the target differs from the source in 7 place(s):\n  ✗ a\n  ✗ b\n  … and 5 more (see `cutover report`)"
        );
        let text = failure_text(&Lines(vec!["a"], 1), 20);
        assert_eq!(
            text,
            "the target differs from the source in 1 place(s):\n  ✗ a"
        );
    }
}
