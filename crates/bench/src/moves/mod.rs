//! Coordinated moves (issue 19): the database's writes and the users' traffic moved in one
//! step (`proxy.switch` with `data = [postgres.switch]`, requests held by cutover's relay at
//! HAProxy) next to the uncoordinated switch a runbook does (`postgres.switch`, then
//! `proxy.switch`, as two steps), in the same run on the same servers, under the same client:
//! the testbed's pooled app (`POST /api/orders` through HAProxy, written every 20 ms). Each
//! switch is followed by `cutover rollback`, which moves back (the coordinated move
//! backwards; the two steps undone) and leaves the sync running for the next switch.
//! Figures are the client's own: failed writes, the window in which its writes failed or
//! waited, its longest wait, and acknowledged writes missing from the new server.

mod plans;
mod slow;
mod soak_failure;

use crate::report::{Row, Section, Target};
use crate::rounds::{order, Cache, Samples};
use crate::Options;
use anyhow::Context;
use cutover_testbed::app::{start_with_database, AppDatabase};
use cutover_testbed::load::{LoadOptions, LoadSummary, WriteLoad};
use cutover_testbed::{Lab, PgOptions, PgServer};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Switches of each kind at full size (a reduced run does `--rounds` of each).
const SWITCHES: usize = 10;

/// A write answered later than this counts as disturbed (it waited on the switch).
const SLOW: Duration = Duration::from_millis(500);

/// What the client saw during one switch.
struct Seen {
    failed: usize,
    window: f64,
    longest: f64,
    lost: usize,
    acknowledged: usize,
}

/// Runs the section.
pub fn run(options: &Options) -> anyhow::Result<Section> {
    let switches = if options.full_size() {
        SWITCHES
    } else {
        options.rounds
    };
    let lab = Lab::start()?;
    let pg = PgOptions {
        logical: true,
        ..PgOptions::default()
    };
    let old = PgServer::start(lab.host("old"), 16, 5432, pg.clone())?;
    let new = PgServer::start(lab.host("new"), 18, 5432, pg)?;
    for server in [&old, &new] {
        server.psql(
            "postgres",
            "CREATE ROLE app LOGIN SUPERUSER PASSWORD 'app-pw';",
        )?;
    }
    old.psql("postgres", "CREATE DATABASE app OWNER app;")?;
    old.psql(
        "app",
        "CREATE TABLE orders (id bigserial PRIMARY KEY, note text, created timestamptz NOT NULL DEFAULT now()); ALTER TABLE orders OWNER TO app;",
    )?;
    let app_db = |server: &PgServer| AppDatabase {
        url: format!("postgres://app@{}:5432/app", server.address()),
        password: Some("app-pw".into()),
        ..AppDatabase::on(server, "app")
    };
    let old_app = start_with_database(lab.host("old"), 8080, &app_db(&old))?;
    let mut new_app = start_with_database(lab.host("new"), 8080, &app_db(&new))?;
    let front = cutover_testbed::proxy::start_haproxy_logging_requests(
        lab.host("old"),
        8000,
        old_app.addr,
    )?;
    let url = format!("http://{}", front.listen);
    let requests_log = lab
        .host("old")
        .fs_path(cutover_testbed::proxy::HAPROXY_REQUESTS);
    let dir = tempfile::tempdir()?;
    let coordinated = plans::write(&lab, dir.path(), "coordinated", plans::Kind::Coordinated)?;
    let separate = plans::write(&lab, dir.path(), "separate", plans::Kind::Separate)?;
    let soaking = plans::write(
        &lab,
        dir.path(),
        "soaking",
        plans::Kind::Soaking {
            front: front.listen,
        },
    )?;

    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for round in 0..switches {
        let mut line = format!("     round {}:", round + 1);
        for i in order(round, 2) {
            let (plan, kind, into) = if i == 0 {
                (&coordinated, "coordinated", &mut ours)
            } else {
                (&separate, "separate", &mut theirs)
            };
            let seen = one(&url, plan, &new, &requests_log)
                .with_context(|| format!("{kind} switch {}", round + 1))?;
            line += &format!(
                " {kind} {} failed, window {:.3} s, longest {:.3} s;",
                seen.failed, seen.window, seen.longest
            );
            into.push(seen);
        }
        eprintln!("{line}");
    }
    // Then the soak's automatic move back after the new app fails (half of `switches`
    // rounds killed, half hung, so the section's length stays about the same).
    let failures = soak_failure::run(
        soak_failure::Setup {
            plan: &soaking,
            url: &url,
            old: &old,
            new_app: &mut new_app,
            restart: &|| Ok(start_with_database(lab.host("new"), 8080, &app_db(&new))?),
        },
        switches.div_ceil(2),
    )?;
    let samples = |seen: &[Seen], f: fn(&Seen) -> f64| Samples(seen.iter().map(f).collect());
    let total = |seen: &[Seen], f: fn(&Seen) -> usize| seen.iter().map(f).sum::<usize>();
    let client = "at a client writing every 20 ms through HAProxy and a pooled app";
    let rows = vec![
        Row {
            what: format!("writes failed per switch, {client} ({switches} switches)"),
            cache: Cache::NotRelevant.label(),
            unit: "writes",
            ours: samples(&ours, |s| s.failed as f64),
            baseline: "postgres.switch, then proxy.switch (two steps)".into(),
            theirs: samples(&theirs, |s| s.failed as f64),
            paired: true,
        },
        Row {
            what: format!("user-visible window per switch: time covered by writes that failed or waited over {} ms", SLOW.as_millis()),
            cache: Cache::NotRelevant.label(),
            unit: "s",
            ours: samples(&ours, |s| s.window),
            baseline: "postgres.switch, then proxy.switch (two steps)".into(),
            theirs: samples(&theirs, |s| s.window),
            paired: true,
        },
    ];
    let longest = ours.iter().map(|s| s.longest).fold(0.0, f64::max);
    let mut targets = vec![
        Target {
            what: format!("failed requests in {switches} coordinated switches, in all"),
            bound: 0.0,
            unit: "requests",
            measured: Samples(vec![total(&ours, |s| s.failed) as f64]),
            own: None,
        },
        Target {
            what: format!("longest a write waited in {switches} coordinated switches"),
            bound: 1.0,
            unit: "s",
            measured: Samples(vec![longest]),
            own: None,
        },
        Target {
            what: format!(
                "acknowledged writes missing from new after {switches} coordinated switches"
            ),
            bound: 0.0,
            unit: "writes",
            measured: Samples(vec![total(&ours, |s| s.lost) as f64]),
            own: None,
        },
    ];
    let (soak_targets, soak_note) = failures;
    targets.extend(soak_targets);
    let mut notes = Vec::new();
    if cfg!(debug_assertions) {
        notes.push("This run used cutover built without optimizations (`cargo build`, not `--release`); the switches' own work is a small part of the window, most of it is SSH and PostgreSQL round trips.".to_string());
    }
    notes.push(format!(
        "Moves: {} writes acknowledged during the coordinated switches and {} during the separate ones; acknowledged writes missing from new: {} and {}. The separate switch fails writes between its two steps (the old database frozen, traffic not moved yet); the coordinated one holds them at HAProxy until both have moved. Both use cutover's `proxy.switch`, which then makes HAProxy let go of the server connections it kept to the old upstream: without that, a client whose connection was busy at the change kept writing to the frozen database until it stopped (5 of 40 separate switches, about 60 failed writes each, before the fix).",
        total(&ours, |s| s.acknowledged),
        total(&theirs, |s| s.acknowledged),
        total(&ours, |s| s.lost),
        total(&theirs, |s| s.lost),
    ));
    notes.push(soak_note);
    Ok(Section {
        name: "moves",
        setup: format!("`scripts/bench.sh moves`: PostgreSQL 16 on old -> 18 on new with a reverse subscription, the testbed's app on each host writing through a pool of 4 connections, HAProxy on old in front; {switches} switches of each kind, alternating, each followed by `cutover rollback`; then {} coordinated moves whose soak sees the new app killed or hung (alternating) and moves back by itself.", switches.div_ceil(2) * 2),
        rounds: switches,
        rows,
        targets,
        tables: Vec::new(),
        notes,
    })
}

