//! The proof a verification produces: counts and checksums of both sides side by side, and
//! every difference named by schema, object and kind. Serialisable for `--json` and the
//! journal; rendered as text tables for people.

use super::definition_text::{excerpts, side_by_side, EXCERPT};
use serde::Serialize;
use std::fmt::Write;

/// One server as verified.
#[derive(Debug, Clone, Serialize)]
pub struct Side {
    /// `user@address:port/db (from host ...)`.
    pub endpoint: String,
    /// Server version (`16.15`).
    pub version: String,
}

/// Rows and checksum of a table on one side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Row count.
    pub rows: u64,
    /// Sum of the row hashes (exact).
    #[serde(serialize_with = "as_string")]
    pub sum: i128,
}

fn as_string<S: serde::Serializer>(v: &i128, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&v.to_string())
}

impl Tally {
    /// A short fingerprint of the checksum for display (16 hex digits).
    pub fn fingerprint(&self) -> String {
        let v = self.sum as u128;
        format!("{:016x}", (v as u64) ^ ((v >> 64) as u64).rotate_left(17))
    }
}

/// One table's comparison.
#[derive(Debug, Clone, Serialize)]
pub struct TableCheck {
    /// Schema.
    pub schema: String,
    /// Table (or materialized view, or `(large objects)`).
    pub name: String,
    /// On the source.
    pub source: Option<Tally>,
    /// On the target.
    pub target: Option<Tally>,
    /// `ok`, `differs`, `missing`, `extra`, `skipped`.
    pub status: String,
}

/// One sequence's comparison.
#[derive(Debug, Clone, Serialize)]
pub struct SequenceCheck {
    /// Schema.
    pub schema: String,
    /// Sequence.
    pub name: String,
    /// Next value on the source.
    pub source_next: Option<i64>,
    /// Next value on the target.
    pub target_next: Option<i64>,
    /// `ok`, `behind`, `missing`, `extra`.
    pub status: String,
}

/// How many objects of a kind each side has.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectCount {
    /// Kind ("index", "trigger"...).
    pub kind: String,
    /// On the source.
    pub source: usize,
    /// On the target.
    pub target: usize,
}

/// A difference between the two sides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// Schema of the object ("" for database-wide objects).
    pub schema: String,
    /// The object's name (`table`, `table.trigger`, `index`...).
    pub object: String,
    /// Its kind ("table", "index", "sequence", "enum"...).
    pub object_kind: String,
    /// What differs: "row count", "content", "missing on target", "only on target",
    /// "definition", "enum labels", "sequence behind", "not populated".
    pub kind: String,
    /// The values seen on each side.
    pub detail: String,
    /// False for differences reported but not failing the proof (extension versions).
    pub fatal: bool,
    /// For a definition that differs: both sides' normalized text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub definitions: Option<Definitions>,
}

/// The two normalized definitions of a facet that differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Definitions {
    /// On the source ("" when it has none).
    pub source: String,
    /// On the target.
    pub target: String,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = if self.schema.is_empty() {
            self.object.clone()
        } else {
            format!("{}.{}", self.schema, self.object)
        };
        write!(f, "{} {name}: {}", self.object_kind, self.kind)?;
        if let Some(d) = &self.definitions {
            let (a, b) = excerpts(&d.source, &d.target, EXCERPT);
            write!(f, " (source: {a}; target: {b})")?;
        } else if !self.detail.is_empty() {
            write!(f, " ({})", self.detail)?;
        }
        Ok(())
    }
}

/// The whole proof.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// The source.
    pub source: Side,
    /// The target.
    pub target: Side,
    /// Per table, sorted by schema and name.
    pub tables: Vec<TableCheck>,
    /// Per sequence.
    pub sequences: Vec<SequenceCheck>,
    /// Object counts per kind.
    pub objects: Vec<ObjectCount>,
    /// Every difference found.
    pub differences: Vec<Difference>,
    /// Rows compared on the source.
    pub rows: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
}

impl VerifyReport {
    /// True when no failing difference was found.
    pub fn matches(&self) -> bool {
        !self.differences.iter().any(|d| d.fatal)
    }

