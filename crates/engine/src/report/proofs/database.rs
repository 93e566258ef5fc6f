//! What the proofs of the SQL databases share (`postgres.verify`, `mysql.verify`): the
//! servers' versions, rows and a digest per table, objects counted per kind, and the
//! differences by object, each store naming its tables and objects its own way. Also the
//! version row and the lists every store's proof reads.

use super::{row, text, ProofDifference, ProofView, SideBySide};
use serde_json::Value;

/// The array `key` of `v`; empty when absent or not an array (the journal is untrusted).
pub(super) fn list(v: &Value, key: &str) -> Vec<Value> {
    v.get(key)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// Both servers' versions.
pub(super) fn versions(v: &Value) -> SideBySide {
    row(
        "version",
        text(v.pointer("/source/version")),
        text(v.pointer("/target/version")),
    )
}

/// How a database store names what its proof lists.
pub(super) struct Names {
    /// What the tables' digest is called ("checksum", "digest").
    pub digest: &'static str,
    /// A table's name.
    pub table: fn(&Value) -> String,
    /// A difference's object.
    pub object: fn(&Value) -> String,
}

/// The view of a database proof: versions, per table rows and digest, `more` (the store's
/// own rows, after the tables), objects per kind, and the differences by object.
pub(super) fn view(v: &Value, names: &Names, more: Vec<SideBySide>) -> ProofView {
    let mut sides = vec![versions(v)];
    for t in list(v, "tables") {
        let name = (names.table)(&t);
        let tally = |side: &str, k: &str| text(t.get(side).and_then(|s| s.get(k)));
        sides.push(row(
            format!("rows {name}"),
            tally("source", "rows"),
            tally("target", "rows"),
        ));
        sides.push(row(
            format!("{} {name}", names.digest),
            tally("source", "sum"),
            tally("target", "sum"),
        ));
    }
    sides.extend(more);
    for o in list(v, "objects") {
        sides.push(row(
            format!("{} objects", text(o.get("kind"))),
            text(o.get("source")),
            text(o.get("target")),
        ));
    }
    let differences: Vec<_> = list(v, "differences")
        .iter()
        .map(|d| ProofDifference {
            name: (names.object)(d),
            kind: format!("{}: {}", text(d.get("object_kind")), text(d.get("kind"))),
            detail: text(d.get("detail")),
        })
        .collect();
    ProofView {
        sides,
        differences_total: differences.len() as u64,
        differences,
    }
}