/// One switch under the client's load, then the move back (untimed).
fn one(url: &str, plan: &Path, new: &PgServer, requests_log: &Path) -> anyhow::Result<Seen> {
    // The sync first, outside the measured window (after a rollback it is found running).
    let synced = cutover(plan, &["apply", "--yes", "--until", "sync"])?;
    anyhow::ensure!(synced.status.success(), "sync failed:\n{}", text(&synced));
    let load = WriteLoad::start(url, LoadOptions::default())?;
    load.wait_for_acknowledged(25, Duration::from_secs(20))?;
    let out = cutover(plan, &["apply", "--yes", "--until", "switch"])?;
    std::thread::sleep(Duration::from_secs(1));
    let summary = load.stop();
    anyhow::ensure!(out.status.success(), "apply failed:\n{}", text(&out));
    // cutover's own account of the switch, shown beside the client's.
    for line in text(&out)
        .lines()
        .filter(|l| l.contains("ok move") || l.contains("ok db-switch"))
    {
        eprintln!("       {}", line.trim());
    }
    let ids: Vec<i64> = new
        .psql("app", "SELECT id FROM orders")?
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    slow::failures(&summary);
    slow::trace(&summary, requests_log);
    let seen = Seen {
        failed: summary.failures().len(),
        window: window(&summary),
        longest: summary.longest().as_secs_f64(),
        lost: summary.missing_from(&ids).len(),
        acknowledged: summary.acknowledged().len(),
    };
    let back = cutover(plan, &["rollback", "--yes"])?;
    anyhow::ensure!(back.status.success(), "rollback failed:\n{}", text(&back));
    Ok(seen)
}

/// The time covered by the writes that failed or waited over [`SLOW`]: the union of their
/// spans from send to answer, each at least one send interval long (so that writes failing
/// one after another cover the time between them; a lone slow write on a loaded machine adds
/// its own span, not everything between it and the switch).
fn window(s: &LoadSummary) -> f64 {
    let mut spans: Vec<(Duration, Duration)> = s
        .records
        .iter()
        .filter(|r| r.id.is_none() || r.latency() > SLOW)
        // A write that failed at once still stands for the interval until the next one.
        .map(|r| (r.sent, r.answered.max(r.sent + s.interval)))
        .collect();
    spans.sort();
    let mut total = Duration::ZERO;
    let mut current: Option<(Duration, Duration)> = None;
    for (a, b) in spans {
        current = match current {
            Some((x, y)) if a <= y => Some((x, y.max(b))),
            Some((x, y)) => {
                total += y - x;
                Some((a, b))
            }
            None => Some((a, b)),
        };
    }
    if let Some((x, y)) = current {
        total += y - x;
    }
    total.as_secs_f64()
}

fn cutover(plan: &Path, args: &[&str]) -> anyhow::Result<std::process::Output> {
    let bin: PathBuf = crate::files::cutover_bin()?;
    Ok(Command::new(bin)
        .arg("-f")
        .arg(plan)
        .args(args)
        .env("NO_COLOR", "1")
        .env("DB_PW", PgServer::PASSWORD)
        .output()?)
}

fn text(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}
