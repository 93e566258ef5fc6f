//! Seed 000 (examples/seeds/000-vps-compose-move): the IGNY8 VPS-to-VPS move run with
//! `-e lab`. The old VPS runs the backend container behind Caddy with PostgreSQL 16 and
//! Redis; users write orders through whatever `api.igny8.com` resolves to at the lab's DNS
//! provider (a BIND primary on `ns`), re-resolving after each TTL. Stage 1 brings the stack
//! up on the new VPS (PostgreSQL 18) and checks it through the test subdomains; Stage 2
//! flips the A records. A new VPS failing after the flip is caught by the watch, which
//! flips back and moves Redis and PostgreSQL back with the writes made on new; applied
//! again, the move completes with every acknowledged write on the new VPS.

use crate::fixture::Run;
use cutover_testbed::dns::{BindPair, TsigKey, Zone};
use cutover_testbed::docker::DockerDaemon;
use cutover_testbed::redis_writer::{missing_writes, RedisWriter};
use cutover_testbed::{
    images, Lab, LabHost, PgOptions, PgServer, RedisOptions, RedisServer, RedisVersion,
};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SEED: &str = "000-vps-compose-move";
const DB_PASSWORD: &str = "igny8-db-pw";
const APP_DIR: &str = "/srv/data/app/igny8";
const PLUGINS: &str = "/srv/plugins/wordpress/source/igny8-wp-bridge";

/// The lab: Docker daemons before the lab, so they stop first.
struct World {
    daemons: Vec<DockerDaemon>,
    lab: Lab,
}

impl World {
    fn host(&self, name: &str) -> &LabHost {
        self.lab.host(name)
    }
    fn docker(&self, name: &str) -> &DockerDaemon {
        self.daemons
            .iter()
            .find(|d| d.host() == name)
            .expect("daemon")
    }
}

/// The seed's plan copied next to its compose file, fitted to this lab slot: the demo lab's
/// paths and addresses become this slot's, the DNS provider's server (not replaceable by an
/// environment yet) becomes the lab's BIND, and the runbook's waits are shortened.
fn seed_plan(dir: &Path, w: &World) {
    let seed = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/seeds")
        .join(SEED);
    let mut text = std::fs::read_to_string(seed.join("cutover.toml")).expect("seed plan");
    let ns = w.host("ns").address().to_string();
    let replacements = [
        (
            "/var/lib/cutover-lab/demo",
            w.lab.dir().display().to_string(),
        ),
        ("198.51.100.10", w.host("old").address().to_string()),
        ("198.51.100.20", w.host("new").address().to_string()),
        ("198.51.100.2\"", format!("{ns}\"")),
        ("server = \"203.0.113.53\"", format!("server = \"{ns}\"")),
        (
            "ttl = \"60s\"\n\n[[stages.steps]]\nid = \"ttl-lowered\"",
            "ttl = \"1s\"\n\n[[stages.steps]]\nid = \"ttl-lowered\"".into(),
        ),
        ("duration = \"24h\"", "duration = \"2s\"".into()),
        ("duration = \"2h\"", "duration = \"4s\"".into()),
        ("duration = \"48h\"", "duration = \"6s\"".into()),
    ];
    for (from, to) in replacements {
        assert!(text.contains(from), "the seed plan no longer has `{from}`");
        text = text.replace(from, &to);
    }
    std::fs::write(dir.join("cutover.toml"), text).expect("write plan");
    std::fs::copy(
        seed.join("docker-compose.app.yml"),
        dir.join("docker-compose.app.yml"),
    )
    .expect("copy compose file");
}

