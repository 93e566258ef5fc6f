//! The test app's database mode against a real PostgreSQL 16 on a lab host: orders are
//! written and read back, `/healthz` follows the pool, and a pooled session opened while
//! the database was read-only keeps failing writes after it is writable again, until the
//! pool replaces it (what a database switch has to prevent).

use super::{http, replace_app_sessions};
use cutover_testbed::app::{self, AppDatabase};
use cutover_testbed::{Lab, PgOptions, PgServer};
use serde_json::json;
use std::time::{Duration, Instant};

const READ_ONLY: &str = "cannot execute INSERT in a read-only transaction";

fn database(lab: &Lab) -> PgServer {
    let pg = PgServer::start(lab.host("old"), 16, 5432, PgOptions::default()).unwrap();
    pg.psql("postgres", "CREATE DATABASE app").unwrap();
    pg
}

fn write(base: &str, note: &str) -> (u16, serde_json::Value) {
    http(
        "POST",
        &format!("{base}/api/orders"),
        Some(&json!({ "note": note }).to_string()),
    )
}

#[test]
fn orders_are_written_read_back_and_health_follows_the_pool() {
    let lab = Lab::start().unwrap();
    let mut pg = database(&lab);
    let db = AppDatabase {
        pool_size: 3,
        ..AppDatabase::on(&pg, "app")
    };
    let app = app::start_with_database(lab.host("old"), 8080, &db).unwrap();
    let base = app.url();

    assert_eq!(write(&base, "first"), (201, json!({ "id": 1 })));
    assert_eq!(write(&base, "second"), (201, json!({ "id": 2 })));
    let (status, order) = http("GET", &format!("{base}/api/orders/2"), None);
    assert_eq!(
        (status, &order["id"], &order["note"]),
        (200, &json!(2), &json!("second"))
    );
    assert!(order["created"].is_string(), "{order}");
    assert_eq!(
        pg.psql(
            "app",
            "SELECT string_agg(note, ',' ORDER BY id) FROM orders"
        )
        .unwrap(),
        "first,second\n"
    );
    assert_eq!(
        http("GET", &format!("{base}/api/orders/9"), None),
        (404, json!({ "error": "no order 9" }))
    );
    assert_eq!(
        http("POST", &format!("{base}/api/orders"), Some(r#"{"note":1}"#)),
        (
            400,
            json!({ "error": r#"the body must be a JSON object like {"note": "text"}: "note" must be a string"# })
        )
    );
    let (status, health) = http("GET", &format!("{base}/healthz"), None);
    assert_eq!(
        (status, &health["db"], &health["pool"]["connections"]),
        (200, &json!("ok"), &json!(3))
    );

    pg.stop().unwrap();
    let (status, health) = http("GET", &format!("{base}/healthz"), None);
    assert_eq!(
        (status, &health["status"], &health["db"]),
        (503, &json!("fail"), &json!("fail"))
    );
    let (status, body) = write(&base, "while down");
    assert_eq!(status, 500, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("no database connection within 3s"),
        "{body}"
    );
}

#[test]
fn a_session_opened_read_only_keeps_failing_writes_until_the_pool_replaces_it() {
    let lab = Lab::start().unwrap();
    let pg = database(&lab);
    let pooled = |lifetime: u64| AppDatabase {
        pool_size: 2,
        max_lifetime: Duration::from_secs(lifetime),
        ..AppDatabase::on(&pg, "app")
    };
    // Five minutes, as in the issue; and one whose connections live two seconds.
    let steady = app::start_with_database(lab.host("old"), 8080, &pooled(300)).unwrap();
    let short = app::start_with_database(lab.host("old"), 8081, &pooled(2)).unwrap();
    let (steady, short) = (steady.url(), short.url());
    assert_eq!(write(&steady, "before").0, 201);
    assert_eq!(write(&short, "before").0, 201);

    // Frozen as a switch freezes a source: new sessions start read-only.
    pg.psql(
        "postgres",
        "ALTER DATABASE app SET default_transaction_read_only = on",
    )
    .unwrap();
    replace_app_sessions(&pg);
    for base in [&steady, &short] {
        for _ in 0..4 {
            assert_eq!(
                write(base, "frozen"),
                (500, json!({ "error": READ_ONLY, "code": "25006" })),
                "{base}"
            );
        }
    }

    // Unfrozen: the database takes writes again, but not through the sessions the pools
    // opened while it was frozen.
    pg.psql(
        "postgres",
        "ALTER DATABASE app RESET default_transaction_read_only",
    )
    .unwrap();
    pg.psql(
        "app",
        "INSERT INTO orders (note) VALUES ('a new session writes')",
    )
    .unwrap();
    for _ in 0..6 {
        assert_eq!(
            write(&steady, "after").0,
            500,
            "a read-only pooled session wrote"
        );
    }
    // The short-lived pool recovers by itself once its sessions reach their lifetime...
    let unfrozen = Instant::now();
    while write(&short, "after").0 != 201 {
        assert!(
            unfrozen.elapsed() < Duration::from_secs(10),
            "the pool with a 2 s lifetime still fails writes after 10 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // ...while the five-minute one still refuses them, until its sessions are replaced.
    assert_eq!(
        write(&steady, "after"),
        (500, json!({ "error": READ_ONLY, "code": "25006" }))
    );
    replace_app_sessions(&pg);
    assert_eq!(write(&steady, "replaced").0, 201);
    assert_eq!(
        pg.psql(
            "app",
            "SELECT count(*) FROM orders WHERE note IN ('frozen', 'after')"
        )
        .unwrap(),
        "1\n",
        "only the short pool's recovered write of the refused ones is there"
    );
}
