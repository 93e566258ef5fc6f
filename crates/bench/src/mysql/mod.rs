//! MariaDB 10.11 on old -> new (lab hosts on this machine), about 1 GB at full size (three
//! tables, the largest over 500 MB, secondary indexes), cutover next to the runbook's tools
//! and the strongest practitioner's version of them, in the same rounds with the page cache
//! dropped before every run:
//! - copy vs `mariadb-dump --single-transaction | mariadb` through the controller's SSH
//!   pipe, and vs `mydumper` + `myloader` with cutover's thread count ([`copy`]);
//! - verify of both sides vs `mariadb-dump --skip-dump-date | sha256sum` on both hosts at
//!   once ([`verify`]);
//! - switches under a client write load through the `cutover` binary, every acknowledged
//!   write checked on the new server ([`switch`]).
//!
//! The dataset is generated once per size and its data directory cached in
//! `/var/cache/cutover-bench/` (`CUTOVER_BENCH_CACHE`), then copied into the old host.

mod copy;
mod switch;
mod verify;

use crate::report::Section;
use crate::Options;
use anyhow::bail;
use cutover_data::agent::AgentBinary;
use cutover_data::mysql::Endpoint;
use cutover_exec::{Command, EnvValue, Executor, SecretValue};
use cutover_testbed::{Lab, MariaOptions, MariaServer};
use std::path::PathBuf;
use std::time::Instant;

/// The database every contender copies.
pub const DB: &str = "shop";

/// Parallel workers of cutover's copy and verify, and threads of mydumper/myloader.
pub const THREADS: usize = 4;

/// Three tables from MariaDB's sequence engine: `events` (~55% of the bytes), `orders`
/// (~30%), `customers` (~15%), each with secondary indexes; `rows` is the largest's count.
fn generate_sql(rows: u64) -> String {
    let (orders, customers) = (rows / 2, rows / 5);
    format!(
        "SET SESSION sql_log_bin = 0;
CREATE DATABASE {DB};
USE {DB};
CREATE TABLE customers (id BIGINT NOT NULL PRIMARY KEY, email VARCHAR(80) NOT NULL, name VARCHAR(80), city VARCHAR(40), created DATETIME, notes VARCHAR(200), KEY by_email (email), KEY by_city (city));
INSERT INTO customers SELECT seq, CONCAT('user', seq, '@example.com'), CONCAT('Customer ', MD5(seq)), ELT(1 + seq % 5, 'Paris', 'Lyon', 'Berlin', 'Rome', 'Oslo'), '2024-01-01' + INTERVAL seq SECOND, REPEAT(MD5(seq * 7), 3) FROM seq_1_to_{customers};
CREATE TABLE orders (id BIGINT NOT NULL PRIMARY KEY, customer BIGINT NOT NULL, amount DECIMAL(12,2), status ENUM('new','paid','void'), placed DATETIME, ref CHAR(32), note VARCHAR(120), KEY by_customer (customer), KEY by_placed (placed));
INSERT INTO orders SELECT seq, 1 + seq * 7919 % {customers}, (seq % 100000) / 100, 1 + seq % 3, '2024-01-01' + INTERVAL seq SECOND, MD5(seq), CONCAT(MD5(seq * 3), MD5(seq * 5)) FROM seq_1_to_{orders};
CREATE TABLE events (id BIGINT NOT NULL PRIMARY KEY, account INT NOT NULL, kind VARCHAR(16), at DATETIME(6), payload VARCHAR(255), score DOUBLE, blob_part VARBINARY(32), KEY by_account (account), KEY by_kind_at (kind, at));
INSERT INTO events SELECT seq, seq * 7919 % 100000, ELT(1 + seq % 4, 'view', 'click', 'buy', 'leave'), '2024-01-01' + INTERVAL seq * 10 MICROSECOND, CONCAT(MD5(seq), MD5(seq + 1), MD5(seq + 2), MD5(seq + 3)), seq / 7, UNHEX(MD5(seq * 11)) FROM seq_1_to_{rows};
ANALYZE TABLE customers, orders, events;
"
    )
}

