//! The write load through HAProxy against the test app on PostgreSQL: it keeps its schedule
//! while answers hang, records every failure with the database's error or the deadline,
//! and its acknowledged ids are exactly what the database holds.

use super::http;
use cutover_testbed::app::{self, AppDatabase};
use cutover_testbed::load::{LoadOptions, WriteLoad};
use cutover_testbed::{proxy, Lab, PgOptions, PgServer};
use std::collections::HashMap;
use std::time::Duration;

#[test]
fn the_write_load_keeps_its_schedule_and_its_acknowledged_ids_are_in_the_database() {
    let lab = Lab::start().unwrap();
    let pg = PgServer::start(lab.host("old"), 16, 5432, PgOptions::default()).unwrap();
    pg.psql("postgres", "CREATE DATABASE app").unwrap();
    let db = AppDatabase {
        max_lifetime: Duration::from_secs(1),
        ..AppDatabase::on(&pg, "app")
    };
    let app = app::start_with_database(lab.host("old"), 8080, &db).unwrap();
    let haproxy = proxy::start_haproxy(lab.host("new"), 8000, app.addr).unwrap();

    let deadline = Duration::from_secs(1);
    let load = WriteLoad::start(
        &format!("http://{}", haproxy.listen),
        LoadOptions {
            interval: Duration::from_millis(20),
            deadline,
        },
    )
    .unwrap();
    load.wait_for_acknowledged(20, Duration::from_secs(10))
        .unwrap();

    // Writes refused for a while: the database's error is recorded. The pool's sessions
    // live a second, so they pick up each change without being killed mid-request.
    pg.psql(
        "postgres",
        "ALTER DATABASE app SET default_transaction_read_only = on",
    )
    .unwrap();
    wait_until(|| load.progress().failed >= 10);
    pg.psql(
        "postgres",
        "ALTER DATABASE app RESET default_transaction_read_only",
    )
    .unwrap();
    let acknowledged = load.progress().acknowledged;
    load.wait_for_acknowledged(acknowledged + 10, Duration::from_secs(10))
        .unwrap();

    // Answers slower than the deadline: requests still go out every 20 ms.
    let control = format!("{}/_control", app.url());
    assert_eq!(
        http("POST", &format!("{control}/delay?ms=1500"), None).0,
        200
    );
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(http("POST", &format!("{control}/ok"), None).0, 200);
    let acknowledged = load.progress().acknowledged;
    load.wait_for_acknowledged(acknowledged + 10, Duration::from_secs(10))
        .unwrap();
    let summary = load.stop();

    let failures = summary.failures();
    let read_only = failures
        .iter()
        .filter(|r| {
            r.status == Some(500)
                && r.error.as_deref() == Some("cannot execute INSERT in a read-only transaction")
        })
        .count();
    let timed_out: Vec<_> = failures
        .iter()
        .filter(|r| {
            r.status.is_none() && r.error.as_deref() == Some("no answer within the 1s deadline")
        })
        .collect();
    assert!(read_only > 0 && !timed_out.is_empty(), "{summary}");
    assert_eq!(read_only + timed_out.len(), failures.len(), "{summary}");
    assert!(
        timed_out
            .iter()
            .all(|r| r.latency() >= deadline && r.latency() < deadline + Duration::from_millis(500)),
        "{summary}"
    );
    assert!(summary.longest() >= deadline, "{summary}");
    assert!(
        summary.longest_send_gap() < Duration::from_millis(250),
        "the schedule stalled for {:?} while answers hung",
        summary.longest_send_gap()
    );
    assert_eq!(
        summary.requests(),
        summary.acknowledged().len() + failures.len()
    );

    // The app still commits the requests the client gave up on (their answers come after
    // 1.5 s): once they are in, the database holds the acknowledged rows plus those, each
    // acknowledged id with the note its request sent.
    std::thread::sleep(Duration::from_millis(1500));
    let rows: HashMap<i64, String> = pg
        .psql("app", "SELECT id, note FROM orders")
        .unwrap()
        .lines()
        .filter_map(|line| line.split_once('|'))
        .map(|(id, note)| (id.parse().unwrap(), note.to_string()))
        .collect();
    let ids: Vec<i64> = rows.keys().copied().collect();
    assert_eq!(summary.missing_from(&ids), Vec::<i64>::new(), "{summary}");
    assert_eq!(
        rows.len(),
        summary.acknowledged().len() + timed_out.len(),
        "{summary}"
    );
    for record in summary.records.iter().filter(|r| r.id.is_some()) {
        let note = &rows[&record.id.unwrap()];
        assert_eq!(note, &format!("cutover write load {}", record.seq));
    }
}

fn wait_until(done: impl Fn() -> bool) {
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(std::time::Instant::now() < until, "timed out");
        std::thread::sleep(Duration::from_millis(10));
    }
}
