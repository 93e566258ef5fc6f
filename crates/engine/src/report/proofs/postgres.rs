//! A `postgres.verify` proof: rows and checksums per table, next values per sequence, object
//! counts per kind, and the differences by object.

use super::database::{self, list, Names};
use super::{row, text, ProofView};
use serde_json::Value;

pub(super) fn view(v: &Value) -> ProofView {
    let sequences = list(v, "sequences")
        .iter()
        .map(|s| {
            row(
                format!("next {}", qualified(s, "name")),
                text(s.get("source_next")),
                text(s.get("target_next")),
            )
        })
        .collect();
    let names = Names {
        digest: "checksum",
        table: |t| qualified(t, "name"),
        object: |d| qualified(d, "object"),
    };
    database::view(v, &names, sequences)
}

/// `schema.name`, or the name alone for database-wide objects.
fn qualified(v: &Value, key: &str) -> String {
    match text(v.get("schema")) {
        s if s.is_empty() => text(v.get(key)),
        s => format!("{s}.{}", text(v.get(key))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_postgres_proof_reads_tables_then_sequences_then_objects_and_differences() {
        let proof = serde_json::json!({
            "source": {"version": "16.4"},
            "target": {"version": "18.1"},
            "tables": [{
                "schema": "public", "name": "orders",
                "source": {"rows": 3, "sum": "ab"}, "target": {"rows": 2, "sum": "cd"}
            }],
            "sequences": [{
                "schema": "public", "name": "orders_id_seq", "source_next": 4, "target_next": 4
            }],
            "objects": [{"kind": "index", "source": 2, "target": 1}],
            "differences": [
                {"schema": "public", "object": "orders", "object_kind": "table",
                 "kind": "row count", "detail": "source 3, target 2"},
                {"schema": "", "object": "pgcrypto", "object_kind": "extension",
                 "kind": "missing on target", "detail": ""}
            ]
        });
        let v = view(&proof);
        assert_eq!(
            super::super::cells(&v),
            [
                ("version", "16.4", "18.1", false),
                ("rows public.orders", "3", "2", false),
                ("checksum public.orders", "ab", "cd", false),
                ("next public.orders_id_seq", "4", "4", true),
                ("index objects", "2", "1", false),
            ]
        );
        let names: Vec<_> = v
            .differences
            .iter()
            .map(|d| (d.name.as_str(), d.kind.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("public.orders", "table: row count"),
                ("pgcrypto", "extension: missing on target")
            ]
        );
        assert_eq!(v.differences_total, 2);
    }

    #[test]
    fn a_proof_that_is_not_an_object_reads_as_an_empty_view() {
        let v = view(&serde_json::json!([1, 2]));
        assert_eq!(super::super::cells(&v), [("version", "", "", true)]);
        assert!(v.differences.is_empty());
    }
}
