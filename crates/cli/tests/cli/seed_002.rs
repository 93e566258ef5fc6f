//! Seed runbook 002 (a generic A-to-B move) run end to end as its plan,
//! `examples/seeds/002-generic-a-to-b/cutover.toml`, in its `lab` environment: the app on
//! A and B behind an HAProxy LB, PostgreSQL, MariaDB and Redis on both, uploads on A. Under
//! a client writing through the LB and clients writing to MariaDB and Redis, the plan
//! replicates, moves writes and traffic in one move, proves the data; then B's health fails
//! and the soak moves everything back by itself (nothing lost, A serves); healed, the plan
//! moves again, watches, waits out the confidence window and finishes.

use super::soak::{control, get};
use crate::fixture::Run;
use cutover_testbed::app::{start_with_database, AppDatabase};
use cutover_testbed::load::{LoadOptions, LoadSummary, WriteLoad};
use cutover_testbed::{
    Lab, MariaOptions, MariaServer, MysqlWriter, PgOptions, PgServer, RedisOptions, RedisServer,
    RedisVersion, RedisWriter,
};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The directory of a seed's plan in the repository.
pub(crate) fn seed_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/seeds")
        .join(name)
}

/// The seed's plan moved from the canonical lab (`cutover-lab up`: 198.51.100.10 and .20,
/// keys in /var/lib/cutover-lab/demo) to this test's lab slot, written into `dir` with the
/// seed's other files.
pub(crate) fn lab_copy(seed: &str, lab: &Lab, dir: &Path) -> PathBuf {
    let src = seed_dir(seed);
    for entry in std::fs::read_dir(&src).expect("seed dir").flatten() {
        let to = dir.join(entry.file_name());
        if entry.path().is_file() {
            std::fs::copy(entry.path(), &to).expect("copy a seed file");
        }
    }
    let text = std::fs::read_to_string(src.join("cutover.toml")).expect("the seed's plan");
    let text = text
        .replace("198.51.100.10", "@OLD@")
        .replace("198.51.100.20", "@NEW@")
        .replace("@OLD@", &lab.host("old").address().to_string())
        .replace("@NEW@", &lab.host("new").address().to_string())
        .replace(
            "/var/lib/cutover-lab/demo",
            &lab.dir().display().to_string(),
        );
    let plan = dir.join("cutover.toml");
    std::fs::write(&plan, text).expect("write the lab's plan");
    plan
}

/// `cutover -f PLAN ARGS` with the lab's secrets.
pub(crate) fn cutover(plan: &Path, env: &[(&str, &str)], args: &[&str]) -> Run {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cutover"));
    c.arg("-f").arg(plan).args(args).env("NO_COLOR", "1");
    for (k, v) in env {
        c.env(k, v);
    }
    Run(c.output().expect("run cutover"))
}

/// HAProxy on old at port 80 sending users to `app`, with HAProxy's default keep-alive to
/// its servers: the move must not let a kept server connection reach A's frozen database.
pub(crate) fn start_lb(lab: &Lab, app: SocketAddr) -> cutover_testbed::proxy::Proxy {
    cutover_testbed::proxy::start_haproxy(lab.host("old"), 80, app).expect("the LB")
}

const APP_PW: &str = "myapp-pw";
const REPL_PW: &str = "strong-pass";

const MYSQL_APP: &str = r#"
CREATE DATABASE mydb;
USE mydb;
CREATE TABLE writes (conn INT NOT NULL, n BIGINT NOT NULL, at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6), PRIMARY KEY (conn, n));
CREATE TABLE products (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, name VARCHAR(50), price DECIMAL(10,2));
INSERT INTO products (name, price) SELECT CONCAT('product ', seq), seq / 100 FROM seq_1_to_2000;
CREATE USER 'myapp'@'%' IDENTIFIED BY 'myapp-pw';
GRANT SELECT, INSERT, UPDATE, DELETE ON mydb.* TO 'myapp'@'%';
CREATE USER 'replicator'@'%' IDENTIFIED BY 'strong-pass';
GRANT REPLICATION SLAVE ON *.* TO 'replicator'@'%';
"#;

