//! `mysql::copy` between two MariaDB servers on lab hosts.

use super::fixture::{agent, assert_same, dump, endpoint, executor, servers, SCHEMA};
use cutover_data::mysql::copy::{copy, CopyEvent, CopyOptions};
use cutover_testbed::MariaServer;
use std::sync::Mutex;

fn checksums(db: &MariaServer) -> String {
    db.sql("CHECKSUM TABLE shop.customers, shop.orders, `shop`.`odd name``s`, shop.log EXTENDED")
        .expect("checksum")
}

#[tokio::test(flavor = "multi_thread")]
async fn copies_every_value_and_object_exactly() {
    let (lab, old, new) = servers();
    old.sql(SCHEMA).expect("schema");
    let exec = executor(&lab);
    let mut o = CopyOptions::new(
        vec!["shop".into()],
        lab.host("new").address().to_string(),
        agent(),
    );
    o.workers = 3;
    o.chunk_bytes = 64 << 10;
    o.users = true;
    let events = Mutex::new(Vec::new());
    let progress = |e: CopyEvent| events.lock().unwrap().push(e);
    let report = copy(&exec, &endpoint(&old), &endpoint(&new), &o, &progress)
        .await
        .unwrap_or_else(|e| panic!("copy: {e}\n{}", lab.failure_report()));
    assert_eq!(report.tables.len(), 4, "{report:#?}");
    assert_eq!(report.rows, 200 + 5000 + 3 + 3);
    assert_eq!(report.created, vec!["shop".to_string()]);
    let position = report.position.clone().expect("a snapshot position");
    assert!(position.gtid.starts_with("0-1-"), "{position:?}");
    assert!(!position.file.is_empty(), "{position:?}");
    assert_same("dump", &dump(&old, "shop"), &dump(&new, "shop"));
    // CHECKSUM TABLE hashes the stored records: FLOAT bits, BLOB bytes, NULLs exactly.
    assert_same("checksums", &checksums(&old), &checksums(&new));
    assert_eq!(
        new.sql("SHOW GRANTS FOR 'app'@'%'").unwrap(),
        old.sql("SHOW GRANTS FOR 'app'@'%'").unwrap()
    );
    let tables: Vec<String> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            CopyEvent::Table(t) => Some(format!("{}.{}", t.db, t.name)),
            _ => None,
        })
        .collect();
    assert_eq!(tables.len(), 4, "{tables:?}");

    // The target now holds a copy: a second first attempt is refused.
    let e = copy(&exec, &endpoint(&old), &endpoint(&new), &o, &progress)
        .await
        .expect_err("refused");
    assert_eq!(
        e.to_string(),
        "database `shop` on the target is not empty (6 tables or views)\nhint: cutover copies only into a missing or empty database: drop it (`DROP DATABASE`), empty it, or copy another database"
    );
}
