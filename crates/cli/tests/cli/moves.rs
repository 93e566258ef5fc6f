//! The coordinated move (issue 19): a `proxy.switch` with `data` moves the database's writes
//! and the users' traffic together while HAProxy's requests are held by cutover's relay.
//! Users see latency, not errors; every acknowledged write reaches the new server; the
//! rollback is the same move backwards, gives writes back to old and leaves the sync running,
//! so that `cutover apply` moves again.

use super::soak::{cutover, get, haproxy_plan_header, setup};
use crate::fixture::Run;
use cutover_testbed::{PgOptions, PgServer};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The sync and the coordinated move (`postgres.switch` + `proxy.switch` with `data`) of
/// the move tests' plans (`{{ ... }}` are cutover's templates).
pub(crate) const MOVE_STAGES: &str = r#"[[stages]]
name = "sync"
[[stages.steps]]
id = "replicate"
kind = "postgres.sync"
source = { host = "old", address = "127.0.0.1", db = "app", password = "{{ secrets.db }}" }
target = { host = "new", address = "127.0.0.1", db = "app", password = "{{ secrets.db }}" }
source_address = "{{ hosts.old.address }}"

[[stages]]
name = "switch"
[[stages.steps]]
id = "db-switch"
kind = "postgres.switch"
sync = "replicate"
reverse = true
max_wait = "3s"
[[stages.steps]]
id = "move"
kind = "proxy.switch"
proxy = "front"
to = "{{ hosts.new.address }}:8080"
health_path = "/healthz"
data = ["db-switch"]
max_hold = "8s"
drain = "200ms""#;

fn plan(lab: &cutover_testbed::Lab) -> String {
    // The switch is kept in HAProxy's config file too (a reload keeps it).
    let header = format!(
        "{}config = \"{}\"\n",
        haproxy_plan_header(lab, "move-test"),
        cutover_testbed::proxy::HAPROXY_CONFIG
    );
    let stages = MOVE_STAGES;
    format!(
        r#"{header}
[secrets.db]
env = "DB_PW"

{stages}

[checks.canary]
kind = "command"
host = "new"
command = "test ! -e /tmp/break"

[[stages]]
name = "soak"
[[stages.steps]]
id = "watch"
kind = "soak"
checks = "canary"
interval = "500ms"
duration = "4s"
triggers = [{{ consecutive_failures = 2 }}]
"#
    )
}

fn unix_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

/// The lines of HAProxy's request log (on old, see `start_haproxy_logging_requests`) for
/// requests it took in after `since` (unix ms) and whose log line has `to` (where the
/// connection went: `to=IP:PORT`).
fn requests_to(lab: &cutover_testbed::Lab, since: u128, to: &str) -> Vec<String> {
    let log = lab
        .host("old")
        .fs_path(cutover_testbed::proxy::HAPROXY_REQUESTS);
    std::fs::read_to_string(&log)
        .unwrap_or_else(|e| panic!("{}: {e}", log.display()))
        .lines()
        .filter(|l| l.contains(to))
        .filter(|l| accepted_ms(l).is_some_and(|at| at > since))
        .map(str::to_string)
        .collect()
}

/// A request log line's accept time (its first field, `SECONDS.MS`), in unix ms.
fn accepted_ms(line: &str) -> Option<u128> {
    let (seconds, ms) = line.split_whitespace().next()?.split_once('.')?;
    Some(seconds.parse::<u128>().ok()? * 1000 + ms.parse::<u128>().ok()?)
}

/// How long a held request may take in these tests: released by the move, not by the
/// relay's `max_hold` (8 s in the plans) running out. The 1 s target is the bench's
/// (`scripts/bench.sh moves`, a quiet machine); here the suite shares two cores with other
/// labs, and what is asserted is that requests wait and are then answered, not failed.
const RELEASED_WITHIN: Duration = Duration::from_secs(5);

/// A GET that waits out a hold: its deadline is past the plans' `max_hold`, so a request
/// held too long shows as slow (and fails the bound) instead of as a client timeout.
fn get_held(addr: SocketAddr, path: &str) -> String {
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(10)) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(12)));
    let _ = write!(s, "GET {path} HTTP/1.0\r\n\r\n");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// Users: a GET through the proxy every 10 ms on its own schedule; every answer that is not
