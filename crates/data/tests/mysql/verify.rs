//! `mysql::verify`: a fresh copy matches; every kind of difference of the mutation suite is
//! found and named.

use super::fixture::{agent, endpoint, executor, servers, SCHEMA};
use cutover_data::mysql::copy::{copy, CopyOptions};
use cutover_data::mysql::verify::{verify, VerifyOptions};

/// One change per kind the proof must name, made on the target (the last on the source).
const MUTATIONS: &str = r#"
USE shop;
UPDATE orders SET total = total + 1 WHERE id = 10;
DELETE FROM orders WHERE id = 20;
INSERT INTO customers (id, name) VALUES (1000, 'extra');
UPDATE orders SET note = '' WHERE id = 3;
UPDATE orders SET payload = CONCAT(LEFT(payload, 2), 'X', SUBSTRING(payload, 4)) WHERE id = 4;
DROP TRIGGER orders_bi;
CREATE TRIGGER orders_bi BEFORE INSERT ON orders FOR EACH ROW SET NEW.note = COALESCE(NEW.note, 'n/a');
DROP PROCEDURE touch;
CREATE OR REPLACE VIEW big_orders AS SELECT id, customer, total FROM orders WHERE total > 200;
ALTER EVENT purge_log ON SCHEDULE EVERY 2 DAY STARTS '2026-01-01 00:00:00';
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_copy_matches_and_every_mutation_is_named() {
    let (lab, old, new) = servers();
    old.sql(SCHEMA).expect("schema");
    let exec = executor(&lab);
    let (source, target) = (endpoint(&old), endpoint(&new));
    let address = lab.host("new").address().to_string();
    copy(
        &exec,
        &source,
        &target,
        &CopyOptions::new(vec!["shop".into()], address, agent()),
        &|_| {},
    )
    .await
    .unwrap_or_else(|e| panic!("copy: {e}\n{}", lab.failure_report()));
    let mut o = VerifyOptions::new(vec!["shop".into()], agent());
    o.chunk_rows = 1000;
    let report = verify(&exec, &source, &target, &o, &|_| {})
        .await
        .expect("verify");
    assert!(report.matches(), "{}", report.render());
    assert_eq!(report.rows, 200 + 5000 + 3 + 3);
    let orders = report
        .tables
        .iter()
        .find(|t| t.name == "orders")
        .expect("orders");
    assert_eq!(orders.chunks, 5, "{}", report.render());

    new.sql(MUTATIONS).expect("mutations");
    // The source's counter moves on (an insert rolled back in effect): the target is behind.
    old.sql("INSERT INTO shop.orders (customer) VALUES (1); DELETE FROM shop.orders WHERE id = LAST_INSERT_ID();")
        .expect("counter");
    let report = verify(&exec, &source, &target, &o, &|_| {})
        .await
        .expect("verify");
    let lines: Vec<String> = report.differences.iter().map(|d| d.to_string()).collect();
    let expected = [
        // The source's INSERT ... SELECT reserved counter values up to 8191.
        "table shop.orders: auto-increment behind (source next 8193, target next 8192)",
        "event shop.purge_log: definition (source: …`purge_log` ON SCHEDULE EVERY 1 DAY STARTS '2026-01-01 00:00:00' ON COMPLETION N; target: …`purge_log` ON SCHEDULE EVERY 2 DAY STARTS '2026-01-01 00:00:00' ON COMPLETION N)",
        "procedure shop.touch: missing on target",
        "trigger shop.orders_bi: definition (source: …W.note = COALESCE(NEW.note, 'none'); target: …W.note = COALESCE(NEW.note, 'n/a'))",
        "view shop.big_orders: definition (source: …ere `shop`.`orders`.`total` > 100; target: …ere `shop`.`orders`.`total` > 200)",
        "table shop.customers: row count (200 rows on source, 201 on target)",
        "table shop.customers: row only on target (id=1000)",
        "table shop.orders: row count (5000 rows on source, 4999 on target)",
        // NULL made '', a BLOB byte changed, a value changed.
        "table shop.orders: row differs (id=3 in `note` (NULL on source, empty on target))",
        "table shop.orders: row differs (id=4 in `payload`)",
        "table shop.orders: row differs (id=10 in `total`)",
        "table shop.orders: row missing on target (id=20)",
    ];
    assert_eq!(lines, expected, "{}", report.render());
    let verdict = "DIFFERENT (12 difference(s)): 4 table(s), 5206 row(s) hashed on each side in ";
    assert!(report.render().contains(verdict), "{}", report.render());
}
