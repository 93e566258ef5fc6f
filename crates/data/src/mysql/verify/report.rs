//! The proof a verification produces: per table, both sides' row counts and digests side by
//! side, and every difference named by database, object and kind. Serialisable for `--json`
//! and the journal; rendered as text for people.

use serde::Serialize;
use std::fmt::Write;

/// One server as verified.
#[derive(Debug, Clone, Serialize)]
pub struct Side {
    /// `user@address:port (agent on host ...)`.
    pub endpoint: String,
    /// `MariaDB 10.11.19-...`.
    pub version: String,
}

/// Rows and digest of a table on one side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Row count.
    pub rows: u64,
    /// Wrapping sum of the row hashes, hex.
    #[serde(serialize_with = "hex")]
    pub sum: u128,
}

fn hex<S: serde::Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{v:032x}"))
}

impl Tally {
    /// A short fingerprint of the digest for display (16 hex digits).
    pub fn fingerprint(&self) -> String {
        format!(
            "{:016x}",
            (self.sum as u64) ^ ((self.sum >> 64) as u64).rotate_left(17)
        )
    }
}

/// One table's comparison.
#[derive(Debug, Clone, Serialize)]
pub struct TableCheck {
    /// Database.
    pub db: String,
    /// Table.
    pub name: String,
    /// On the source.
    pub source: Option<Tally>,
    /// On the target.
    pub target: Option<Tally>,
    /// Chunks compared.
    pub chunks: usize,
    /// `ok`, `differs`, `missing`, `extra`, `not compared`.
    pub status: String,
}

/// A difference between the two sides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// The database.
    pub db: String,
    /// The object (`orders`, `orders_bi`...; empty for the database itself).
    pub object: String,
    /// Its kind (`database`, `table`, `view`, `procedure`, `function`, `trigger`, `event`).
    pub object_kind: String,
    /// What differs: `row count`, `content`, `row differs`, `row missing on target`,
    /// `row only on target`, `missing on target`, `only on target`, `definition`,
    /// `auto-increment behind`.
    pub kind: String,
    /// The values seen on each side.
    pub detail: String,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = if self.object.is_empty() {
            self.db.clone()
        } else {
            format!("{}.{}", self.db, self.object)
        };
        write!(f, "{} {name}: {}", self.object_kind, self.kind)?;
        if !self.detail.is_empty() {
            write!(f, " ({})", self.detail)?;
        }
        Ok(())
    }
}

/// How many objects of a kind each side has.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectCount {
    /// Kind.
    pub kind: String,
    /// On the source.
    pub source: usize,
    /// On the target.
    pub target: usize,
}

/// The whole proof.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// The source.
    pub source: Side,
    /// The target.
    pub target: Side,
    /// The databases compared.
    pub databases: Vec<String>,
    /// Per table, by database and name.
    pub tables: Vec<TableCheck>,
    /// Objects per kind.
    pub objects: Vec<ObjectCount>,
    /// Every difference found.
    pub differences: Vec<Difference>,
    /// Rows hashed on the source.
    pub rows: u64,
    /// Seconds in all.
    pub seconds: f64,
}

impl VerifyReport {
    /// True when both sides hold the same.
    pub fn matches(&self) -> bool {
        self.differences.is_empty()
    }

    /// The report as text: a table of tables, object counts, the differences, a verdict.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "source: {} ({})",
            self.source.endpoint, self.source.version
        );
        let _ = writeln!(
            out,
            "target: {} ({})",
            self.target.endpoint, self.target.version
        );
        let width = self
            .tables
            .iter()
            .map(|t| t.db.len() + t.name.len() + 1)
            .max()
            .unwrap_or(5)
            .max(5);
        let _ = writeln!(
            out,
            "{:<width$}  {:>12}  {:>12}  {:<16}  {:<16}  status",
            "table", "source rows", "target rows", "source digest", "target digest"
        );
        let show = |t: &Option<Tally>| match t {
            Some(t) => (t.rows.to_string(), t.fingerprint()),
            None => ("-".into(), "-".into()),
        };
        for t in &self.tables {
            let (sr, sd) = show(&t.source);
            let (tr, td) = show(&t.target);
            let _ = writeln!(
                out,
                "{:<width$}  {sr:>12}  {tr:>12}  {sd:<16}  {td:<16}  {}",
                format!("{}.{}", t.db, t.name),
                t.status
            );
        }
        let counts: Vec<String> = self
            .objects
            .iter()
            .map(|c| {
                if c.source == c.target {
                    format!("{} {}", c.source, c.kind)
                } else {
                    format!("{} {} (target {})", c.source, c.kind, c.target)
                }
            })
            .collect();
        let _ = writeln!(out, "objects: {}", counts.join(", "));
        for d in &self.differences {
            let _ = writeln!(out, "  ✗ {d}");
        }
        let _ = write!(
            out,
            "{}: {} table(s), {} row(s) hashed on each side in {:.2}s",
            if self.matches() {
                "MATCH".to_string()
            } else {
                format!("DIFFERENT ({} difference(s))", self.differences.len())
            },
            self.tables.len(),
            self.rows,
            self.seconds
        );
        out
    }
}