/// a 200 is a failure, and the slowest answer is kept.
struct Users {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<(u64, Vec<String>, Duration)>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Users {
    fn start(front: SocketAddr) -> Users {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new((0, Vec::new(), Duration::ZERO)));
        let (s2, seen2) = (stop.clone(), seen.clone());
        let thread = std::thread::spawn(move || {
            let mut workers = Vec::new();
            while !s2.load(Ordering::Relaxed) {
                let seen3 = seen2.clone();
                workers.push(std::thread::spawn(move || {
                    let t = Instant::now();
                    let answer = get_held(front, "/");
                    let took = t.elapsed();
                    let mut s = seen3.lock().unwrap();
                    s.0 += 1;
                    s.2 = s.2.max(took);
                    if !answer.starts_with("HTTP/1.0 200") && !answer.starts_with("HTTP/1.1 200") {
                        s.1.push(format!(
                            "{:?}",
                            answer.lines().next().unwrap_or("no answer")
                        ));
                    }
                }));
                std::thread::sleep(Duration::from_millis(10));
            }
            for w in workers {
                let _ = w.join();
            }
        });
        Users {
            stop,
            seen,
            thread: Some(thread),
        }
    }

    /// Stops and returns (requests, failures, slowest answer).
    fn stop(mut self) -> (u64, Vec<String>, Duration) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.seen.lock().unwrap().clone()
    }
}

