//! PostgreSQL 16 (old) -> 18 (new) on the lab hosts, 1.2 GB (two 4 M-row tables, three
//! indexes), cutover next to the runbook's tools measured in the same run:
//! - copy through the controller vs `pg_dump -Fc | pg_restore` through the same SSH pipe;
//! - copy with the new host's tools vs `pgcopydb clone` run on the new host;
//! - verify of both sides vs `pg_dump --data-only | sha256sum` on both hosts at once;
//! - the freeze window of 10 logical-replication switches under a pgbench write load (zero
//!   lost rows checked by verifying the frozen source against the target each time), next
//!   to the downtime of a freeze + dump | restore of the same database.
//!
//! The dataset is generated once and its data directory cached in
//! `/var/cache/cutover-bench/` (`CUTOVER_BENCH_CACHE`), then copied into the old host.

use crate::table::{median, Row};
use anyhow::{bail, Context};
use cutover_data::postgres::copy::{self, CopyOptions};
use cutover_data::postgres::replication::switch::{self, Freeze, SwitchOptions};
use cutover_data::postgres::replication::{self, SyncOptions};
use cutover_data::postgres::{verify, Endpoint, VerifyOptions};
use cutover_exec::{Command, EnvValue, Executor, Redactor, SecretValue, SshTarget, Target};
use cutover_testbed::{Lab, PgOptions, PgServer};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const ROWS: u64 = 4_000_000;
const DATASET: &str = "pg16-2x4M-v1";
const SWITCHES: usize = 10;

/// Rows of a table: bigint key, an indexed account, money, a status, ~60 bytes of text, a
/// timestamp: ~300 MB of COPY text and ~600 MB on disk per table.
fn generate_sql() -> String {
    let table = |name: &str| {
        format!(
            "CREATE TABLE {name} (id bigint PRIMARY KEY, account int NOT NULL, amount numeric(12,2), status text, note text, created timestamptz);
INSERT INTO {name} SELECT i, ((i::bigint * 7919) % 100000)::int, (i % 100000) / 100.0, (ARRAY['new','paid','void'])[1 + i % 3],
  md5(i::text) || md5((i * 3)::text), '2024-01-01'::timestamptz + i * interval '1 second'
FROM generate_series(1, {ROWS}) i;\n"
        )
    };
    format!("{}{}CREATE INDEX payments_account_idx ON payments (account);\nVACUUM ANALYZE;\nCHECKPOINT;\n", table("orders"), table("payments"))
}

fn cache_dir() -> PathBuf {
    PathBuf::from(
        std::env::var("CUTOVER_BENCH_CACHE").unwrap_or_else(|_| "/var/cache/cutover-bench".into()),
    )
}

/// The old server with the dataset: from the cache, or generated (and cached) once.
fn old_server(lab: &Lab) -> anyhow::Result<PgServer> {
    let cached = cache_dir().join(DATASET);
    let logical = PgOptions {
        logical: true,
        ..PgOptions::default()
    };
    if cached.join("PG_VERSION").exists() {
        eprintln!("dataset: cached in {}", cached.display());
        let opts = PgOptions {
            data_from: Some(cached),
            ..logical
        };
        return Ok(PgServer::start(lab.host("old"), 16, 5432, opts)?);
    }
    eprintln!("dataset: generating 2 x {ROWS} rows (once; cached afterwards)");
    let started = Instant::now();
    let mut pg = PgServer::start(lab.host("old"), 16, 5432, logical.clone())?;
    pg.psql("postgres", "CREATE DATABASE app")?;
    pg.psql("app", &generate_sql())?;
    pg.stop()?;
    std::fs::create_dir_all(cache_dir())?;
    let staging = cache_dir().join(format!("{DATASET}.partial"));
    let _ = std::fs::remove_dir_all(&staging);
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(pg.data_dir_on_controller())
        .arg(&staging)
        .status()?;
    if !status.success() {
        bail!("caching the dataset failed");
    }
    std::fs::rename(&staging, cache_dir().join(DATASET))?;
    eprintln!(
        "dataset: generated in {:.0}s",
        started.elapsed().as_secs_f64()
    );
    drop(pg);
    Ok(PgServer::start(lab.host("old"), 16, 5432, logical)?)
}

