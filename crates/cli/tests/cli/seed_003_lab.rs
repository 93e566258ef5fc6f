//! The lab of seed 003's test (`seed_003.rs`): the runbook's world brought up on lab hosts,
//! the seed's plan adapted to the lab's slot, and what the test reads back.

use crate::fixture::Run;
use cutover_testbed::app::{start_with_database, AppDatabase, AppProcess};
use cutover_testbed::dns::{BindPair, TsigKey, Zone};
use cutover_testbed::load::LoadSummary;
use cutover_testbed::proxy::{self, Proxy};
use cutover_testbed::{Lab, PgOptions, PgServer};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) const SEED: &str = "examples/seeds/003-app-service-cname";
/// The runbook's downtime goal: "Total Downtime: ... (goal: < 15 minutes)".
pub(crate) const DOWNTIME_BUDGET_SECS: f64 = 15.0 * 60.0;

/// The seed's plan and smoke scenario copied into `dir` for this lab. The plan's `lab`
/// environment names the canonical lab (slot 0, `cutover-lab up`); this test's lab has its
/// own slot, so the slot-0 addresses and key directory are replaced by this lab's, and the
/// DNS primary (not part of environments) by the lab's BIND. The monitoring window and the
/// decommission waits are the lab environment's own vars (seconds). Each text replaced must
/// be in the plan, so a changed plan fails here instead of running half-adapted.
pub(crate) fn lab_copy(lab: &Lab, bind: Ipv4, dir: &Path) -> PathBuf {
    let seed = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(SEED);
    let mut plan = std::fs::read_to_string(seed.join("cutover.toml")).expect("read the plan");
    let replacements = [
        ("198.51.100.10", lab.host("old").address().to_string()),
        ("198.51.100.20", lab.host("new").address().to_string()),
        ("198.51.100.30", lab.host("edge").address().to_string()),
        ("/var/lib/cutover-lab/demo", lab.dir().display().to_string()),
        ("server = \"192.0.2.53\"", format!("server = \"{bind}\"")),
    ];
    // Through placeholders, so that a replaced value is never replaced again.
    for (i, (from, _)) in replacements.iter().enumerate() {
        assert!(
            plan.contains(from),
            "the seed plan no longer holds `{from}`"
        );
        plan = plan.replace(from, &format!("\u{0}{i}\u{0}"));
    }
    for (i, (_, to)) in replacements.iter().enumerate() {
        plan = plan.replace(&format!("\u{0}{i}\u{0}"), to);
    }
    std::fs::write(dir.join("cutover.toml"), plan).expect("write the plan");
    std::fs::copy(seed.join("smoke.hurl"), dir.join("smoke.hurl")).expect("copy smoke.hurl");
    dir.join("cutover.toml")
}

pub(crate) type Ipv4 = std::net::Ipv4Addr;

/// `cutover -e lab ARGS` on the plan, with the secrets in its environment.
pub(crate) fn cutover(plan: &Path, key: &TsigKey, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cutover"));
    c.arg("-f")
        .arg(plan)
        .args(["-e", "lab"])
        .args(args)
        .env("NO_COLOR", "1")
        .env("PALETAI_DB_PASSWORD", PgServer::PASSWORD)
        .env("PALETAI_TSIG_SECRET", &key.secret)
        .env_remove("CUTOVER_ENVIRONMENT")
        .stdin(Stdio::null());
    c
}