#[test]
fn a_move_holds_requests_instead_of_failing_them_and_its_rollback_gives_writes_back() {
    let s = setup();
    let opts = PgOptions {
        logical: true,
        ..PgOptions::default()
    };
    let old = PgServer::start(s.lab.host("old"), 16, 5432, opts.clone()).expect("pg16");
    let new = PgServer::start(s.lab.host("new"), 18, 5432, opts).expect("pg18");
    old.psql("postgres", "CREATE DATABASE app; CREATE ROLE writer LOGIN;")
        .expect("db");
    new.psql("postgres", "CREATE ROLE writer LOGIN;")
        .expect("role");
    old.psql(
        "app",
        "CREATE TABLE orders (id bigserial PRIMARY KEY, note text); GRANT INSERT, SELECT ON orders TO writer; GRANT USAGE ON SEQUENCE orders_id_seq TO writer;",
    )
    .expect("schema");
    let plan_path = s.dir.path().join("cutover.toml");
    std::fs::write(&plan_path, plan(&s.lab)).unwrap();
    let run = |args: &[&str]| {
        let mut c = cutover(&plan_path, args);
        c.env("DB_PW", PgServer::PASSWORD);
        Run(c.output().expect("run cutover"))
    };
    run(&["apply", "--yes", "--until", "sync"]).expect(0);
    // An app writing on old until the freeze ends its session (every id acknowledged kept).
    let mut writer = old
        .spawn_shell("seq 1 10000000 | sed 's/.*/INSERT INTO orders (note) VALUES (md5(&::text)) RETURNING id; SELECT pg_sleep(0.01);/' | psql -X -q -At -U writer app 2>/dev/null | grep -v '^$' > /tmp/acked")
        .expect("writer");
    std::thread::sleep(Duration::from_millis(500));
    assert!(get(s.front.listen, "/").contains("hello from old"));
    let users = Users::start(s.front.listen);
    std::thread::sleep(Duration::from_millis(300));
    let out = run(&["apply", "--yes", "--until", "switch"]).expect(0);
    std::thread::sleep(Duration::from_millis(300));
    let (requests, failures, slowest) = users.stop();
    let text = out.stdout();
    assert!(text.contains("with db-switch in one move"), "{text}");
    assert!(get(s.front.listen, "/").contains("hello from new"));
    assert!(
        failures.is_empty(),
        "{} of {requests} requests failed during the move: {failures:?}\n{text}",
        failures.len()
    );
    assert!(slowest < RELEASED_WITHIN, "a request waited {slowest:?}");
    writer.wait().expect("the writer ends with its session");
    let acked: Vec<String> = old
        .shell("cat /tmp/acked")
        .expect("acked")
        .lines()
        .map(str::to_string)
        .collect();
    let ids = new.psql("app", "SELECT id FROM orders").expect("ids");
    let present: std::collections::HashSet<&str> = ids.lines().collect();
    let lost = acked
        .iter()
        .filter(|id| !present.contains(id.as_str()))
        .count();
    assert!(
        acked.len() > 20 && lost == 0,
        "{} acknowledged, {lost} lost",
        acked.len()
    );
    eprintln!(
        "move: {requests} requests, 0 failed, slowest {slowest:?}; {} writes, 0 lost",
        acked.len()
    );

    // Writes on new; then the soak fires (the canary breaks on new while the app itself
    // keeps serving) and rolls the move back by itself: the same move backwards.
    new.psql("app", "INSERT INTO orders (note) VALUES ('made on new')")
        .expect("new takes writes");
    s.lab
        .host("new")
        .exec_ok("touch /tmp/break")
        .expect("break");
    let users = Users::start(s.front.listen);
    let out = run(&["apply", "--yes"]).expect(5);
    std::thread::sleep(Duration::from_millis(300));
    let (requests, failures, slowest) = users.stop();
    let text = out.stdout() + &out.stderr();
    assert!(text.contains("trigger fired"), "{text}");
    assert!(text.contains("back to"), "{text}");
    // A slow move back is diagnosed from the step's parts (in `text`) and both servers'
    // logs (a replication worker that failed and waited to restart, for one).
    let logs = || format!("old:\n{}\nnew:\n{}", old.server_log(), new.server_log());
    assert!(
        failures.is_empty(),
        "{} of {requests} requests failed during the move back: {failures:?}\n{text}\n{}",
        failures.len(),
        logs()
    );
    assert!(
        slowest < RELEASED_WITHIN,
        "a request waited {slowest:?}\n{text}\n{}",
        logs()
    );
    // Where a move back spends its hold, part by part (the step's own figures).
    let parts = text.lines().find(|l| l.contains("ok db-switch"));
    eprintln!("{}", parts.unwrap_or("(no db-switch line)"));
    assert!(get(s.front.listen, "/").contains("hello from old"));
    eprintln!("move back: {requests} requests, 0 failed, slowest {slowest:?}");
    let config = std::fs::read_to_string(
        s.lab
            .host("old")
            .fs_path(cutover_testbed::proxy::HAPROXY_CONFIG),
    )
    .unwrap();
    assert!(
        config.contains(&format!("server web {}", s.old_app.addr)),
        "the rollback put HAProxy's config file back:\n{config}"
    );
    // Old takes writes again, through a fresh session, and has new's write.
    old.shell(
        "psql -X -U writer app -c \"INSERT INTO orders (note) VALUES ('after the rollback')\"",
    )
    .expect("old takes writes again");
    assert_eq!(
        old.psql(
            "app",
            "SELECT count(*) FROM orders WHERE note = 'made on new'"
        )
        .expect("count")
        .trim(),
        "1",
        "the write made on new came back"
    );

    // The sync runs again: apply moves again, and this time the soak passes.
    s.lab.host("new").exec_ok("rm -f /tmp/break").expect("mend");
    let out = run(&["apply", "--yes"]);
    assert_eq!(
        out.code(),
        0,
        "apply after the rollback:\n{}{}",
        out.stdout(),
        out.stderr()
    );
    assert!(get(s.front.listen, "/").contains("hello from new"));
    assert_eq!(
        new.psql(
            "app",
            "SELECT count(*) FROM orders WHERE note = 'after the rollback'"
        )
        .expect("count")
        .trim(),
        "1",
        "old's write made after the rollback moved to new with the second move"
    );
}