fn executor(lab: &Lab) -> Executor {
    let pw = SecretValue::new(PgServer::PASSWORD.into());
    let targets = ["old", "new"].map(|h| {
        let t = SshTarget {
            name: h.into(),
            destination: h.into(),
            port: None,
            user: None,
            identity: None,
            jump: None,
            known_hosts: None,
            config: Some(lab.ssh_config().to_path_buf()),
            connect_timeout: 5,
            control_dir: cutover_exec::control_dir_for(&lab.dir().display().to_string()),
        };
        (h.to_string(), Target::Ssh(t))
    });
    Executor::new(HashMap::from(targets), Redactor::new([("pg", &pw)]))
}

fn endpoint(host: &str, address: &str, db: &str) -> Endpoint {
    let mut e = Endpoint::new(host, address, db);
    e.password = Some(SecretValue::new(PgServer::PASSWORD.into()));
    e.bin = Some("/opt/cutover/pg/18/bin".into());
    e
}

/// The copy's options: defaults, or `CUTOVER_BENCH_PG_JOBS`, `CUTOVER_BENCH_PG_SPLIT_MB`,
/// `CUTOVER_BENCH_PG_BINARY=0` to compare variants.
fn copy_options() -> CopyOptions {
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    let mut o = CopyOptions::default();
    if let Some(j) = env("CUTOVER_BENCH_PG_JOBS") {
        o.jobs = j as usize;
    }
    if let Some(mb) = env("CUTOVER_BENCH_PG_SPLIT_MB") {
        o.split_bytes = mb << 20;
    }
    if env("CUTOVER_BENCH_PG_BINARY") == Some(0) {
        o.binary = false;
    }
    if let Ok(m) = std::env::var("CUTOVER_BENCH_PG_MWM") {
        o.maintenance_work_mem = m;
    }
    o
}

/// The verifier's options: defaults, or `CUTOVER_BENCH_PG_VJOBS`, `CUTOVER_BENCH_PG_VSPLIT_MB`.
fn verify_options() -> VerifyOptions {
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    let mut o = VerifyOptions::default();
    if let Some(j) = env("CUTOVER_BENCH_PG_VJOBS") {
        o.jobs = j as usize;
    }
    if let Some(mb) = env("CUTOVER_BENCH_PG_VSPLIT_MB") {
        o.split_bytes = mb << 20;
    }
    o
}

/// Seconds `f` takes.
async fn timed<T, F: std::future::Future<Output = anyhow::Result<T>>>(
    f: F,
) -> anyhow::Result<(f64, T)> {
    let t = Instant::now();
    let v = f.await?;
    Ok((t.elapsed().as_secs_f64(), v))
}

async fn run_ok(ex: &Executor, cmd: &Command, what: &str) -> anyhow::Result<String> {
    let out = ex.run(cmd).await?;
    if !out.success() {
        bail!(
            "{what} failed on {}: {}\n{}",
            cmd.host,
            out.stderr,
            out.stdout
        );
    }
    Ok(out.stdout)
}

/// Runs the benchmark.
pub fn run() -> anyhow::Result<Vec<Row>> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(run_async())
}

async fn run_async() -> anyhow::Result<Vec<Row>> {
    let lab = Lab::start()?;
    let old = old_server(&lab)?;
    let new = PgServer::start(
        lab.host("new"),
        18,
        5432,
        PgOptions {
            logical: true,
            ..PgOptions::default()
        },
    )?;
    let ex = executor(&lab);
    let old_addr = old.address().to_string();
    // Warm the page cache the same way for every contender.
    old.psql(
        "app",
        "SELECT count(*) FROM orders; SELECT count(*) FROM payments;",
    )?;
    let size = old.psql("app", "SELECT pg_database_size('app')")?;
    eprintln!(
        "dataset: {:.2} GB on PostgreSQL 16",
        size.trim().parse::<f64>().unwrap_or(0.0) / 1e9
    );
    // CUTOVER_BENCH_PG=copy,verify,switch runs only those parts (verify needs copy's result).
    let parts = std::env::var("CUTOVER_BENCH_PG").unwrap_or_else(|_| "copy,verify,switch".into());
    let mut rows = Vec::new();
    if parts.contains("copy") {
        rows.extend(copy_bench(&ex, &new, &old_addr).await?);
    } else if parts.contains("verify") {
        ours_direct(&ex, &new, &old_addr).await?;
    }
    if parts.contains("verify") {
        rows.extend(verify_bench(&ex, &old_addr).await?);
    }
    if parts.contains("switch") {
        rows.extend(switch_bench(&ex, &old, &new).await?);
    }
    ex.disconnect_all().await;
    Ok(rows)
}