fn cache_dir() -> PathBuf {
    PathBuf::from(
        std::env::var("CUTOVER_BENCH_CACHE").unwrap_or_else(|_| "/var/cache/cutover-bench".into()),
    )
}

/// The source's options: binary log on (ROW), a buffer pool the size the bench can afford.
fn options(id: u32, data_from: Option<PathBuf>) -> MariaOptions {
    MariaOptions {
        buffer_pool: "1G".into(),
        data_from,
        ..MariaOptions::primary(id)
    }
}

/// The old server with the dataset: from the cache, or generated (and cached) once.
fn old_server(lab: &Lab, rows: u64) -> anyhow::Result<MariaServer> {
    let dataset = format!("mariadb-3t-{rows}-v1");
    let cached = cache_dir().join(&dataset);
    if cached.join("mysql").exists() {
        eprintln!("   dataset: cached in {}", cached.display());
        return Ok(MariaServer::start(
            lab.host("old"),
            3306,
            options(1, Some(cached)),
        )?);
    }
    eprintln!("   dataset: generating {rows} rows in the largest table (once; cached afterwards)");
    let started = Instant::now();
    let mut server = MariaServer::start(lab.host("old"), 3306, options(1, None))?;
    server.sql(&generate_sql(rows))?;
    server.sql(
        "CREATE USER 'app'@'%' IDENTIFIED BY 'app-pw'; GRANT SELECT, INSERT, UPDATE, DELETE ON *.* TO 'app'@'%';
         CREATE USER 'repl'@'%' IDENTIFIED BY 'repl-pw'; GRANT REPLICATION SLAVE ON *.* TO 'repl'@'%';",
    )?;
    server.stop()?;
    std::fs::create_dir_all(cache_dir())?;
    let staging = cache_dir().join(format!("{dataset}.partial"));
    let _ = std::fs::remove_dir_all(&staging);
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(server.data_dir_on_controller())
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
    server.restart()?;
    Ok(server)
}

/// `c` with root's password in its environment (`MYSQL_PWD`), never in its argv.
pub fn pw_env(c: Command) -> Command {
    c.env(
        "MYSQL_PWD",
        EnvValue::Secret(SecretValue::new(MariaServer::PASSWORD.into())),
    )
}

/// The server on `host` as its own agent reaches it, as root.
pub fn endpoint(host: &str) -> Endpoint {
    let mut e = Endpoint::new(host, "127.0.0.1");
    e.password = Some(SecretValue::new(MariaServer::PASSWORD.into()));
    e
}

/// CPU seconds `server`'s `mariadbd` has used so far (the lab hosts share the controller's
/// process IDs), or `None` when its pid file cannot be read.
pub fn server_cpu(server: &MariaServer) -> Option<f64> {
    let pid_file = server.data_dir_on_controller().parent()?.join("mysqld.pid");
    let pid = std::fs::read_to_string(pid_file)
        .ok()?
        .trim()
        .parse()
        .ok()?;
    crate::dashboard::cpu_seconds(pid).ok()
}

/// CPU seconds the two servers used during runs of one contender.
#[derive(Default)]
pub struct ServerCpu {
    /// Per run: (old's server, new's server).
    pub runs: Vec<(f64, f64)>,
}

impl ServerCpu {
    /// Runs `run`, recording and logging the CPU seconds each server used meanwhile: where a
    /// copy's time goes on a machine whose cores it shares.
    pub fn measure(
        &mut self,
        s: &Setup,
        run: impl FnOnce() -> anyhow::Result<f64>,
    ) -> anyhow::Result<f64> {
        let before = (server_cpu(&s.old), server_cpu(&s.new));
        let secs = run()?;
        if let ((Some(o0), Some(n0)), Some(o1), Some(n1)) =
            (before, server_cpu(&s.old), server_cpu(&s.new))
        {
            eprintln!(
                "       {secs:6.1} s; CPU used meanwhile: old's server {:.1} s, new's server {:.1} s (load average {})",
                o1 - o0,
                n1 - n0,
                std::fs::read_to_string("/proc/loadavg")
                    .unwrap_or_default()
                    .split(' ')
                    .next()
                    .unwrap_or("?")
            );
            self.runs.push((o1 - o0, n1 - n0));
        }
        Ok(secs)
    }