/// Both servers' stores, the app on each (port 3000, its orders in its host's PostgreSQL)
/// and the LB (HAProxy on old, port 80) sending users to A.
struct World {
    lab: Lab,
    pg: (PgServer, PgServer),
    maria: (MariaServer, MariaServer),
    redis: (RedisServer, RedisServer),
    apps: (
        cutover_testbed::app::AppProcess,
        cutover_testbed::app::AppProcess,
    ),
    lb: cutover_testbed::proxy::Proxy,
}

impl World {
    fn start() -> World {
        let lab = Lab::start().expect("lab");
        let pg_opts = PgOptions {
            logical: true,
            ..PgOptions::default()
        };
        let (pg, maria, redis) = std::thread::scope(|s| {
            let (old, new) = (lab.host("old"), lab.host("new"));
            let pg = s.spawn(|| {
                (
                    PgServer::start(old, 16, 5432, pg_opts.clone()).expect("pg on A"),
                    PgServer::start(new, 16, 5432, pg_opts.clone()).expect("pg on B"),
                )
            });
            let maria = s.spawn(|| {
                (
                    MariaServer::start(old, 3306, MariaOptions::primary(1)).expect("maria on A"),
                    MariaServer::start(new, 3306, MariaOptions::primary(2)).expect("maria on B"),
                )
            });
            let redis = [old, new].map(|h| {
                RedisServer::start(h, RedisVersion::Redis70, 6379, RedisOptions::default())
                    .expect("redis")
            });
            let [ra, rb] = redis;
            (
                pg.join().expect("pg"),
                maria.join().expect("maria"),
                (ra, rb),
            )
        });
        for server in [&pg.0, &pg.1] {
            server
                .psql(
                    "postgres",
                    &format!("CREATE ROLE myapp LOGIN SUPERUSER PASSWORD '{APP_PW}';"),
                )
                .expect("role");
        }
        pg.0.psql("postgres", "CREATE DATABASE mydb OWNER myapp;")
            .expect("db");
        pg.0.psql(
            "mydb",
            "CREATE TABLE orders (id bigserial PRIMARY KEY, note text, created timestamptz NOT NULL DEFAULT now()); ALTER TABLE orders OWNER TO myapp; INSERT INTO orders (note) SELECT 'before ' || g FROM generate_series(1, 500) g;",
        )
        .expect("schema");
        maria.0.sql(MYSQL_APP).expect("mysql schema");
        redis
            .0
            .pipe(&cutover_testbed::redis_data::mixed(0..500))
            .expect("redis keys");
        lab.host("old")
            .exec_ok(
                "mkdir -p /srv/myapp/shared/uploads/2025/08 && cd /srv/myapp/shared/uploads && \
                 for i in $(seq 1 150); do head -c $((1000 + i * 37)) /dev/urandom > 2025/08/img-$i.jpg; done && \
                 head -c 3000000 /dev/urandom > video.mp4 && ln 2025/08/img-1.jpg avatar.jpg && \
                 chown -R 999:999 /srv/myapp/shared/uploads && chmod 640 2025/08/img-2.jpg",
            )
            .expect("uploads");
        let app_db = |pg: &PgServer| AppDatabase {
            url: format!("postgres://myapp@{}:5432/mydb", pg.address()),
            password: Some(APP_PW.into()),
            ..AppDatabase::on(pg, "mydb")
        };
        let apps = (
            start_with_database(lab.host("old"), 3000, &app_db(&pg.0)).expect("app on A"),
            start_with_database(lab.host("new"), 3000, &app_db(&pg.1)).expect("app on B"),
        );
        let lb = start_lb(&lab, apps.0.addr);
        World {
            lab,
            pg,
            maria,
            redis,
            apps,
            lb,
        }
    }