fn pw_env(c: Command) -> Command {
    c.env(
        "PGPASSWORD",
        EnvValue::Secret(SecretValue::new(PgServer::PASSWORD.into())),
    )
}

async fn copy_bench(ex: &Executor, new: &PgServer, old_addr: &str) -> anyhow::Result<Vec<Row>> {
    let baselines = std::env::var("CUTOVER_BENCH_PG_BASELINES").map_or(true, |v| v != "0");
    let rounds = std::env::var("CUTOVER_BENCH_PG_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3usize);
    // This machine is shared: the contenders that are compared closely run interleaved,
    // several times, and their medians are compared.
    let (mut pgcopydb, mut direct) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        if baselines {
            pgcopydb.push(pgcopydb_clone(ex, new, old_addr).await?);
        }
        direct.push(ours_direct(ex, new, old_addr).await?);
    }
    let pipe_s = if baselines {
        dump_restore(ex, new).await?
    } else {
        f64::NAN
    };
    let via_s = ours_via_controller(ex, new).await?;
    // The last direct copy stays for the verify benchmark.
    ours_direct(ex, new, old_addr).await?;
    let (pgcopydb_s, direct_s) = (median(pgcopydb), median(direct));
    eprintln!("medians of {rounds}: pgcopydb {pgcopydb_s:.2}s, cutover {direct_s:.2}s");
    Ok(vec![
        Row {
            what: "copy 1.2 GB PG16 -> PG18, old -> new through the controller".into(),
            baseline: "pg_dump -Fc | pg_restore (same SSH pipe)".into(),
            baseline_value: pipe_s,
            ours: via_s,
            unit: "s".into(),
            target: Some(1.5),
        },
        Row {
            what: format!("copy 1.2 GB PG16 -> PG18, tools on new (median of {rounds})"),
            baseline: "pgcopydb clone --table-jobs 2 --index-jobs 2 (on new)".into(),
            baseline_value: pgcopydb_s,
            ours: direct_s,
            unit: "s".into(),
            target: Some(1.25),
        },
        Row {
            what: "copy 1.2 GB PG16 -> PG18, tools on new".into(),
            baseline: "pg_dump -Fc | pg_restore (same SSH pipe)".into(),
            baseline_value: pipe_s,
            ours: direct_s,
            unit: "s".into(),
            target: None,
        },
    ])
}

const BIN: &str = "/opt/cutover/pg/18/bin";

/// The runbook's dump | restore, streamed through the same SSH pipe as cutover's.
async fn dump_restore(ex: &Executor, new: &PgServer) -> anyhow::Result<f64> {
    new.psql("postgres", "CREATE DATABASE pipe")?;
    let dump = pw_env(Command::shell(
        "old",
        format!("{BIN}/pg_dump -h 127.0.0.1 -U postgres -Fc app"),
    ));
    let restore = pw_env(Command::shell(
        "new",
        format!("{BIN}/pg_restore -h 127.0.0.1 -U postgres -d pipe"),
    ));
    let (s, report) = timed(async { Ok(ex.pipe(&dump, &restore, &mut |_| {}).await?) }).await?;
    if !report.success() {
        bail!(
            "pg_dump | pg_restore failed: {} {}",
            report.from.stderr,
            report.to.stderr
        );
    }
    eprintln!(
        "pg_dump -Fc | pg_restore: {s:.1}s ({:.0} MB streamed)",
        report.bytes as f64 / 1e6
    );
    new.psql("postgres", "DROP DATABASE pipe")?;
    Ok(s)
}

/// pgcopydb clone on the new host, reaching the old server directly.
async fn pgcopydb_clone(ex: &Executor, new: &PgServer, old_addr: &str) -> anyhow::Result<f64> {
    new.psql("postgres", "CREATE DATABASE pgcopydb")?;
    let clone = pw_env(Command::shell(
        "new",
        format!(
            "rm -rf /tmp/pgcopydb && PATH={BIN}:$PATH pgcopydb clone --source postgres://postgres@{old_addr}:5432/app --target postgres://postgres@127.0.0.1:5432/pgcopydb --table-jobs 2 --index-jobs 2 --dir /tmp/pgcopydb >/tmp/pgcopydb.log 2>&1"
        ),
    ));
    let (s, _) = timed(run_ok(ex, &clone, "pgcopydb clone")).await?;
    eprintln!("pgcopydb clone: {s:.2}s");
    new.psql("postgres", "DROP DATABASE pgcopydb")?;
    Ok(s)
}