/// The body of `GET url` (empty when it does not answer).
pub(crate) fn get(url: &str) -> String {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "2", url])
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// api.paletai.com's CNAME as the lab's BIND answers it.
pub(crate) fn cname(bind: &BindPair) -> String {
    let out = Command::new("dig")
        .args([
            "+short",
            &format!("@{}", bind.primary.address),
            "api.paletai.com",
            "CNAME",
        ])
        .output()
        .expect("dig");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits up to 10 s until `GET url` says `expected`.
pub(crate) fn wait_for_body(url: &str, expected: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !get(url).contains(expected) {
        assert!(
            Instant::now() < deadline,
            "{url} did not say {expected:?} within 10 s: {:?}",
            get(url)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The value of measurement `name` of `step` in the Markdown report, summed over the
/// attempts the report lists.
pub(crate) fn measured(report: &str, step: &str, name: &str) -> f64 {
    let prefix = format!("| {step} | {name} | ");
    let values: Vec<f64> = report
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .filter_map(|rest| rest.split(' ').next().and_then(|v| v.parse().ok()))
        .collect();
    assert!(!values.is_empty(), "no {name} for {step} in:\n{report}");
    values.iter().sum()
}

/// The ids of the orders in `pg`'s `paletai` database.
pub(crate) fn order_ids(pg: &PgServer) -> Vec<i64> {
    pg.psql("paletai", "SELECT id FROM orders")
        .expect("orders")
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// The document store as the runbook counts it (`countDocuments` on users and games).
pub(crate) fn documents(pg: &PgServer) -> String {
    pg.psql(
        "paletai",
        "SELECT (SELECT count(*) FROM users) || ' users, ' || (SELECT count(*) FROM games) || ' games'",
    )
    .expect("count documents")
    .trim()
    .to_string()
}

/// The writes that failed and the time from the first failed send to the last one's answer:
/// what users writing through the switch saw (no write fails outside the switches here).
pub(crate) fn failed_writes(summary: &LoadSummary) -> (usize, Duration) {
    let failures = summary.failures();
    let first = failures.iter().map(|r| r.sent).min();
    let last = failures.iter().map(|r| r.answered).max();
    let window = match (first, last) {
        (Some(first), Some(last)) => last.saturating_sub(first),
        _ => Duration::ZERO,
    };
    (failures.len(), window)
}

/// Every write the load saw acknowledged is in `present`.
pub(crate) fn assert_all_acknowledged_in(summary: &LoadSummary, present: &[i64], server: &str) {
    let missing = summary.missing_from(present);
    assert!(
        summary.acknowledged().len() > 10 && missing.is_empty(),
        "{} acknowledged, missing on {server}: {missing:?}",
        summary.acknowledged().len()
    );
}

/// Two PostgreSQL 16 servers with logical replication; old holds the documents and the
/// app's table, the app's own role on both (cutover's `postgres` must stay writable on old
/// for the reverse subscription, so the app does not share it).
pub(crate) fn databases(lab: &Lab) -> (PgServer, PgServer) {
    let opts = PgOptions {
        logical: true,
        ..PgOptions::default()
    };
    let old = PgServer::start(lab.host("old"), 16, 5432, opts.clone()).expect("pg on old");
    let new = PgServer::start(lab.host("new"), 16, 5432, opts).expect("pg on new");
    for pg in [&old, &new] {
        pg.psql(
            "postgres",
            "CREATE ROLE app LOGIN SUPERUSER PASSWORD 'app-pw';",
        )
        .expect("role");
    }
    old.psql("postgres", "CREATE DATABASE paletai OWNER app;")
        .expect("db");
    old.psql(
        "paletai",
        "CREATE TABLE users (id text PRIMARY KEY, doc jsonb NOT NULL);
         CREATE TABLE games (id text PRIMARY KEY, doc jsonb NOT NULL);
         CREATE TABLE orders (id bigserial PRIMARY KEY, note text, created timestamptz DEFAULT now());
         ALTER TABLE users OWNER TO app; ALTER TABLE games OWNER TO app; ALTER TABLE orders OWNER TO app;
         INSERT INTO users SELECT 'u' || i, jsonb_build_object('email', 'user' || i || '@example.com', 'plan', 'free')
           FROM generate_series(1, 300) i;
         INSERT INTO games SELECT 'g' || i, jsonb_build_object('owner', 'u' || (i % 300 + 1), 'prompt', 'game ' || i,
           'image', 'https://paletai.blob.core.windows.net/game-images/g' || i || '.png', 'likes', i % 7)
           FROM generate_series(1, 120) i;",
    )
    .expect("documents");
    (old, new)
}

pub(crate) fn app_db(pg: &PgServer) -> AppDatabase {
    AppDatabase {
        url: format!("postgres://app@{}:5432/paletai", pg.address()),
        password: Some("app-pw".into()),
        ..AppDatabase::on(pg, "paletai")
    }
}

/// Runs `apply --no-wait` until the run ends, approving each gate it waits at as the
/// technical lead and waiting out the time gates; the last `apply`'s output.
pub(crate) fn apply_to_the_end(plan: &Path, key: &TsigKey) -> Run {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let run = Run(cutover(plan, key, &["apply", "--yes", "--no-wait"])
            .output()
            .expect("apply"));
        if run.code() != 7 {
            return run;
        }
        assert!(
            Instant::now() < deadline,
            "the run did not end:\n{}",
            run.stdout()
        );
        let out = run.stdout();
        let gate = out
            .split("cutover approve ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next());
        match gate {
            Some(gate) => {
                Run(cutover(plan, key, &["approve", gate, "--by", "tech-lead"])
                    .output()
                    .expect("approve"))
                .expect(0);
            }
            None => std::thread::sleep(Duration::from_millis(500)),
        }
    }
}

/// The runbook's world on a lab: the two App Services (the test app with its database on
/// `old` and `new`), api.paletai.com served by BIND on `edge`, the users' path (a Caddy on
/// `edge` resolving the name there every 200 ms), and the seed's plan copied for this lab.
pub(crate) struct World {
    pub(crate) old_pg: PgServer,
    pub(crate) new_pg: PgServer,
    pub(crate) old_app: AppProcess,
    pub(crate) new_app: AppProcess,
    /// The old app's directory on `old` (its pid file, its site, the backup).
    pub(crate) old_site: PathBuf,
    pub(crate) key: TsigKey,
    pub(crate) bind: BindPair,
    _users: Proxy,
    /// `http://EDGE:8000`: where users (and the test's writers) reach api.paletai.com.
    pub(crate) users_url: String,
    pub(crate) plan: PathBuf,
    _dir: tempfile::TempDir,
    /// Last: fields drop in order, and the lab's teardown ends whatever is left.
    _lab: Lab,
}

impl World {
    /// Brings the world up with old serving the users.
    pub(crate) fn start() -> World {
        let lab = Lab::builder()
            .host("old")
            .host("new")
            .host("edge")
            .start()
            .expect("lab");
        let (old_pg, new_pg) = databases(&lab);
        // The App Services: the app on each host with its own database. Old's pid is where the
        // lab's `az webapp stop` stand-in finds it.
        let old_app =
            start_with_database(lab.host("old"), 8080, &app_db(&old_pg)).expect("old app");
        let new_app =
            start_with_database(lab.host("new"), 8080, &app_db(&new_pg)).expect("new app");
        let old_site = lab.host("old").fs_path("/srv/emailgeniebackend");
        std::fs::create_dir_all(old_site.join("site")).expect("old site");
        std::fs::write(old_site.join("app.pid"), old_app.pid().to_string()).expect("pid file");

        // api.paletai.com CNAME old.app, served by BIND on the edge host; users reach the app
        // through a proxy that resolves the name there every 200 ms.
        let key = TsigKey::generate("cutover").expect("tsig key");
        let (old, new) = (lab.host("old").address(), lab.host("new").address());
        let zone = Zone::new("paletai.com", 1)
            .record_ttl("api", "CNAME", "old.app.paletai.com.", 1)
            .record("old.app", "A", &old.to_string())
            .record("new.app", "A", &new.to_string());
        let bind = BindPair::start(lab.host("edge"), None, &[zone], &key).expect("bind");
        let resolver: SocketAddr = bind.primary.socket().parse().expect("resolver");
        let users = proxy::start_caddy_dynamic(
            lab.host("edge"),
            8000,
            "api.paletai.com",
            8080,
            resolver,
            Duration::from_millis(200),
        )
        .expect("users' proxy");
        let users_url = format!("http://{}", users.listen);
        wait_for_body(&format!("{users_url}/"), "hello from old");

        let dir = tempfile::tempdir().expect("tempdir");
        let plan = lab_copy(&lab, bind.primary.address, dir.path());
        World {
            users_url,
            plan,
            old_site,
            _lab: lab,
            old_pg,
            new_pg,
            old_app,
            new_app,
            key,
            bind,
            _users: users,
            _dir: dir,
        }
    }
}
