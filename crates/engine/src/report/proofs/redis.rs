//! A `redis.verify` proof: each database's keys, expiring keys and digest on both sides, and
//! the differences by database and key.

use super::{row, text, ProofDifference, ProofView};
use cutover_data::redis::compare::DiffKind;
use serde_json::Value;
use std::collections::BTreeSet;

pub(super) fn view(v: &Value) -> ProofView {
    let dbs = |side: &str| {
        v.pointer(&format!("/{side}/dbs"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let (source, target) = (dbs("source"), dbs("target"));
    let find = |list: &[Value], db: u64| {
        list.iter()
            .find(|d| d.get("db").and_then(Value::as_u64) == Some(db))
            .cloned()
    };
    let numbers: BTreeSet<u64> = source
        .iter()
        .chain(&target)
        .filter_map(|d| d.get("db").and_then(Value::as_u64))
        .collect();
    let mut sides = vec![super::database::versions(v)];
    for db in numbers {
        let (s, t) = (find(&source, db), find(&target, db));
        for k in ["keys", "expiring", "digest"] {
            sides.push(row(
                format!("db {db} {k}"),
                text(s.as_ref().and_then(|d| d.get(k))),
                text(t.as_ref().and_then(|d| d.get(k))),
            ));
        }
    }
    let differences = v
        .get("differences")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|d| ProofDifference {
                    name: format!("db {} {}", text(d.get("db")), text(d.get("key"))),
                    kind: kind(d.get("kind")),
                    detail: text(d.get("detail")),
                })
                .collect()
        })
        .unwrap_or_default();
    ProofView {
        sides,
        differences,
        differences_total: v
            .get("total_differences")
            .and_then(Value::as_u64)
            .unwrap_or(0),
    }
}

/// The words for a difference's kind (as the text proof says them), or the kind as written.
fn kind(v: Option<&Value>) -> String {
    v.and_then(|k| serde_json::from_value::<DiffKind>(k.clone()).ok())
        .map_or_else(|| text(v), |k| k.label().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cutover_data::redis::compare::Difference;
    use cutover_data::redis::protocol::TtlMode;
    use cutover_data::redis::report::{DbSummary, SideReport, VerifyReport};

    fn side(version: &str, keys: u64, digest: &str) -> SideReport {
        SideReport {
            endpoint: "e".into(),
            version: version.into(),
            dbs: vec![DbSummary {
                db: 0,
                keys,
                expiring: 1,
                opaque: 0,
                digest: digest.into(),
            }],
        }
    }

    #[test]
    fn a_redis_proof_reads_as_databases_side_by_side_and_keys_that_differ() {
        let report = VerifyReport {
            source: side("Redis 7.0.15", 3, "ab"),
            target: side("Valkey 9.1.0", 2, "cd"),
            ttl_mode: TtlMode::Absolute,
            ttl_tolerance_ms: 0,
            buckets: 16,
            buckets_compared: 1,
            keys_compared: 5,
            differences: vec![Difference {
                db: 0,
                key: "user:1".into(),
                kind: DiffKind::Missing,
                detail: String::new(),
            }],
            total_differences: 1,
            by_kind: Default::default(),
            by_db: Default::default(),
            seconds: 0.1,
        };
        let v = view(&serde_json::to_value(&report).unwrap());
        let cells = super::super::cells(&v);
        assert_eq!(
            cells,
            [
                ("version", "Redis 7.0.15", "Valkey 9.1.0", false),
                ("db 0 keys", "3", "2", false),
                ("db 0 expiring", "1", "1", true),
                ("db 0 digest", "ab", "cd", false),
            ]
        );
        assert_eq!(v.differences[0].name, "db 0 user:1");
        assert_eq!(v.differences[0].kind, "missing on target");
        assert_eq!(v.differences_total, 1);
    }
}
