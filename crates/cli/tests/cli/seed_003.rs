//! Seed 003 (`examples/seeds/003-app-service-cname`): the PaletAI backend moved with its
//! document store (PostgreSQL JSONB standing in for the managed MongoDB) and its custom
//! domain switched by CNAME, on the lab, under a client writing through the users' path (a
//! proxy resolving api.paletai.com through the lab's BIND). First with a fault the runbook
//! plans for, the new app's health failing after the CNAME moved: the monitoring rolls the
//! CNAME and the database back by itself and old serves again with every write. Then the
//! same run again to the end: staged decommission and sign-off.

use super::seed_003_lab::*;
use crate::fixture::Run;
use cutover_testbed::load::{LoadOptions, WriteLoad};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn seed_003_moves_app_documents_and_cname_rolls_back_a_failing_new_app_then_decommissions() {
    let started = Instant::now();
    let w = World::start();
    let users_url = &w.users_url;

    Run(cutover(&w.plan, &w.key, &["check", "--offline"])
        .output()
        .expect("check"))
    .expect(0);

    // Pre-migration, deployment and the database sync, while old serves.
    Run(
        cutover(&w.plan, &w.key, &["apply", "--yes", "--until", "database"])
            .output()
            .expect("apply"),
    )
    .expect(0);
    let load = WriteLoad::start(&w.users_url, LoadOptions::default()).expect("load");
    load.wait_for_acknowledged(20, Duration::from_secs(10))
        .expect("writes through the users' path");

    // The fault: once the monitoring starts, the new app's health fails.
    let mut apply = cutover(&w.plan, &w.key, &["apply", "--yes", "--no-wait"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("apply");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = Run(cutover(&w.plan, &w.key, &["status"])
            .output()
            .expect("status"));
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
            &format!("{}/_control/fail", w.new_app.url()),
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
        cname(&w.bind).contains("old.app.paletai.com."),
        "{}",
        cname(&w.bind)
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
    assert_all_acknowledged_in(&summary, &order_ids(&w.old_pg), "old after the rollback");
    assert_eq!(documents(&w.old_pg), "300 users, 120 games");
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
            &format!("{}/_control/ok", w.new_app.url()),
        ])
        .output()
        .expect("mend the new app");
    let load = WriteLoad::start(&w.users_url, LoadOptions::default()).expect("load");
    load.wait_for_acknowledged(20, Duration::from_secs(10))
        .expect("writes through the users' path");
    let done = apply_to_the_end(&w.plan, &w.key).expect(0);
    let summary2 = load.stop();
    assert!(get(&format!("{users_url}/")).contains("hello from new"));
    assert!(
        cname(&w.bind).contains("new.app.paletai.com."),
        "{}",
        cname(&w.bind)
    );
    let on_new = order_ids(&w.new_pg);
    assert_all_acknowledged_in(&summary, &on_new, "new (writes of the first attempt)");
    assert_all_acknowledged_in(&summary2, &on_new, "new");
    assert_eq!(documents(&w.new_pg), "300 users, 120 games");
    // Decommissioned: old app stopped and deleted, old database dropped; the backup kept.
    assert!(
        get(&w.old_app.url()).is_empty(),
        "the old app still answers"
    );
    assert!(!w.old_site.join("site").exists());
    assert!(
        std::fs::read_dir(w.old_site.join("backup"))
            .expect("backup dir")
            .any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".dump"))),
        "no backup"
    );
    assert!(
        w.old_pg
            .psql(
                "postgres",
                "SELECT count(*) FROM pg_database WHERE datname = 'paletai'"
            )
            .expect("databases")
            .trim()
            == "0",
        "the old database was not dropped"
    );

    // The report is complete: every step of the w.plan applied in this run (the switch and
    // its monitoring again after the rollback), the rollback's evidence kept.
    let json = Run(cutover(&w.plan, &w.key, &["report", "--format", "json"])
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
    let plan_text = std::fs::read_to_string(&w.plan).expect("w.plan");
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
    let report = Run(cutover(&w.plan, &w.key, &["report"])
        .output()
        .expect("report"))
    .expect(0);
    let report = report.stdout();
    // The w.plan's own measure (its [downtime] prober on the users' health URL) and the
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
