//! A `postgres.verify` proof: rows and checksums per table, next values per sequence, object
//! counts per kind, and the differences by object.

use super::{row, text, ProofDifference, ProofView};
use serde_json::Value;

pub(super) fn view(v: &Value) -> ProofView {
    let list = |k: &str| {
        v.get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let mut sides = vec![row(
        "version",
        text(v.pointer("/source/version")),
        text(v.pointer("/target/version")),
    )];
    for t in list("tables") {
        let name = qualified(&t, "name");
        let tally = |side: &str, k: &str| text(t.get(side).and_then(|s| s.get(k)));
        sides.push(row(
            format!("rows {name}"),
            tally("source", "rows"),
            tally("target", "rows"),
        ));
        sides.push(row(
            format!("checksum {name}"),
            tally("source", "sum"),
            tally("target", "sum"),
        ));
    }
    for s in list("sequences") {
        sides.push(row(
            format!("next {}", qualified(&s, "name")),
            text(s.get("source_next")),
            text(s.get("target_next")),
        ));
    }
    for o in list("objects") {
        sides.push(row(
            format!("{} objects", text(o.get("kind"))),
            text(o.get("source")),
            text(o.get("target")),
        ));
    }
    let differences: Vec<_> = list("differences")
        .iter()
        .map(|d| ProofDifference {
            name: qualified(d, "object"),
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

/// `schema.name`, or the name alone for database-wide objects.
fn qualified(v: &Value, key: &str) -> String {
    match text(v.get("schema")) {
        s if s.is_empty() => text(v.get(key)),
        s => format!("{s}.{}", text(v.get(key))),
    }
}
