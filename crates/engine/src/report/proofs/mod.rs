//! Proofs as tables people compare: each verifier's journaled data (its JSON, untrusted like
//! the rest of the journal) read into one shape, both sides' figures side by side and every
//! difference by name, whatever the store. One reader per proof step kind, listed once in
//! `reader`; a proof of a kind without a reader shows its text alone.

mod database;
mod files;
mod mysql;
mod postgres;
mod redis;

use cutover_plan::steps::Kind;
use serde::Serialize;
use serde_json::Value;

/// One figure of both sides.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SideBySide {
    /// What ("rows public.orders", "files", "digest").
    pub name: String,
    /// On the source ("" when it has none).
    pub source: String,
    /// On the target.
    pub target: String,
    /// True when both sides agree.
    pub same: bool,
}

/// A difference, by the object's name.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProofDifference {
    /// The object ("public.orders", "media/a.jpg").
    pub name: String,
    /// What differs ("content", "missing on target").
    pub kind: String,
    /// The values seen, when known.
    pub detail: String,
}

/// A proof's data in the shape every store shares.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ProofView {
    /// Figures side by side.
    pub sides: Vec<SideBySide>,
    /// Differences found (the first ones the verifier kept).
    pub differences: Vec<ProofDifference>,
    /// How many differences there are in all.
    pub differences_total: u64,
}

/// The reader of a proof step kind's data.
fn reader(kind: Kind) -> Option<fn(&Value) -> ProofView> {
    match kind {
        Kind::FilesVerify => Some(files::view),
        Kind::PostgresVerify => Some(postgres::view),
        Kind::RedisVerify => Some(redis::view),
        Kind::MysqlVerify => Some(mysql::view),
        _ => None,
    }
}

/// The view of `data` (JSON) journaled by a step of `kind`; `None` when the kind has no
/// reader or the data is not JSON.
pub fn view(kind: Option<Kind>, data: &str) -> Option<ProofView> {
    let read = reader(kind?)?;
    let value: Value = serde_json::from_str(data).ok()?;
    Some(read(&value))
}

/// A JSON value as text for a table cell: strings as they are, numbers as written, nothing
/// for null or absent.
fn text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

fn row(name: impl Into<String>, source: String, target: String) -> SideBySide {
    SideBySide {
        name: name.into(),
        same: source == target,
        source,
        target,
    }
}

/// Each row's cells: name, source, target, and whether they agree.
#[cfg(test)]
fn cells(v: &ProofView) -> Vec<(&str, &str, &str, bool)> {
    v.sides
        .iter()
        .map(|s| {
            (
                s.name.as_str(),
                s.source.as_str(),
                s.target.as_str(),
                s.same,
            )
        })
        .collect()
}
