//! A `mysql.verify` proof (MariaDB and MySQL): rows and digest per table, objects per kind on
//! both sides, and the differences by database and object.

use super::database::{self, Names};
use super::{text, ProofView};
use serde_json::Value;

pub(super) fn view(v: &Value) -> ProofView {
    let names = Names {
        digest: "digest",
        table: |t| format!("{}.{}", text(t.get("db")), text(t.get("name"))),
        object: |d| {
            let db = text(d.get("db"));
            match text(d.get("object")) {
                o if o.is_empty() => db,
                o => format!("{db}.{o}"),
            }
        },
    };
    database::view(v, &names, Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cutover_data::mysql::verify::report::{
        Difference, ObjectCount, Side, TableCheck, Tally, VerifyReport,
    };

    #[test]
    fn a_mariadb_proof_reads_as_tables_side_by_side_and_objects_that_differ() {
        let side = |version: &str| Side {
            endpoint: "e".into(),
            version: version.into(),
        };
        let report = VerifyReport {
            source: side("MariaDB 10.11.6"),
            target: side("MariaDB 10.11.6"),
            databases: vec!["shop".into()],
            tables: vec![TableCheck {
                db: "shop".into(),
                name: "orders".into(),
                source: Some(Tally { rows: 3, sum: 0xab }),
                target: Some(Tally { rows: 2, sum: 0xcd }),
                chunks: 1,
                status: "differs".into(),
            }],
            objects: vec![ObjectCount {
                kind: "trigger".into(),
                source: 1,
                target: 0,
            }],
            differences: vec![Difference {
                db: "shop".into(),
                object: "orders".into(),
                object_kind: "table".into(),
                kind: "row count".into(),
                detail: "source 3, target 2".into(),
            }],
            rows: 3,
            seconds: 0.1,
        };
        let v = view(&serde_json::to_value(&report).unwrap());
        let cells = super::super::cells(&v);
        let (ab, cd) = (format!("{:032x}", 0xab), format!("{:032x}", 0xcd));
        assert_eq!(
            cells,
            [
                ("version", "MariaDB 10.11.6", "MariaDB 10.11.6", true),
                ("rows shop.orders", "3", "2", false),
                ("digest shop.orders", ab.as_str(), cd.as_str(), false),
                ("trigger objects", "1", "0", false),
            ]
        );
        assert_eq!(v.differences[0].name, "shop.orders");
        assert_eq!(v.differences[0].kind, "table: row count");
        assert_eq!(v.differences[0].detail, "source 3, target 2");
    }
}
