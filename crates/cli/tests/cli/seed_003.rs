//! Seed 003 (`examples/seeds/003-app-service-cname`): the PaletAI backend moved with its
//! document store (PostgreSQL JSONB standing in for the managed MongoDB) and its custom
//! domain switched by CNAME, on the lab, under a client writing through the users' path (a
//! proxy resolving api.paletai.com through the lab's BIND). First with a fault the runbook
//! plans for, the new app's health failing after the CNAME moved: the monitoring rolls the
//! CNAME and the database back by itself and old serves again with every write. Then the
//! same run again to the end: staged decommission and sign-off.

use crate::fixture::Run;
use cutover_testbed::app::{start_with_database, AppDatabase};
use cutover_testbed::dns::{BindPair, TsigKey, Zone};
use cutover_testbed::load::{LoadOptions, LoadSummary, WriteLoad};
use cutover_testbed::{proxy, Lab, PgOptions, PgServer};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SEED: &str = "examples/seeds/003-app-service-cname";
/// The runbook's downtime goal: "Total Downtime: ... (goal: < 15 minutes)".
const DOWNTIME_BUDGET_SECS: f64 = 15.0 * 60.0;

/// The seed's plan and smoke scenario copied into `dir` for this lab. The plan's `lab`
/// environment names the canonical lab (slot 0, `cutover-lab up`); this test's lab has its
/// own slot, so the slot-0 addresses and key directory are replaced by this lab's, and the
/// DNS primary (not part of environments) by the lab's BIND. The monitoring window and the
/// decommission waits are the lab environment's own vars (seconds). Each text replaced must
/// be in the plan, so a changed plan fails here instead of running half-adapted.
fn lab_copy(lab: &Lab, bind: Ipv4, dir: &Path) -> PathBuf {
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

type Ipv4 = std::net::Ipv4Addr;

/// `cutover -e lab ARGS` on the plan, with the secrets in its environment.
fn cutover(plan: &Path, key: &TsigKey, args: &[&str]) -> Command {
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
fn get(url: &str) -> String {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "2", url])
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// api.paletai.com's CNAME as the lab's BIND answers it.
fn cname(bind: &BindPair) -> String {
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
fn wait_for_body(url: &str, expected: &str) {
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
fn measured(report: &str, step: &str, name: &str) -> f64 {
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
fn order_ids(pg: &PgServer) -> Vec<i64> {
    pg.psql("paletai", "SELECT id FROM orders")
        .expect("orders")
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// The document store as the runbook counts it (`countDocuments` on users and games).
fn documents(pg: &PgServer) -> String {
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
fn failed_writes(summary: &LoadSummary) -> (usize, Duration) {
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
fn assert_all_acknowledged_in(summary: &LoadSummary, present: &[i64], server: &str) {
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
fn databases(lab: &Lab) -> (PgServer, PgServer) {
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

fn app_db(pg: &PgServer) -> AppDatabase {
    AppDatabase {
        url: format!("postgres://app@{}:5432/paletai", pg.address()),
        password: Some("app-pw".into()),
        ..AppDatabase::on(pg, "paletai")
    }
}

/// Runs `apply --no-wait` until the run ends, approving each gate it waits at as the
/// technical lead and waiting out the time gates; the last `apply`'s output.
fn apply_to_the_end(plan: &Path, key: &TsigKey) -> Run {
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

#[test]
fn seed_003_moves_app_documents_and_cname_rolls_back_a_failing_new_app_then_decommissions() {
    let started = Instant::now();
    let lab = Lab::builder()
        .host("old")
        .host("new")
        .host("edge")
        .start()
        .expect("lab");
    let (old_pg, new_pg) = databases(&lab);
    // The App Services: the app on each host with its own database. Old's pid is where the
    // lab's `az webapp stop` stand-in finds it.
    let old_app = start_with_database(lab.host("old"), 8080, &app_db(&old_pg)).expect("old app");
    let new_app = start_with_database(lab.host("new"), 8080, &app_db(&new_pg)).expect("new app");
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
    Run(cutover(&plan, &key, &["check", "--offline"])
        .output()
        .expect("check"))
    .expect(0);

    // Pre-migration, deployment and the database sync, while old serves.
    Run(
        cutover(&plan, &key, &["apply", "--yes", "--until", "database"])
            .output()
            .expect("apply"),
    )
    .expect(0);
    let load = WriteLoad::start(&users_url, LoadOptions::default()).expect("load");
    load.wait_for_acknowledged(20, Duration::from_secs(10))
        .expect("writes through the users' path");

    // The fault: once the monitoring starts, the new app's health fails.
    let mut apply = cutover(&plan, &key, &["apply", "--yes", "--no-wait"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("apply");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = Run(cutover(&plan, &key, &["status"]).output().expect("status"));
        // `api-on-new` is the step right before the monitoring: the soak is starting.
        if status
            .stdout()
            .lines()
            .any(|l| l.contains(" api-on-new ") && l.contains(" applied "))
        {
            break;
        }
        assert!(
            apply.try_wait().expect("apply").is_none(),
            "apply ended before the monitoring started:\n{}",
            status.stdout()
        );
        assert!(Instant::now() < deadline, "no monitoring within 60 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(get(&format!("{users_url}/")).contains("hello from new"));
    Command::new("curl")
        .args([
            "-fsS",
            "-X",
            "POST",
            &format!("{}/_control/fail", new_app.url()),
        ])
        .output()
        .expect("break the new app");
    let out = apply.wait_with_output().expect("apply");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(5),
        "the monitoring's rollback:\n{text}"
    );
    assert!(text.contains("trigger fired"), "{text}");
    // The CNAME is back on old, old serves and takes writes again, and holds every write
    // acknowledged so far.
    assert!(
        cname(&bind).contains("old.app.paletai.com."),
        "{}",
        cname(&bind)
    );
    wait_for_body(&format!("{users_url}/"), "hello from old");
    let before = load.progress().acknowledged;
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        load.progress().acknowledged > before + 10,
        "old takes no writes after the rollback: {:?}",
        load.progress()
    );
    let summary = load.stop();
    assert_all_acknowledged_in(&summary, &order_ids(&old_pg), "old after the rollback");
    assert_eq!(documents(&old_pg), "300 users, 120 games");
    eprintln!(
        "seed 003, fault: rolled back by the monitoring; {} writes acknowledged, all on old",
        summary.acknowledged().len()
    );

    // The new app mended, the same run goes on: the switch again, the monitoring passes,
    // the decommission gates and the sign-off.
    Command::new("curl")
        .args([
            "-fsS",
            "-X",
            "POST",
            &format!("{}/_control/ok", new_app.url()),
        ])
        .output()
        .expect("mend the new app");
    let load = WriteLoad::start(&users_url, LoadOptions::default()).expect("load");
    load.wait_for_acknowledged(20, Duration::from_secs(10))
        .expect("writes through the users' path");
    let done = apply_to_the_end(&plan, &key).expect(0);
    let summary2 = load.stop();
    assert!(get(&format!("{users_url}/")).contains("hello from new"));
    assert!(
        cname(&bind).contains("new.app.paletai.com."),
        "{}",
        cname(&bind)
    );
    let on_new = order_ids(&new_pg);
    assert_all_acknowledged_in(&summary, &on_new, "new (writes of the first attempt)");
    assert_all_acknowledged_in(&summary2, &on_new, "new");
    assert_eq!(documents(&new_pg), "300 users, 120 games");
    // Decommissioned: old app stopped and deleted, old database dropped; the backup kept.
    assert!(get(&old_app.url()).is_empty(), "the old app still answers");
    assert!(!old_site.join("site").exists());
    assert!(
        std::fs::read_dir(old_site.join("backup"))
            .expect("backup dir")
            .any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".dump"))),
        "no backup"
    );
    assert!(
        old_pg
            .psql(
                "postgres",
                "SELECT count(*) FROM pg_database WHERE datname = 'paletai'"
            )
            .expect("databases")
            .trim()
            == "0",
        "the old database was not dropped"
    );

    // The report is complete: every step of the plan applied in this run (the switch and
    // its monitoring again after the rollback), the rollback's evidence kept.
    let json = Run(cutover(&plan, &key, &["report", "--format", "json"])
        .output()
        .expect("report"))
    .expect(0)
    .stdout();
    let json: serde_json::Value = serde_json::from_str(&json).expect("report JSON");
    let outcomes: Vec<(String, String)> = json["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| {
            let text = |k: &str| s[k].as_str().unwrap_or_default().to_string();
            (text("id"), text("outcome"))
        })
        .collect();
    let plan_text = std::fs::read_to_string(&plan).expect("plan");
    let step_ids: Vec<&str> = plan_text
        .lines()
        .filter_map(|l| l.strip_prefix("id = \""))
        .filter_map(|l| l.strip_suffix('"'))
        .collect();
    assert_eq!(step_ids.len(), 21, "{step_ids:?}");
    for id in &step_ids {
        assert!(
            outcomes.iter().any(|(s, o)| s == id && o == "applied"),
            "step {id} is not applied in the report: {outcomes:?}"
        );
    }
    assert!(json.to_string().contains("trigger"), "{json}");
    let report = Run(cutover(&plan, &key, &["report"]).output().expect("report")).expect(0);
    let report = report.stdout();
    // The plan's own measure (its [downtime] prober on the users' health URL) and the
    // writers': both within the runbook's budget.
    let unavailable = measured(&report, "db-switch", "downtime_unavailable")
        + measured(&report, "dns-cutover", "downtime_unavailable");
    let (failed, window) = failed_writes(&summary2);
    assert!(
        unavailable < DOWNTIME_BUDGET_SECS && window.as_secs_f64() < DOWNTIME_BUDGET_SECS,
        "{unavailable} s unavailable, writes failing for {window:?}: over the runbook's 15 minutes:\n{report}"
    );
    eprintln!(
        "seed 003: {} + {} writes acknowledged, 0 lost; switch: health unavailable {unavailable:.2} s at the users' path, {failed} writes failed over {window:?} (budget 15 min); {:.0} s wall\n{}",
        summary.acknowledged().len(),
        summary2.acknowledged().len(),
        started.elapsed().as_secs_f64(),
        done.stdout().lines().last().unwrap_or_default()
    );
}