/// cutover with both ends on the new host (its PostgreSQL 18 tools reach the old server).
async fn ours_direct(ex: &Executor, new: &PgServer, old_addr: &str) -> anyhow::Result<f64> {
    let _ = new.psql("postgres", "DROP DATABASE IF EXISTS copy");
    let t0 = Instant::now();
    let verbose = std::env::var("CUTOVER_BENCH_PG_VERBOSE").is_ok_and(|v| v == "1");
    let trace = move |e: copy::CopyEvent| {
        if verbose {
            eprintln!("  {:6.2}s {e:?}", t0.elapsed().as_secs_f64());
        }
    };
    let (s, r) = timed(async {
        Ok(copy::copy(
            ex,
            &endpoint("new", old_addr, "app"),
            &endpoint("new", "127.0.0.1", "copy"),
            &copy_options(),
            &trace,
        )
        .await?)
    })
    .await?;
    eprintln!(
        "cutover copy with the new host's tools: {s:.2}s, {} rows",
        r.rows
    );
    Ok(s)
}

/// cutover through the controller, tools on each host.
async fn ours_via_controller(ex: &Executor, new: &PgServer) -> anyhow::Result<f64> {
    let quiet = |_| {};
    let source = endpoint("old", "127.0.0.1", "app");
    let (s, r) = timed(async {
        Ok(copy::copy(
            ex,
            &source,
            &endpoint("new", "127.0.0.1", "via"),
            &copy_options(),
            &quiet,
        )
        .await?)
    })
    .await?;
    eprintln!(
        "cutover copy through the controller: {s:.1}s, {} rows, {:.0} MB",
        r.rows,
        r.bytes as f64 / 1e6
    );
    new.psql("postgres", "DROP DATABASE via")?;
    Ok(s)
}

async fn verify_bench(ex: &Executor, old_addr: &str) -> anyhow::Result<Vec<Row>> {
    let _ = old_addr;
    let side = |host: &str, db: &str| {
        pw_env(Command::shell(
            host,
            format!("{BIN}/pg_dump -h 127.0.0.1 -U postgres --data-only {db} | sha256sum"),
        ))
    };
    let (a, b) = (side("old", "app"), side("new", "copy"));
    let (source, target) = (
        endpoint("old", "127.0.0.1", "app"),
        endpoint("new", "127.0.0.1", "copy"),
    );
    let (mut bases, mut ourses) = (Vec::new(), Vec::new());
    let mut proof = None;
    for _ in 0..3 {
        let (s, (x, y)) = timed(async {
            Ok(tokio::join!(
                run_ok(ex, &a, "dump old"),
                run_ok(ex, &b, "dump new")
            ))
        })
        .await?;
        x?;
        y?;
        bases.push(s);
        let (s, r) =
            timed(async { Ok(verify(ex, &source, &target, &verify_options(), &|_| {}).await?) })
                .await?;
        ourses.push(s);
        proof = Some(r);
    }
    let (base, ours) = (median(bases), median(ourses));
    let proof = proof.context("no verification ran")?;
    if !proof.matches() {
        bail!("the copy does not verify:\n{}", proof.render());
    }
    eprintln!("verify: {} rows compared, match; pg_dump | sha256sum both sides {base:.2}s, cutover {ours:.2}s", proof.rows);
    Ok(vec![Row {
        what: "verify 1.2 GB, both sides (8 M rows; median of 3)".into(),
        baseline: "pg_dump --data-only | sha256sum on both hosts at once".into(),
        baseline_value: base,
        ours,
        unit: "s".into(),
        target: Some(3.0),
    }])
}

/// A pgbench database on old for the switches: small (the freeze window does not depend on
/// the size, only on the lag), written by role `writer` at a steady rate.
const SWITCH_DB: &str = "sw";