    /// The failing differences.
    pub fn failures(&self) -> impl Iterator<Item = &Difference> {
        self.differences.iter().filter(|d| d.fatal)
    }

    /// One line: "42 tables, 1,234,567 rows, 3 sequences, 120 objects match" or the count
    /// of differences.
    pub fn summary(&self) -> String {
        let objects: usize = self.objects.iter().map(|o| o.source).sum();
        let what = format!(
            "{} tables, {} rows, {} sequences, {objects} schema objects",
            self.tables.len(),
            self.rows,
            self.sequences.len()
        );
        match self.failures().count() {
            0 => format!("{what}: source and target match"),
            n => format!(
                "{what}: {n} difference(s), first: {}",
                self.failures()
                    .next()
                    .map(|d| d.to_string())
                    .unwrap_or_default()
            ),
        }
    }

    /// The report as text: differences first, then the tables of counts and checksums.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "source: {} (PostgreSQL {})",
            self.source.endpoint, self.source.version
        );
        let _ = writeln!(
            out,
            "target: {} (PostgreSQL {})",
            self.target.endpoint, self.target.version
        );
        if self.differences.is_empty() {
            let _ = writeln!(out, "\nno differences");
        } else {
            let _ = writeln!(out, "\ndifferences:");
            for d in &self.differences {
                let mark = if d.fatal { "✗" } else { "!" };
                let _ = writeln!(out, "  {mark} {d}");
            }
            let long = self.differences.iter().filter_map(|d| {
                let defs = d.definitions.as_ref()?;
                let len = defs.source.chars().count().max(defs.target.chars().count());
                (len > EXCERPT).then_some((d, defs))
            });
            for (i, (d, defs)) in long.enumerate() {
                if i == 0 {
                    let _ = writeln!(out, "\ndefinitions that differ, normalized:");
                }
                let name = if d.schema.is_empty() {
                    d.object.clone()
                } else {
                    format!("{}.{}", d.schema, d.object)
                };
                let _ = writeln!(out, "  {} {name}: {}", d.object_kind, d.kind);
                out.push_str(&side_by_side(&defs.source, &defs.target, 56));
            }
        }
        let rows: Vec<[String; 6]> = self
            .tables
            .iter()
            .map(|t| {
                let cell = |x: &Option<Tally>| match x {
                    Some(t) => (t.rows.to_string(), t.fingerprint()),
                    None => ("-".into(), "-".into()),
                };
                let (sr, sc) = cell(&t.source);
                let (tr, tc) = cell(&t.target);
                let name = if t.schema.is_empty() {
                    t.name.clone()
                } else {
                    format!("{}.{}", t.schema, t.name)
                };
                [name, sr, tr, sc, tc, t.status.clone()]
            })
            .collect();
        out.push('\n');
        out.push_str(&table(
            &[
                "table",
                "rows (source)",
                "rows (target)",
                "checksum (source)",
                "checksum (target)",
                "status",
            ],
            &rows,
        ));
        if !self.sequences.is_empty() {
            let rows: Vec<[String; 4]> = self
                .sequences
                .iter()
                .map(|s| {
                    let v = |x: Option<i64>| x.map_or("-".into(), |v| v.to_string());
                    [
                        format!("{}.{}", s.schema, s.name),
                        v(s.source_next),
                        v(s.target_next),
                        s.status.clone(),
                    ]
                })
                .collect();
            out.push('\n');
            out.push_str(&table(
                &["sequence", "next (source)", "next (target)", "status"],
                &rows,
            ));
        }
        let rows: Vec<[String; 3]> = self
            .objects
            .iter()
            .map(|o| [o.kind.clone(), o.source.to_string(), o.target.to_string()])
            .collect();
        out.push('\n');
        out.push_str(&table(&["objects", "source", "target"], &rows));
        let _ = writeln!(out, "\n{} ({:.1}s)", self.summary(), self.seconds);
        out
    }
}

/// A plain text table with aligned columns.
fn table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let mut s: String = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ");
        s.truncate(s.trim_end().len());
        s.push('\n');
        s
    };
    let mut out = line(header.to_vec());
    out.push_str(&line(
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect(),
    ));
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}
