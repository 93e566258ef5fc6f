//! PostgreSQL 16 (old) -> 18 (new) on the lab hosts, 1.2 GB at full size (two 4 M-row
//! tables, three indexes), cutover next to the runbook's tools and the strongest
//! practitioner's version of them, in the same rounds with the page cache dropped before
//! every run:
//! - copy through the controller (one SSH pipe) vs `pg_dump -Fc | pg_restore` and the same
//!   with `-Z0`; copy with the new host's tools vs `pgcopydb clone` and
//!   `pg_dump -Fd -j2 -Z0` + `pg_restore -j2`;
//! - verify of both sides vs `pg_dump --data-only | sha256sum` on both hosts at once, whole
//!   and one job per table;
//! - switches under a pgbench write load, the writes blocked as the bench's own client saw
//!   them (next to cutover's own freeze window), against the write freeze of a
//!   `pg_dump | pg_restore` of the same database.
//!
//! The dataset is generated once per size and its data directory cached in
//! `/var/cache/cutover-bench/` (`CUTOVER_BENCH_CACHE`), then copied into the old host.

mod copy;
mod switch;
mod verify;
mod writer;

use crate::report::Section;
use crate::Options;
use anyhow::bail;
use cutover_data::postgres::Endpoint;
use cutover_exec::{Command, EnvValue, Executor, Redactor, SecretValue, SshTarget, Target};
use cutover_testbed::{Lab, PgOptions, PgServer};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

/// PostgreSQL 18's tools on every host.
pub const BIN: &str = "/opt/cutover/pg/18/bin";

/// Rows of a table: bigint key, an indexed account, money, a status, ~60 bytes of text, a
/// timestamp: ~300 MB of COPY text and ~600 MB on disk per table at 4 M rows.
fn generate_sql(rows: u64) -> String {
    let table = |name: &str| {
        format!(
            "CREATE TABLE {name} (id bigint PRIMARY KEY, account int NOT NULL, amount numeric(12,2), status text, note text, created timestamptz);
INSERT INTO {name} SELECT i, ((i::bigint * 7919) % 100000)::int, (i % 100000) / 100.0, (ARRAY['new','paid','void'])[1 + i % 3],
  md5(i::text) || md5((i * 3)::text), '2024-01-01'::timestamptz + i * interval '1 second'
FROM generate_series(1, {rows}) i;\n"
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
fn old_server(lab: &Lab, rows: u64) -> anyhow::Result<PgServer> {
    let dataset = format!("pg16-2x{rows}-v1");
    let cached = cache_dir().join(&dataset);
    let logical = PgOptions {
        logical: true,
        ..PgOptions::default()
    };
    if cached.join("PG_VERSION").exists() {
        eprintln!("   dataset: cached in {}", cached.display());
        let opts = PgOptions {
            data_from: Some(cached),
            ..logical
        };
        return Ok(PgServer::start(lab.host("old"), 16, 5432, opts)?);
    }
    eprintln!("   dataset: generating 2 x {rows} rows (once; cached afterwards)");
    let started = Instant::now();
    let mut pg = PgServer::start(lab.host("old"), 16, 5432, logical.clone())?;
    pg.psql("postgres", "CREATE DATABASE app")?;
    pg.psql("app", &generate_sql(rows))?;
    pg.stop()?;
    std::fs::create_dir_all(cache_dir())?;
    let staging = cache_dir().join(format!("{dataset}.partial"));
    let _ = std::fs::remove_dir_all(&staging);
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(pg.data_dir_on_controller())
        .arg(&staging)
        .status()?;
    if !status.success() {
        bail!("caching the dataset failed");
    }
    std::fs::rename(&staging, &cached)?;
    eprintln!(
        "   dataset: generated in {:.0}s",
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

/// Database `db` on `address`, as `host` reaches it, with PostgreSQL 18's tools.
pub fn endpoint(host: &str, address: &str, db: &str) -> Endpoint {
    let mut e = Endpoint::new(host, address, db);
    e.password = Some(SecretValue::new(PgServer::PASSWORD.into()));
    e.bin = Some(BIN.into());
    e
}

/// `c` with the password in its environment (it travels on standard input).
pub fn pw_env(c: Command) -> Command {
    c.env(
        "PGPASSWORD",
        EnvValue::Secret(SecretValue::new(PgServer::PASSWORD.into())),
    )
}

/// Runs `cmd`, failing with its output.
pub async fn run_ok(ex: &Executor, cmd: &Command, what: &str) -> anyhow::Result<String> {
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

/// The lab, both servers and an executor.
pub struct Setup {
    pub lab: Lab,
    pub old: PgServer,
    pub new: PgServer,
    pub ex: Executor,
    pub rt: tokio::runtime::Runtime,
}

/// Runs the benchmark.
pub fn run(options: &Options) -> anyhow::Result<Section> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let lab = Lab::start()?;
    let rows = options.scaled(4_000_000, 20_000);
    let old = old_server(&lab, rows)?;
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
    let s = Setup {
        lab,
        old,
        new,
        ex,
        rt,
    };
    let size = s.old.psql("app", "SELECT pg_database_size('app')")?;
    let gb = size.trim().parse::<f64>().unwrap_or(0.0) / 1e9;
    eprintln!("   dataset: {gb:.2} GB on PostgreSQL 16");
    let mut section = Section {
        name: "postgres",
        setup: format!(
            "`scripts/bench.sh postgres`: PostgreSQL 16 on old -> 18 on new (lab hosts on this machine), {gb:.2} GB = two tables of {} rows with 3 indexes; every tool is PostgreSQL 18's.",
            crate::files::thousands(rows as usize)
        ),
        rounds: options.rounds,
        rows: Vec::new(),
        targets: Vec::new(),
        tables: Vec::new(),
        notes: Vec::new(),
    };
    section.rows.extend(copy::bench(&s, options.rounds)?);
    section.rows.extend(verify::bench(&s, options.rounds)?);
    let (row, targets, note) = switch::bench(&s, options)?;
    section.rows.push(row);
    section.targets.extend(targets);
    section.notes.push(note);
    s.rt.block_on(s.ex.disconnect_all());
    Ok(section)
}