/// The testbed's app, writing to PostgreSQL through a connection pool (as apps do), behind
/// HAProxy, under a client writing every 20 ms: the move loses no acknowledged write and
/// fails no request; the pooled connections of the old app do not stay read-only after the
/// move back (the soak's automatic rollback), and writes succeed on old again at once.
#[test]
fn a_real_app_moved_with_its_database_fails_no_write_and_gets_writes_back_after_a_rollback() {
    use cutover_testbed::load::{LoadOptions, WriteLoad};
    let super::moves_soak_failure::World {
        lab,
        old,
        new,
        front,
        dir,
        ..
    } = &super::moves_soak_failure::world();
    let plan_path = dir.path().join("cutover.toml");
    std::fs::write(&plan_path, plan(lab)).unwrap();
    let run = |args: &[&str]| {
        let mut c = cutover(&plan_path, args);
        c.env("DB_PW", PgServer::PASSWORD);
        Run(c.output().expect("run cutover"))
    };
    run(&["apply", "--yes", "--until", "sync"]).expect(0);
    let url = format!("http://{}", front.listen);
    // A write held longer than its deadline would count as failed: the deadline is past
    // `max_hold`, and the hold itself is bounded by `RELEASED_WITHIN` below.
    let waits_out_a_hold = LoadOptions {
        deadline: Duration::from_secs(12),
        ..LoadOptions::default()
    };
    let load = WriteLoad::start(&url, waits_out_a_hold).unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let out = run(&["apply", "--yes", "--until", "switch"]).expect(0);
    std::thread::sleep(Duration::from_secs(1));
    let summary = load.stop();
    let ids = |pg: &PgServer| -> Vec<i64> {
        pg.psql("app", "SELECT id FROM orders")
            .expect("ids")
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    };
    assert!(
        summary.failures().is_empty(),
        "failed writes during the move: {summary}\n{}",
        out.stdout()
    );
    assert!(summary.longest() < RELEASED_WITHIN, "{summary}");
    let missing = summary.missing_from(&ids(new));
    assert!(
        missing.is_empty(),
        "acknowledged writes missing on new: {missing:?}"
    );
    eprintln!(
        "real app, move: {} writes acknowledged, 0 failed, longest {:?}",
        summary.acknowledged().len(),
        summary.longest()
    );
    // The client only writes (POST): the held requests are counted as writes.
    let status = run(&["status"]).expect(0).stdout();
    let saw = status
        .lines()
        .find(|l| l.starts_with("users saw: move of `move`"))
        .unwrap_or_else(|| panic!("no window in status: {status}"));
    let writes_held: u64 = saw
        .split_once(" reads, ")
        .and_then(|(_, rest)| rest.split_once(" writes;"))
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("no writes held in: {saw}"));
    assert!(writes_held > 0, "no held request counted as a write: {saw}");
    assert!(
        saw.contains(" held: 0 reads, "),
        "a POST counted as a read: {saw}"
    );
    eprintln!("{saw}");
    // The hold and the database's freeze are journaled where they began and ended.
    let report: serde_json::Value =
        serde_json::from_str(&run(&["report", "--json"]).expect(0).stdout()).unwrap();
    let outages: Vec<&str> = report["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["event"] == "outage")
        .filter_map(|t| t["what"].as_str())
        .collect();
    assert!(
        outages.contains(&"requests held") && outages.contains(&"writes frozen"),
        "{outages:?}"
    );

    // The soak fires and moves everything back while the client keeps writing.
    lab.host("new").exec_ok("touch /tmp/break").expect("break");
    let load = WriteLoad::start(&url, waits_out_a_hold).unwrap();
    let out = run(&["apply", "--yes"]).expect(5);
    let back_at = unix_ms();
    std::thread::sleep(Duration::from_secs(2));
    let summary = load.stop();
    assert!(
        summary.failures().is_empty(),
        "failed writes during and after the move back: {summary}\n{}{}",
        out.stdout(),
        out.stderr()
    );
    // No request reaches new, or goes through a hold relay, once the move back is made:
    // connections HAProxy kept to either are let go of.
    let astray = [
        requests_to(lab, back_at, "to=127.0.0.1:"),
        requests_to(lab, back_at, &format!("to={}", new.address())),
    ]
    .concat();
    assert!(
        astray.is_empty(),
        "requests through a relay or to new after the move back:\n{}",
        astray.join("\n")
    );
    assert!(
        !requests_to(lab, back_at, &format!("to={}:", old.address())).is_empty(),
        "no request logged on its way to old after the move back"
    );
    let missing = summary.missing_from(&ids(old));
    assert!(
        missing.is_empty(),
        "acknowledged writes missing on old: {missing:?}"
    );
    eprintln!(
        "real app, move back: {} writes acknowledged, 0 failed, longest {:?}",
        summary.acknowledged().len(),
        summary.longest()
    );
}