    fn order_ids(pg: &PgServer) -> Vec<i64> {
        pg.psql("mydb", "SELECT id FROM orders")
            .expect("ids")
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    fn mysql_writes(s: &MariaServer) -> Vec<(u64, u64)> {
        s.sql("SELECT conn, n FROM mydb.writes")
            .expect("writes")
            .lines()
            .filter_map(|l| {
                let (a, b) = l.split_once('\t')?;
                Some((a.parse().ok()?, b.parse().ok()?))
            })
            .collect()
    }

    fn at(address: std::net::Ipv4Addr, port: u16) -> SocketAddr {
        SocketAddr::new(address.into(), port)
    }
}

/// Every write `load` saw acknowledged is in `pg`'s orders.
fn assert_orders_on(load: &LoadSummary, pg: &PgServer, when: &str) {
    let missing = load.missing_from(&World::order_ids(pg));
    assert!(
        missing.is_empty(),
        "{when}: {} of {} acknowledged orders missing on {}: {missing:?}",
        missing.len(),
        load.acknowledged().len(),
        pg.host()
    );
}

#[test]
fn seed_002_moves_a_to_b_under_writes_rolls_back_by_itself_and_moves_again() {
    let started = Instant::now();
    let w = World::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let plan = lab_copy("002-generic-a-to-b", &w.lab, dir.path());
    let env = [
        ("PGPASS", PgServer::PASSWORD),
        ("MYSQL_ROOT_PASSWORD", MariaServer::PASSWORD),
        ("REPL_PASSWORD", REPL_PW),
        ("REDIS_PASSWORD", RedisServer::PASSWORD),
    ];
    let run = |args: &[&str]| {
        let mut all = vec!["-e", "lab"];
        all.extend_from_slice(args);
        cutover(&plan, &env, &all)
    };
    // The plan as checked in passes the offline check, in production and on the lab.
    for e in [&[][..], &["-e", "lab"][..]] {
        let mut args = e.to_vec();
        args.extend(["check", "--offline"]);
        let checked_in = seed_dir("002-generic-a-to-b").join("cutover.toml");
        let out = cutover(&checked_in, &[], &args);
        assert_eq!(
            (out.checks(), out.stderr()),
            (
                format!("ok {} is valid\n", checked_in.display()),
                String::new()
            )
        );
    }
    let setup = started.elapsed();

    // §2-§7: preflight, the initial sync of every store, the dry run against B.
    run(&["apply", "--yes", "--until", "dry-run"]).expect(0);
    assert!(get(w.lb.listen, "/").contains("hello from old"));

    // §8 under load: users writing orders through the LB, clients writing to MariaDB and
    // Redis on A (repointed to B once the move is done, as the app's config would be).
    let lb_url = format!("http://{}", w.lb.listen);
    // A user waits as long as the move may hold a request (its `max_hold`, 10 s).
    let users_wait = LoadOptions {
        deadline: Duration::from_secs(10),
        ..LoadOptions::default()
    };
    let users = WriteLoad::start(&lb_url, users_wait).expect("users");
    let mysql = MysqlWriter::start(
        World::at(w.maria.0.address(), 3306),
        "myapp",
        APP_PW,
        "mydb",
        2,
    );
    let redis = RedisWriter::start(
        World::at(w.redis.0.address(), 6379),
        RedisServer::PASSWORD,
        2,
        "w",
    );
    users
        .wait_for_acknowledged(10, Duration::from_secs(10))
        .expect("the users' writes go through");
    std::thread::sleep(Duration::from_millis(500));
    let moved = run(&["apply", "--yes", "--until", "cutover"]).expect(0);
    let text = moved.stdout();
    assert!(
        text.contains("with pg-switch, mysql-switch, redis-switch in one move"),
        "{text}"
    );
    mysql.repoint(World::at(w.maria.1.address(), 3306));
    redis.repoint(World::at(w.redis.1.address(), 6379));
    std::thread::sleep(Duration::from_millis(500));
    let first = users.stop();
    let (mysql_done, redis_done) = (mysql.stop(), redis.stop());
    assert!(get(w.lb.listen, "/").contains("hello from new"));
    assert!(
        first.failures().is_empty(),
        "users' writes failed during the move: {first}\n{text}"
    );
    assert_orders_on(&first, &w.pg.1, "after the move");
    let lost = mysql_done.lost(&World::mysql_writes(&w.maria.1));
    assert!(
        mysql_done.total() > 20 && lost.is_empty(),
        "MariaDB: {} acknowledged, lost on B: {lost:?}",
        mysql_done.total()
    );
    let missing = cutover_testbed::missing_writes(
        &redis_done,
        World::at(w.redis.1.address(), 6379),
        RedisServer::PASSWORD,
        "w",
    )
    .expect("read B's keys");
    assert!(
        redis_done.total() > 20 && missing.is_empty(),
        "Redis: {} acknowledged, missing on B: {missing:?}",
        redis_done.total()
    );

    // §8.5 and §15: smoke tests through the LB and the proofs (A follows B now).
    std::thread::sleep(Duration::from_secs(1));
    run(&["apply", "--yes", "--until", "verify"]).expect(0);

    // §9: B's health fails while the soak watches; the soak moves traffic and writes back
    // to A by itself, under the users' writes.
    control(w.apps.1.addr, "fail");
    let users = WriteLoad::start(&lb_url, users_wait).expect("users");
    let back = run(&["apply", "--yes"]).expect(5);
    std::thread::sleep(Duration::from_millis(500));
    let second = users.stop();
    let text = back.stdout() + &back.stderr();
    assert!(text.contains("trigger fired"), "{text}");
    assert!(
        text.contains("with redis-switch, mysql-switch, pg-switch undone in one move"),
        "{text}"
    );
    assert!(get(w.lb.listen, "/").contains("hello from old"));
    // Nothing lost: every write acknowledged on A or on B is on A again.
    assert_orders_on(&first, &w.pg.0, "after the rollback (first load)");
    assert_orders_on(&second, &w.pg.0, "after the rollback (second load)");
    assert!(
        second.acknowledged().len() > 5,
        "A takes the users' writes again: {second}"
    );
    let lost = mysql_done.lost(&World::mysql_writes(&w.maria.0));
    assert!(
        lost.is_empty(),
        "MariaDB writes made on B lost on A: {lost:?}"
    );
    let missing = cutover_testbed::missing_writes(
        &redis_done,
        World::at(w.redis.0.address(), 6379),
        RedisServer::PASSWORD,
        "w",
    )
    .expect("read A's keys");
    assert!(
        missing.is_empty(),
        "Redis writes made on B lost on A: {missing:?}"
    );

    // Healed, the same plan moves again, watches, waits out the confidence window, finishes.
    control(w.apps.1.addr, "ok");
    let again = run(&["apply", "--yes"]).expect(0);
    assert!(get(w.lb.listen, "/").contains("hello from new"));
    assert_orders_on(&second, &w.pg.1, "after the second move");
    let text = again.stdout();
    assert!(text.contains("pg-finish"), "{text}");

    // The change record (§15): every step done, the move's window, the proofs.
    let report = run(&["report", "--format", "json"]).expect(0).stdout();
    let json: serde_json::Value = serde_json::from_str(&report).expect("json report");
    assert_eq!(json["outcome"], "completed", "{report}");
    let steps = json["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 20, "every step of the plan is in the record");
    for step in steps {
        assert_eq!(step["outcome"], "applied", "{step}");
    }
    // The runbook's budget: minimal downtime. The last move held requests (latency, at most
    // its `max_hold`) and failed none; the users' probe through the LB saw no failure.
    let last = |list: &str, field: &str| -> serde_json::Value {
        json[list]
            .as_array()
            .and_then(|l| {
                l.iter()
                    .rev()
                    .find(|w| w["step"] == "move" && w[field].is_number())
            })
            .cloned()
            .unwrap_or_else(|| panic!("no {list} window of the move: {report}"))
    };
    let (held, probed) = (
        last("users_saw", "held_seconds"),
        last("downtime", "failed"),
    );
    eprintln!(
        "seed 002: users saw {}; last move {held}; [downtime] probe {probed}",
        json["users_saw"]
    );
    assert_eq!(held["failed"], 0, "{held}");
    assert!(
        held["held_seconds"].as_f64().is_some_and(|s| s < 10.0),
        "{held}"
    );
    assert_eq!(probed["failed"].as_f64(), Some(0.0), "{probed}");
    let md = run(&["report"]).expect(0).stdout();
    for proof in ["uploads-proof", "pg-proof", "mysql-proof", "redis-proof"] {
        assert!(md.contains(&format!("## Proof: {proof}")), "{md}");
    }
    for secret in [
        PgServer::PASSWORD,
        MariaServer::PASSWORD,
        REPL_PW,
        RedisServer::PASSWORD,
    ] {
        assert!(!md.contains(secret) && !report.contains(secret));
    }
    eprintln!(
        "seed 002: setup {setup:?}, whole test {:?}",
        started.elapsed()
    );
}