async fn switch_bench(ex: &Executor, old: &PgServer, new: &PgServer) -> anyhow::Result<Vec<Row>> {
    old.psql("postgres", &format!("CREATE DATABASE {SWITCH_DB}"))?;
    old.shell(&format!("pgbench -q -i -s 5 {SWITCH_DB} >/dev/null 2>&1"))?;
    old.psql(
        SWITCH_DB,
        "CREATE ROLE writer LOGIN; GRANT ALL ON ALL TABLES IN SCHEMA public TO writer;",
    )?;
    new.psql("postgres", "CREATE ROLE writer LOGIN")?;
    let source = endpoint("old", "127.0.0.1", SWITCH_DB);
    // Baseline: the downtime of a write freeze during which the database is dumped and
    // restored (what the switch replaces).
    new.psql("postgres", "CREATE DATABASE sw_dump")?;
    let bin = "/opt/cutover/pg/18/bin";
    let dump = pw_env(Command::shell(
        "old",
        format!("{bin}/pg_dump -h 127.0.0.1 -U postgres -Fc {SWITCH_DB}"),
    ));
    let restore = pw_env(Command::shell(
        "new",
        format!("{bin}/pg_restore -h 127.0.0.1 -U postgres -d sw_dump"),
    ));
    let (dump_s, _) = timed(async { Ok(ex.pipe(&dump, &restore, &mut |_| {}).await?) }).await?;
    new.psql("postgres", "DROP DATABASE sw_dump")?;
    let mut windows = Vec::new();
    let mut lost = 0u64;
    let mut compared = 0u64;
    for round in 0..SWITCHES {
        let target = endpoint("new", "127.0.0.1", &format!("sw_{round}"));
        let sync = SyncOptions {
            source_address: old.address().to_string(),
            replica_identity_full: true,
            timeout: Duration::from_secs(300),
            ..SyncOptions::default()
        };
        let mut load = old.spawn_shell(&format!(
            "pgbench -n -c 4 -j 2 -T 600 -R 400 -U writer {SWITCH_DB} >/dev/null 2>&1"
        ))?;
        replication::sync(ex, &source, &target, &sync, &|_| {}).await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let options = SwitchOptions {
            sync: sync.clone(),
            freeze: Freeze::ReadOnly,
            reverse: None,
            max_wait: Duration::from_secs(30),
        };
        let report = switch::switch(ex, &source, &target, &options, &|_| {}).await?;
        windows.push(report.freeze_window);
        let _ = load.kill();
        let _ = load.wait();
        // Zero lost rows: every row of the frozen source is on the target.
        let proof = verify(ex, &source, &target, &VerifyOptions::default(), &|_| {}).await?;
        compared += proof.rows;
        if !proof.matches() {
            lost += 1;
            eprintln!("switch {round}: DIFFERENCES\n{}", proof.render());
        }
        eprintln!(
            "switch {}: freeze window {:.3}s (catch-up {:.3}s, {} sessions ended), {} rows verified",
            round + 1,
            report.freeze_window,
            report.catch_up,
            report.sessions_ended,
            proof.rows
        );
        replication::undo_sync(ex, &source, &target, &sync).await?;
        old.psql(SWITCH_DB, &format!("SET default_transaction_read_only = off; ALTER DATABASE {SWITCH_DB} RESET default_transaction_read_only;"))?;
    }
    windows.sort_by(|a, b| a.total_cmp(b));
    let median = (windows[SWITCHES / 2 - 1] + windows[SWITCHES / 2]) / 2.0;
    let max = windows.last().copied().unwrap_or(0.0);
    eprintln!("freeze windows: {windows:.3?}; {compared} rows verified over {SWITCHES} switches, {lost} switches with differences");
    Ok(vec![
        Row {
            what: format!(
                "switch under pgbench load: median freeze window of {SWITCHES} (max {max:.3} s)"
            ),
            baseline: "the issue's bound: 1 s".into(),
            baseline_value: 1.0,
            ours: median,
            unit: "s".into(),
            target: Some(1.0),
        },
        Row {
            what: "switch under load: median freeze window".into(),
            baseline: "write freeze for pg_dump -Fc | pg_restore of the same db".into(),
            baseline_value: dump_s,
            ours: median,
            unit: "s".into(),
            target: None,
        },
        Row {
            what: format!(
                "switches whose frozen source and target differ (lost rows), of {SWITCHES}"
            ),
            baseline: "none allowed".into(),
            baseline_value: 0.0,
            ours: lost as f64,
            unit: "switches".into(),
            target: None,
        },
    ])
}