/// Caddy on `host` at port 80 for every name, the runbook's status path mapped to the
/// lab app's `/healthz`, proxying to the backend container's 127.0.0.1:8010.
fn start_caddy(host: &LabHost) -> std::process::Child {
    let conf = "{\n  admin localhost:2019\n  auto_https off\n}\nhttp:// {\n  rewrite /api/v1/system/status/ /healthz\n  reverse_proxy 127.0.0.1:8010\n}\n";
    std::fs::create_dir_all(host.fs_path("/tmp/caddy")).expect("caddy dir");
    std::fs::write(host.fs_path("/tmp/caddy/Caddyfile"), conf).expect("Caddyfile");
    let child = host
        .spawn("export HOME=/tmp/caddy XDG_CONFIG_HOME=/tmp/caddy/config XDG_DATA_HOME=/tmp/caddy/data; exec caddy run --config /tmp/caddy/Caddyfile --adapter caddyfile")
        .expect("caddy");
    let deadline = Instant::now() + Duration::from_secs(15);
    while TcpStream::connect((host.address(), 80)).is_err() {
        assert!(Instant::now() < deadline, "caddy does not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// `dig +short NAME A` at the lab's DNS server.
fn resolve(ns: Ipv4Addr, name: &str) -> Option<Ipv4Addr> {
    let out = Command::new("dig")
        .args(["+short", "+norecurse", "+time=1", "+tries=1"])
        .arg(format!("@{ns}"))
        .args([name, "A"])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

/// One POST of an order: the id acknowledged, or why not.
fn post_order(addr: Ipv4Addr) -> Result<i64, String> {
    let mut s = TcpStream::connect_timeout(&SocketAddr::from((addr, 80)), Duration::from_secs(2))
        .map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(3)))
        .map_err(|e| e.to_string())?;
    let body = r#"{"note":"order"}"#;
    s.write_all(
        format!(
            "POST /api/orders HTTP/1.1\r\nHost: api.igny8.com\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
    .map_err(|e| e.to_string())?;
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    let json = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    if !text.starts_with("HTTP/1.1 201") {
        return Err(text.lines().next().unwrap_or("no answer").to_string());
    }
    serde_json::from_str::<serde_json::Value>(json)
        .ok()
        .and_then(|v| v["id"].as_i64())
        .ok_or_else(|| format!("no id in {json}"))
}

/// One write: when it was sent, to which address, and the id acknowledged or why not.
type Attempt = (Instant, Ipv4Addr, Result<i64, String>);

/// A user: an order every 25 ms to whatever `api.igny8.com` resolves to, the answer cached
/// for the record's lowered TTL (1 s) as a resolver would.
struct Users {
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<Attempt>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Users {
    fn start(ns: Ipv4Addr) -> Users {
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (s2, l2) = (stop.clone(), log.clone());
        let thread = std::thread::spawn(move || {
            let mut cached: Option<(Instant, Ipv4Addr)> = None;
            while !s2.load(Ordering::Relaxed) {
                let now = Instant::now();
                if cached.is_none_or(|(at, _)| now.duration_since(at) >= Duration::from_secs(1)) {
                    if let Some(a) = resolve(ns, "api.igny8.com") {
                        cached = Some((now, a));
                    }
                }
                if let Some((_, addr)) = cached {
                    let r = post_order(addr);
                    l2.lock().unwrap().push((now, addr, r));
                }
                std::thread::sleep(Duration::from_millis(25));
            }
        });
        Users {
            stop,
            log,
            thread: Some(thread),
        }
    }

    /// Acknowledged order ids so far.
    fn acked(&self) -> Vec<i64> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(_, _, r)| r.as_ref().ok().copied())
            .collect()
    }

    /// The last `n` requests, for a failure message.
    fn last(&self, n: usize) -> String {
        let log = self.log.lock().unwrap();
        log.iter()
            .rev()
            .take(n)
            .map(|(_, a, r)| format!("{a}: {r:?}"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Acknowledged writes served by `addr` so far.
    fn acked_on(&self, addr: Ipv4Addr) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, a, r)| *a == addr && r.is_ok())
            .count()
    }

    /// Seconds from the first failed write to the last one, and how many failed.
    fn failure_window(&self) -> (f64, usize) {
        let log = self.log.lock().unwrap();
        let failed: Vec<Instant> = log
            .iter()
            .filter(|(_, _, r)| r.is_err())
            .map(|(t, _, _)| *t)
            .collect();
        match (failed.first(), failed.last()) {
            (Some(a), Some(b)) => (b.duration_since(*a).as_secs_f64(), failed.len()),
            _ => (0.0, 0),
        }
    }

    fn clear(&self) {
        self.log.lock().unwrap().clear();
    }

    fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A figure the report measured for `step`.
fn measured(report: &serde_json::Value, step: &str, name: &str) -> f64 {
    report["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|s| s["id"] == step))
        .and_then(|s| s["measurements"].as_array())
        .and_then(|ms| ms.iter().find(|m| m["name"] == name))
        .and_then(|m| m["value"].as_f64())
        .unwrap_or_else(|| panic!("no {name} for {step} in {report}"))
}

fn order_ids(pg: &PgServer) -> Vec<i64> {
    pg.psql("igny8_db", "SELECT id FROM orders")
        .expect("ids")
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

fn missing(acked: &[i64], present: &[i64]) -> Vec<i64> {
    let have: std::collections::HashSet<i64> = present.iter().copied().collect();
    acked
        .iter()
        .copied()
        .filter(|i| !have.contains(i))
        .collect()
}

fn post(addr: Ipv4Addr, path: &str) {
    let mut s = TcpStream::connect((addr, 80)).expect("connect");
    let _ = s.write_all(
        format!("POST {path} HTTP/1.1\r\nHost: api.igny8.com\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    let mut sink = String::new();
    let _ = s.read_to_string(&mut sink);
}

/// The old VPS as it runs before the move: files, the backend container behind Caddy.
fn old_vps(w: &World) {
    let old = w.host("old");
    old.exec_ok(&format!(
        "mkdir -p {APP_DIR}/media/uploads/2026 {PLUGINS} && \
         for i in $(seq 1 150); do head -c $((2048 + i * 53)) /dev/urandom > {APP_DIR}/media/uploads/2026/img-$i.jpg; done && \
         head -c 300000 /dev/urandom > {PLUGINS}/igny8-wp-bridge-1.8.4.zip && \
         printf 'Version: 1.8.4\\n' > {PLUGINS}/readme.txt"
    ))
    .expect("old files");
    images::app_named(
        old,
        w.docker("old"),
        "igny8/backend:1.8.4",
        "igny8_backend",
        "1.8.4",
    )
    .expect("backend image");
    let seed = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/seeds")
        .join(SEED);
    std::fs::copy(
        seed.join("docker-compose.app.yml"),
        old.fs_path(format!("{APP_DIR}/docker-compose.app.yml")),
    )
    .expect("old compose file");
    let a = old.address();
    std::fs::write(
        old.fs_path(format!("{APP_DIR}/.env")),
        format!("IGNY8_VERSION=1.8.4\nDATABASE_URL=postgresql://igny8:{DB_PASSWORD}@{a}:5432/igny8_db\nREDIS_HOST={a}\nREDIS_PORT=6379\nALLOWED_HOSTS=app.igny8.com,api.igny8.com,igny8.com\n"),
    )
    .expect("old .env");
    w.docker("old")
        .docker(&format!(
            "compose --project-directory {APP_DIR} -f {APP_DIR}/docker-compose.app.yml -p igny8-app up -d --wait"
        ))
        .expect("old stack");
}

#[test]
fn seed_000_vps_move_rolls_back_a_failing_new_vps_then_completes() {
    let started = Instant::now();
    let lab = Lab::builder()
        .host("old")
        .host("new")
        .host("ns")
        .start()
        .expect("lab");
    let daemons = ["old", "new"]
        .iter()
        .map(|h| DockerDaemon::start(lab.host(h)).expect("dockerd"))
        .collect();
    let w = World { daemons, lab };
    let (old_a, new_a, ns_a) = (
        w.host("old").address(),
        w.host("new").address(),
        w.host("ns").address(),
    );
    // The DNS provider: the real names on the old VPS with the TTL they had (3 s here).
    let key = TsigKey::generate("igny8-cutover").expect("tsig");
    let zone = Zone::new("igny8.com", 300)
        .record_ttl("@", "A", &old_a.to_string(), 3)
        .record_ttl("app", "A", &old_a.to_string(), 3)
        .record_ttl("api", "A", &old_a.to_string(), 3);
    let _bind = BindPair::start(w.host("ns"), None, &[zone], &key).expect("bind");
    // PostgreSQL 16 on old, 18 on new; the app's own role igny8.
    let opts = PgOptions {
        logical: true,
        ..PgOptions::default()
    };
    let pg_old = PgServer::start(w.host("old"), 16, 5432, opts.clone()).expect("pg16");
    let pg_new = PgServer::start(w.host("new"), 18, 5432, opts).expect("pg18");
    for pg in [&pg_old, &pg_new] {
        pg.psql(
            "postgres",
            &format!("CREATE ROLE igny8 LOGIN SUPERUSER PASSWORD '{DB_PASSWORD}';"),
        )
        .expect("role");
    }
    pg_old
        .psql("postgres", "CREATE DATABASE igny8_db OWNER igny8;")
        .expect("db");
    pg_old
        .psql("igny8_db", "CREATE TABLE orders (id bigserial PRIMARY KEY, note text, created timestamptz DEFAULT now()); ALTER TABLE orders OWNER TO igny8;")
        .expect("schema");
    let redis = |h: &str| {
        RedisServer::start(
            w.host(h),
            RedisVersion::Redis70,
            6379,
            RedisOptions::default(),
        )
        .expect("redis")
    };
    let (redis_old, _redis_new) = (redis("old"), redis("new"));
    redis_old
        .pipe(&cutover_testbed::redis_data::mixed(0..300))
        .expect("redis data");
    old_vps(&w);
    let mut caddies = [start_caddy(w.host("old")), start_caddy(w.host("new"))];

    let users = Users::start(ns_a);
    let cache = RedisWriter::start(
        SocketAddr::from((old_a, 6379)),
        RedisServer::PASSWORD,
        1,
        "celery",
    );
    let dir = tempfile::tempdir().expect("tempdir");
    seed_plan(dir.path(), &w);
    let plan = dir.path().join("cutover.toml");
    let cutover = |args: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_cutover"));
        c.args(["-e", "lab", "-f"])
            .arg(&plan)
            .args(args)
            .env("NO_COLOR", "1")
            .env("IGNY8_PG_ADMIN_PASSWORD", PgServer::PASSWORD)
            .env("IGNY8_DB_PASSWORD", DB_PASSWORD)
            .env("IGNY8_REDIS_PASSWORD", RedisServer::PASSWORD)
            .env("IGNY8_TSIG_SECRET", &key.secret);
        c
    };
    let run = |args: &[&str]| Run(cutover(args).output().expect("cutover"));

    // Stage 1, up to the manual acceptance gate.
    let out = run(&["apply", "--yes", "--no-wait"]).expect(7).stdout();
    for line in [
        "ok test-subdomains:",
        "ok images:",
        "ok media-proof:",
        "ok plugins-proof:",
        "ok stack:",
        "ok test-domains:",
        "ok stage1-watch:",
    ] {
        assert!(out.contains(line), "no `{line}` in:\n{out}");
    }
    assert_eq!(resolve(ns_a, "test-api.igny8.com"), Some(new_a));
    assert_eq!(
        resolve(ns_a, "api.igny8.com"),
        Some(old_a),
        "production still on old"
    );
    run(&[
        "approve",
        "stage1-accepted",
        "--by",
        "ops",
        "--comment",
        "manual tests passed",
    ])
    .expect(0);

    // Stage 2 with a new VPS that breaks after the flip: the watch flips back by itself.
    let apply = cutover(&["apply", "--yes"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("apply");
    let deadline = Instant::now() + Duration::from_secs(90);
    while users.acked_on(new_a) < 20 {
        assert!(
            Instant::now() < deadline,
            "users never wrote through the new VPS"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    post(new_a, "/_control/fail");
    let failed = Run(apply.wait_with_output().expect("apply")).expect(5);
    let err = failed.stderr();
    assert!(
        err.contains("trigger fired: api_live fails 3 times in a row"),
        "{err}"
    );
    assert_eq!(
        resolve(ns_a, "api.igny8.com"),
        Some(old_a),
        "the A record is back on old"
    );
    let before = users.acked_on(old_a);
    let deadline = Instant::now() + Duration::from_secs(30);
    while users.acked_on(old_a) < before + 20 {
        assert!(
            Instant::now() < deadline,
            "old takes no writes after the rollback"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let lost = missing(&users.acked(), &order_ids(&pg_old));
    assert!(
        lost.is_empty(),
        "orders acknowledged but not on old after the rollback: {lost:?}"
    );

    // Fixed, applied again: the flip completes and stays.
    post(new_a, "/_control/ok");
    let acked_first = users.acked();
    users.clear();
    let out = run(&["apply", "--yes"]).expect(0).stdout();
    for line in [
        "ok db-switch:",
        "ok redis-switch:",
        "ok dns-flip:",
        "ok watch:",
        "ok raise-ttl:",
        "ok remove-test-subdomains:",
    ] {
        assert!(out.contains(line), "no `{line}` in:\n{out}");
    }
    assert_eq!(resolve(ns_a, "api.igny8.com"), Some(new_a));
    assert_eq!(
        resolve(ns_a, "test-api.igny8.com"),
        None,
        "test subdomains removed"
    );
    let before = users.acked_on(new_a);
    let deadline = Instant::now() + Duration::from_secs(30);
    while users.acked_on(new_a) < before + 20 {
        assert!(
            Instant::now() < deadline,
            "new takes no writes:\n{}",
            users.last(8)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (window, failures) = users.failure_window();
    let acked = users.acked();
    users.stop();
    let cache_report = cache.stop();
    let lost = missing(&[acked_first, acked.clone()].concat(), &order_ids(&pg_new));
    assert!(
        lost.is_empty(),
        "orders acknowledged but not on new: {lost:?}"
    );
    let lost_keys = missing_writes(
        &cache_report,
        SocketAddr::from((new_a, 6379)),
        RedisServer::PASSWORD,
        "celery",
    )
    .expect("redis");
    assert!(
        lost_keys.is_empty(),
        "redis writes missing on new: {lost_keys:?}"
    );
    // The runbook's budget for the flip: under 2 minutes of user-facing trouble.
    assert!(window < 120.0, "writes failed for {window:.1} s");
    let report: serde_json::Value =
        serde_json::from_str(&run(&["report", "--format", "json"]).expect(0).stdout())
            .expect("json");
    // The report is complete: every step of the plan applied, the run completed, both
    // proofs there; the data switches' write windows (journaled) within the budget.
    let steps = report["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 23, "{report}");
    for s in steps {
        assert_eq!(s["outcome"], "applied", "{s}");
    }
    assert_eq!(report["outcome"], "completed", "{}", report["outcome"]);
    assert_eq!(
        report["proofs"].as_array().map(Vec::len),
        Some(2),
        "{}",
        report["proofs"]
    );
    let freeze = measured(&report, "db-switch", "freeze_window");
    let pause = measured(&report, "redis-switch", "pause_window");
    assert!(freeze < 120.0 && pause < 120.0, "{freeze} s / {pause} s");
    for c in &mut caddies {
        let _ = c.kill();
        let _ = c.wait();
    }
    eprintln!(
        "seed 000 fault run:\n{}\n{}",
        failed.stdout(),
        failed.stderr()
    );
    eprintln!("seed 000 final run:\n{out}");
    eprintln!(
        "seed 000: {} orders acknowledged in the final flip, {failures} writes failed over {window:.2} s; PostgreSQL frozen {freeze:.3} s, Redis paused {pause:.3} s; test took {:?}",
        acked.len(),
        started.elapsed()
    );
}

#[test]
fn seed_000_plan_checks_offline_in_production_and_on_the_lab() {
    let plan = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/seeds")
        .join(SEED)
        .join("cutover.toml");
    for env in [&[][..], &["-e", "lab"][..]] {
        let out = Command::new(env!("CARGO_BIN_EXE_cutover"))
            .args(env)
            .arg("-f")
            .arg(&plan)
            .args(["check", "--offline"])
            .env("NO_COLOR", "1")
            .output()
            .expect("cutover check");
        let run = Run(out).expect(0);
        let stdout = run.stdout();
        // The data steps' declared store limits come first, as notes with their hints.
        assert!(
            stdout.contains("\n! step db-sync     store limit      ")
                && stdout.contains("\n! step redis-sync  store limit      "),
            "{stdout}"
        );
        let checks: String = stdout
            .lines()
            .filter(|l| !l.starts_with("! ") && !l.starts_with("  hint: "))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(
            checks,
            format!(
                "ok {} is valid\n\u{2713} dns registrar    provider can     every record fits what `rfc2136` can do\n",
                plan.display()
            ),
            "{env:?}"
        );
    }
}