    /// "old's server A s, new's server B s" as medians over the runs, or `None`.
    pub fn medians(&self) -> Option<String> {
        if self.runs.is_empty() {
            return None;
        }
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            let n = v.len();
            (v[(n - 1) / 2] + v[n / 2]) / 2.0
        };
        Some(format!(
            "new's server {:.1} CPU-s, old's server {:.1} CPU-s",
            median(self.runs.iter().map(|r| r.1).collect()),
            median(self.runs.iter().map(|r| r.0).collect()),
        ))
    }
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

/// The lab, both servers, an executor and cutover's agent.
pub struct Setup {
    pub lab: Lab,
    pub old: MariaServer,
    pub new: MariaServer,
    pub ex: Executor,
    pub agent: AgentBinary,
    pub rt: tokio::runtime::Runtime,
}

impl Setup {
    /// Drops the bench's database on new (between contenders).
    pub fn drop_on_new(&self, db: &str) -> anyhow::Result<()> {
        self.new.sql(&format!("DROP DATABASE IF EXISTS {db}"))?;
        Ok(())
    }
}

/// Runs the benchmark.
pub fn run(options: &Options) -> anyhow::Result<Section> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let lab = Lab::start()?;
    let rows = options.scaled(2_400_000, 20_000);
    let old = old_server(&lab, rows)?;
    let new = MariaServer::start(lab.host("new"), 3306, self::options(2, None))?;
    let s = Setup {
        ex: crate::files::tools::executor(&lab),
        agent: AgentBinary {
            path: crate::files::tools::cutover_bin()?,
            args: vec!["agent".into()],
        },
        lab,
        old,
        new,
        rt,
    };
    let sizes = s.old.sql(&format!(
        "SELECT TABLE_NAME, DATA_LENGTH + INDEX_LENGTH FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{DB}' ORDER BY 2 DESC"
    ))?;
    let mut total = 0.0;
    let mut parts = Vec::new();
    for line in sizes.lines() {
        if let Some((name, bytes)) = line.split_once('\t') {
            let mb = bytes.trim().parse::<f64>().unwrap_or(0.0) / 1e6;
            total += mb;
            parts.push(format!("{name} {mb:.0} MB"));
        }
    }
    eprintln!("   dataset: {:.2} GB ({})", total / 1e3, parts.join(", "));
    let mut section = Section {
        name: "mysql",
        setup: format!(
            "`scripts/bench.sh mysql`: MariaDB 10.11 on old -> MariaDB 10.11 on new (lab hosts on this machine), {:.2} GB on disk (data + indexes: {}), each table with secondary indexes; {THREADS} workers for cutover, {THREADS} threads for mydumper/myloader.",
            total / 1e3,
            parts.join(", ")
        ),
        rounds: options.rounds,
        rows: Vec::new(),
        targets: Vec::new(),
        tables: Vec::new(),
        notes: Vec::new(),
    };
    let (rows, dumps, note) = copy::bench(&s, options.rounds)?;
    section.rows.extend(rows);
    section.notes.extend(note);
    let (rows, note) = verify::bench(&s, options.rounds)?;
    section.rows.extend(rows);
    section.notes.extend(note);
    let (row, targets, note) = switch::bench(&s, options, dumps)?;
    section.rows.push(row);
    section.targets.extend(targets);
    section.notes.push(note);
    s.rt.block_on(s.ex.disconnect_all());
    Ok(section)
}
