//! Seed runbook 001 (a phased go-live with staging, approvals, backups and automatic
//! rollback triggers) run end to end as its plan,
//! `examples/seeds/001-phased-go-live/cutover.toml`, in its `lab` environment: the
//! marketplace's app and PostgreSQL on `local` (old) and `production` (new), the edge
//! (HAProxy) on old, the team's chat webhook on the controller. The data is imported and
//! kept in sync; the run stops at the manual approval gate until `cutover approve`; the
//! database is backed up, then the database and the traffic go live in one move under users
//! writing through the edge; the data is verified and the launch announced. Then
//! production's health fails and the automatic rollback triggers move everything back
//! (nothing lost, the old side serves); healed, the same plan goes live again and a critical
//! error in the app's log moves it back too; applied once more, it monitors and finishes.

use super::notify::Receiver;
use super::seed_002::{cutover, lab_copy, seed_dir, start_lb};
use super::soak::{control, get};
use cutover_testbed::app::{start_with_database, AppDatabase};
use cutover_testbed::load::{LoadOptions, LoadSummary, WriteLoad};
use cutover_testbed::{Lab, PgOptions, PgServer};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SEED: &str = "001-phased-go-live";
const APP_PW: &str = "vendure-pw";

fn order_ids(pg: &PgServer, db: &str) -> Vec<i64> {
    pg.psql(db, "SELECT id FROM orders")
        .expect("ids")
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

fn assert_orders_on(load: &LoadSummary, pg: &PgServer, when: &str) {
    let missing = load.missing_from(&order_ids(pg, "vendure"));
    assert!(
        missing.is_empty(),
        "{when}: {} of {} acknowledged orders missing on {}: {missing:?}",
        missing.len(),
        load.acknowledged().len(),
        pg.host()
    );
}

#[test]
fn seed_001_goes_live_after_approval_and_backup_rolls_back_on_its_triggers_and_again() {
    let started = Instant::now();
    let lab = Lab::start().expect("lab");
    let opts = PgOptions {
        logical: true,
        ..PgOptions::default()
    };
    let (old, new) = std::thread::scope(|s| {
        let a = s.spawn(|| PgServer::start(lab.host("old"), 16, 5432, opts.clone()));
        let b = s.spawn(|| PgServer::start(lab.host("new"), 16, 5432, opts.clone()));
        (
            a.join().expect("old").expect("pg on local"),
            b.join().expect("new").expect("pg on production"),
        )
    });
    for pg in [&old, &new] {
        pg.psql(
            "postgres",
            &format!("CREATE ROLE vendure LOGIN SUPERUSER PASSWORD '{APP_PW}';"),
        )
        .expect("role");
    }
    old.psql("postgres", "CREATE DATABASE vendure OWNER vendure;")
        .expect("db");
    old.psql(
        "vendure",
        "CREATE TABLE orders (id bigserial PRIMARY KEY, note text, created timestamptz NOT NULL DEFAULT now()); ALTER TABLE orders OWNER TO vendure; CREATE TABLE vendor (id int PRIMARY KEY, name text); INSERT INTO vendor SELECT g, 'vendor ' || g FROM generate_series(1, 50) g; INSERT INTO orders (note) SELECT 'before ' || g FROM generate_series(1, 1000) g;",
    )
    .expect("schema");
    let app_db = |pg: &PgServer| AppDatabase {
        url: format!("postgres://vendure@{}:5432/vendure", pg.address()),
        password: Some(APP_PW.into()),
        ..AppDatabase::on(pg, "vendure")
    };
    let old_app = start_with_database(lab.host("old"), 3000, &app_db(&old)).expect("app on local");
    let new_app =
        start_with_database(lab.host("new"), 3000, &app_db(&new)).expect("app on production");
    let edge = start_lb(&lab, old_app.addr);
    let team = Receiver::start(false);
    let webhook = format!("http://127.0.0.1:{}/services/team", team.port);
    let dir = tempfile::tempdir().expect("tempdir");
    let plan = lab_copy(SEED, &lab, dir.path());
    let env = [
        ("DB_PASSWORD", PgServer::PASSWORD),
        ("TEAM_WEBHOOK_URL", webhook.as_str()),
    ];
    let run = |args: &[&str]| {
        let mut all = vec!["-e", "lab"];
        all.extend_from_slice(args);
        cutover(&plan, &env, &all)
    };
    // The plan as checked in passes the offline check in production, staging and the lab.
    let checked_in = seed_dir(SEED).join("cutover.toml");
    for e in [&[][..], &["-e", "staging"][..], &["-e", "lab"][..]] {
        let mut args = e.to_vec();
        args.extend(["check", "--offline"]);
        let out = cutover(&checked_in, &[], &args);
        assert_eq!(
            (out.checks(), out.stderr()),
            (
                format!("ok {} is valid\n", checked_in.display()),
                String::new()
            )
        );
    }

    // Phase 4: the data imported to production and kept in sync; production functional.
    run(&["apply", "--yes", "--until", "data-migration"]).expect(0);
    // "Manual Approval Required": the run stops at the gate until someone approves.
    let held = run(&["apply", "--yes", "--no-wait"]).expect(7);
    assert!(
        held.stdout().contains("production-approval"),
        "{}",
        held.stdout()
    );
    let status: serde_json::Value =
        serde_json::from_str(&run(&["status", "--json"]).expect(0).stdout()).expect("json");
    assert!(
        status["waiting_for"]
            .as_str()
            .is_some_and(|w| w.starts_with("production-approval")),
        "{status}"
    );
    run(&[
        "approve",
        "production-approval",
        "--by",
        "release-manager",
        "--comment",
        "staging run verified",
    ])
    .expect(0);

    // Backup, then the go-live move under users writing orders through the edge.
    let url = format!("http://{}", edge.listen);
    let wait = LoadOptions {
        deadline: Duration::from_secs(10),
        ..LoadOptions::default()
    };
    let users = WriteLoad::start(&url, wait).expect("users");
    users
        .wait_for_acknowledged(10, Duration::from_secs(10))
        .expect("the users' writes go through");
    let live = run(&["apply", "--yes", "--until", "launch"]).expect(0);
    std::thread::sleep(Duration::from_millis(500));
    let first = users.stop();
    let text = live.stdout();
    assert!(text.contains("with db-switch in one move"), "{text}");
    assert!(get(edge.listen, "/").contains("hello from new"));
    assert!(
        first.failures().is_empty(),
        "writes failed during the go-live: {first}\n{text}"
    );
    assert_orders_on(&first, &new, "after the go-live");
    // The backup holds the data as it was before the go-live, on the backup server.
    let backed_up = new
        .psql("vendure_before_golive_lab", "SELECT count(*) FROM vendor")
        .expect("the backup");
    assert_eq!(backed_up.trim(), "50");
    std::thread::sleep(Duration::from_secs(1));
    run(&["apply", "--yes", "--until", "verify"]).expect(0);

    // Production's health fails while the automatic rollback triggers watch.
    control(new_app.addr, "fail");
    let users = WriteLoad::start(&url, wait).expect("users");
    let back = run(&["apply", "--yes"]).expect(5);
    std::thread::sleep(Duration::from_millis(500));
    let second = users.stop();
    let text = back.stdout() + &back.stderr();
    assert!(
        text.contains("trigger fired: site_health fails 3 times in a row"),
        "{text}"
    );
    assert!(text.contains("with db-switch undone in one move"), "{text}");
    assert!(get(edge.listen, "/").contains("hello from old"));
    assert_orders_on(
        &first,
        &old,
        "after the rollback (writes made on production)",
    );
    assert_orders_on(&second, &old, "after the rollback (second load)");
    assert!(
        second.acknowledged().len() > 5,
        "the old side takes writes again: {second}"
    );

    // Healed, the same plan goes live again (already approved), but a critical error in
    // production's log (the lab's stand-in for `journalctl -fu vendure`) rolls it back too.
    control(new_app.addr, "ok");
    let log = lab.host("new").fs_path("/tmp/vendure.log");
    std::fs::write(&log, "").expect("the app's log");
    let apply = Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args([
            "-f",
            plan.to_str().expect("utf-8 path"),
            "-e",
            "lab",
            "apply",
            "--yes",
        ])
        .envs(env)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("apply");
    let deadline = Instant::now() + Duration::from_secs(60);
    // The soak follows the log from when it starts: write once its `tail` runs.
    let tail = "pgrep -f '[t]ail -n 0 -F /tmp/vendure.log'";
    while !lab.host("new").exec(tail).is_ok_and(|o| o.status.success()) {
        assert!(Instant::now() < deadline, "the soak never followed the log");
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(&log, "CRITICAL payment provider unreachable\n").expect("an error");
    let out = apply.wait_with_output().expect("apply");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(5), "{text}");
    assert!(text.contains("trigger fired"), "{text}");
    assert!(
        text.contains("CRITICAL payment provider unreachable"),
        "{text}"
    );
    assert!(get(edge.listen, "/").contains("hello from old"));
    // Fixed, the go-live is applied once more and this time the window passes.
    run(&["apply", "--yes"]).expect(0);
    assert!(get(edge.listen, "/").contains("hello from new"));
    assert_orders_on(&second, &new, "after the second go-live");

    // The record: the approval with who and why, every step, no failed request at go-live.
    let json: serde_json::Value =
        serde_json::from_str(&run(&["report", "--format", "json"]).expect(0).stdout())
            .expect("json report");
    assert_eq!(json["outcome"], "completed", "{json}");
    let steps = json["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 14, "every step of the plan is in the record");
    for step in steps {
        assert!(
            step["outcome"] == "applied" || step["outcome"] == "approved",
            "{step}"
        );
    }
    let md = run(&["report"]).expect(0).stdout();
    assert!(md.contains("## Proof: data-verified"), "{md}");
    assert!(!md.contains(PgServer::PASSWORD) && !md.contains(&webhook));
    assert_eq!(json["approvals"][0]["by"], "release-manager", "{json}");
    assert_eq!(json["approvals"][0]["comment"], "staging run verified");
    let windows = json["users_saw"].as_array().expect("users_saw");
    let last = windows
        .iter()
        .rev()
        .find(|w| w["step"] == "go-live" && w["held_seconds"].is_number())
        .expect("a go-live move");
    eprintln!("seed 001: users saw {}", json["users_saw"]);
    assert_eq!(last["failed"], 0, "{last}");
    assert!(
        last["held_seconds"].as_f64().is_some_and(|s| s < 10.0),
        "{last}"
    );
    // The team heard of the start, each gate and rollback, the launch and the success.
    let said = team.bodies().join("\n");
    for text in [
        "Go-live of stoneyoneburn.example.com starting",
        "stoneyoneburn.example.com is live on production",
        "Go-live of stoneyoneburn.example.com done",
    ] {
        assert!(said.contains(text), "{text} not in:\n{said}");
    }
    assert!(!said.contains(PgServer::PASSWORD));
    eprintln!("seed 001: whole test {:?}", started.elapsed());
}
