//! Redis 7.0 (old) -> 7.0 (new) on the lab hosts, 1 M keys of mixed types (30% with TTLs),
//! cutover next to the runbook's ways measured in the same run, in equal rounds whose order
//! rotates between the tools:
//! - sync-ready time: `redis.sync` vs plain `REPLICAOF` (the floor) vs the runbook method
//!   (`redis-cli --rdb` on old, the file copied to new through the controller's SSH, new
//!   restarted on it);
//! - verify of both sides: `cutover verify redis` (peak RSS of the controller measured) vs a
//!   `redis-cli --scan | DUMP | sha256sum` script run on both hosts at once;
//! - 10 switches under a write load, and the mutation suite ([`super::redis_switch`]).
//!
//! `CUTOVER_BENCH_REDIS_KEYS` sets the key count (default 1,000,000),
//! `CUTOVER_BENCH_REDIS_ROUNDS` the rounds per tool (default 3), and
//! `CUTOVER_BENCH_REDIS_ONLY` a comma-separated choice of `sync`, `verify`, `switch`,
//! `mutations` (default all), for quick runs.

use crate::table::{median, Row};
use anyhow::{ensure, Context};
use cutover_data::files::AgentBinary;
use cutover_data::redis::{Endpoint, Pair, SyncOptions};
use cutover_exec::{Executor, Redactor, SecretValue, SshTarget, Target};
use cutover_testbed::{Lab, RedisOptions, RedisServer, RedisVersion};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The lab, both servers and the way to reach them.
pub struct Setup {
    pub lab: Lab,
    pub old: RedisServer,
    pub new: RedisServer,
    pub exec: Executor,
    pub agent: AgentBinary,
    pub keys: u64,
    pub rounds: usize,
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn cutover_bin() -> anyhow::Result<PathBuf> {
    let bin = std::env::current_exe()?.with_file_name("cutover");
    ensure!(
        bin.exists(),
        "{} is missing: run scripts/bench.sh",
        bin.display()
    );
    Ok(bin)
}

fn executor(lab: &Lab) -> Executor {
    let pw = SecretValue::new(RedisServer::PASSWORD.into());
    let mut targets: HashMap<String, Target> = ["old", "new"]
        .map(|h| {
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
        })
        .into_iter()
        .collect();
    targets.insert("local".into(), Target::Local);
    Executor::new(targets, Redactor::new([("redis", &pw)]))
}

pub fn endpoint(r: &RedisServer) -> Endpoint {
    let mut e = Endpoint::new(r.host(), "127.0.0.1");
    e.port = r.port();
    e.password = Some(SecretValue::new(RedisServer::PASSWORD.into()));
    e
}

impl Setup {
    pub async fn pair(&self) -> anyhow::Result<Pair> {
        Ok(Pair::open(
            &self.exec,
            &self.agent,
            &endpoint(&self.old),
            &endpoint(&self.new),
        )
        .await?)
    }

    pub fn sync_options(&self) -> SyncOptions {
        SyncOptions {
            source_address: self.old.address().to_string(),
            ..SyncOptions::default()
        }
    }

    /// New back to an empty primary.
    fn reset_new(&self) -> anyhow::Result<()> {
        self.new.cli(&["REPLICAOF", "NO", "ONE"])?;
        self.new.cli(&["FLUSHALL"])?;
        Ok(())
    }

    /// `redis.sync` until the target is in sync (preflight included).
    async fn ours_sync(&self) -> anyhow::Result<f64> {
        self.reset_new()?;
        let started = Instant::now();
        let mut pair = self.pair().await?;
        let o = self.sync_options();
        pair.preflight(&o).await?;
        pair.start_sync(&o).await?;
        let quiet = |_: String| {};
        let report = pair.watch_sync(&o, &quiet).await?;
        let secs = started.elapsed().as_secs_f64();
        pair.close().await;
        ensure!(report.keys >= self.keys, "only {} keys synced", report.keys);
        Ok(secs)
    }

    /// `CONFIG SET masterauth` + `REPLICAOF`, polled every 20 ms until the link is up and
    /// the offsets meet.
    fn plain_replicaof(&self) -> anyhow::Result<f64> {
        self.reset_new()?;
        let started = Instant::now();
        self.new
            .cli(&["CONFIG", "SET", "masterauth", RedisServer::PASSWORD])?;
        self.new
            .cli(&["REPLICAOF", &self.old.address().to_string(), "6379"])?;
        loop {
            let info = self.new.cli(&["INFO", "replication"])?;
            let field = |n: &str| {
                info.lines()
                    .find_map(|l| l.strip_prefix(n))
                    .map(|v| v.trim().to_string())
            };
            if field("master_link_status:").as_deref() == Some("up") {
                let primary = self
                    .old
                    .info_field("replication", "master_repl_offset")?
                    .unwrap_or_default();
                if field("slave_repl_offset:").as_deref() == Some(primary.as_str()) {
                    return Ok(started.elapsed().as_secs_f64());
                }
            }
            ensure!(
                started.elapsed() < Duration::from_secs(600),
                "REPLICAOF never got in sync"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `redis-cli --rdb` on old, the file through the controller's SSH to new's data
    /// directory, new restarted on it.
    fn runbook_sync(&mut self) -> anyhow::Result<f64> {
        self.reset_new()?;
        let started = Instant::now();
        self.old.host_shell(&format!(
            "REDISCLI_AUTH={} redis-cli --no-auth-warning -p 6379 --rdb /var/lib/redis/runbook.rdb >/dev/null",
            RedisServer::PASSWORD
        ))?;
        let config = self.lab.ssh_config().display().to_string();
        let copy = format!(
            "ssh -F {config} old cat /var/lib/redis/runbook.rdb | ssh -F {config} new 'cat > {}/dump.rdb'",
            self.new.dir()
        );
        let status = Command::new("sh").arg("-c").arg(&copy).status()?;
        ensure!(status.success(), "copying the RDB failed");
        self.new.restart()?;
        let secs = started.elapsed().as_secs_f64();
        let keys: u64 = self.new.cli(&["DBSIZE"])?.trim().parse().unwrap_or(0);
        ensure!(keys > 0, "the runbook's restart loaded no keys");
        self.new.host_shell(&format!(
            "rm -f {}/dump.rdb /var/lib/redis/runbook.rdb",
            self.new.dir()
        ))?;
        Ok(secs)
    }

    /// `cutover verify redis` through both hosts' agents: (seconds, peak RSS in MB).
    fn ours_verify(&self) -> anyhow::Result<(f64, f64)> {
        let config = self.lab.ssh_config().display().to_string();
        let mut cmd = Command::new(cutover_bin()?);
        cmd.args([
            "-f",
            "/nonexistent/cutover.toml",
            "verify",
            "redis",
            "--json",
            "--ssh-config",
            &config,
        ])
        .args([
            "--source-ssh",
            "old",
            "--target-ssh",
            "new",
            "redis://127.0.0.1:6379",
            "redis://127.0.0.1:6379",
        ])
        .env("CUTOVER_SOURCE_REDIS_PASSWORD", RedisServer::PASSWORD)
        .env("CUTOVER_TARGET_REDIS_PASSWORD", RedisServer::PASSWORD)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
        let t = Instant::now();
        let (code, peak_kib) = wait_rss(cmd.spawn()?)?;
        let secs = t.elapsed().as_secs_f64();
        ensure!(
            code == 0,
            "cutover verify redis: exit {code} (the copies should match)"
        );
        Ok((secs, peak_kib as f64 / 1024.0))
    }

    /// On both hosts at once: every database's keys scanned, sorted, `DUMP`ed one by one
    /// through one `redis-cli` reading commands from standard input, hashed; then compared.
    /// Returns the time and whether its digests matched: they do not, on equal data, where a
    /// value is held in a hash table (a set of strings...), whose `DUMP` follows the table's
    /// per-process order.
    fn runbook_verify(&self) -> anyhow::Result<(f64, bool)> {
        let script = format!(
            "export REDISCLI_AUTH={pw}; for db in $(redis-cli --no-auth-warning INFO keyspace | sed -n 's/^db\\([0-9]*\\):.*/\\1/p'); do \
             redis-cli --no-auth-warning -n $db --scan | sort | awk '{{ printf \"DUMP \\\"%s\\\"\\n\", $0 }}' | redis-cli --no-auth-warning -n $db | sha256sum; done",
            pw = RedisServer::PASSWORD
        );
        let started = Instant::now();
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(|| self.old.host_shell(&script));
            let b = s.spawn(|| self.new.host_shell(&script));
            (a.join(), b.join())
        });
        let (a, b) = (
            a.map_err(|_| anyhow::anyhow!("panicked"))??,
            b.map_err(|_| anyhow::anyhow!("panicked"))??,
        );
        let secs = started.elapsed().as_secs_f64();
        Ok((secs, a == b))
    }
}

/// Waits for `child` and returns its exit code and peak resident set (KiB).
fn wait_rss(mut child: std::process::Child) -> anyhow::Result<(i32, i64)> {
    let pid = child.id() as libc::pid_t;
    let mut out = Vec::new();
    if let Some(mut o) = child.stdout.take() {
        std::io::Read::read_to_end(&mut o, &mut out)?;
    }
    let mut status = 0;
    // SAFETY: rusage is a plain struct filled by the kernel; pid is our child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    ensure!(
        r == pid,
        "wait4 failed: {}",
        std::io::Error::last_os_error()
    );
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    Ok((code, usage.ru_maxrss))
}

/// `median (min-max)` of `v`, in seconds.
pub fn spread(v: &[f64]) -> String {
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = v.iter().copied().fold(0.0, f64::max);
    format!("{:.2} s ({min:.2}-{max:.2})", median(v.to_vec()))
}

pub fn row(
    what: String,
    baseline: String,
    base: f64,
    ours: f64,
    unit: &str,
    target: Option<f64>,
) -> Row {
    Row {
        what,
        baseline,
        baseline_value: base,
        ours,
        unit: unit.into(),
        target,
    }
}

/// Loads the mixed dataset into old, 50,000 keys a batch.
fn load(old: &RedisServer, keys: u64) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut from = 0;
    while from < keys {
        let to = (from + 50_000).min(keys);
        old.pipe(&cutover_testbed::redis_data::mixed(from..to))
            .context("load the dataset")?;
        from = to;
    }
    eprintln!(
        "   dataset: {keys} keys loaded in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Runs the Redis benchmarks.
pub fn run() -> anyhow::Result<Vec<Row>> {
    let lab = Lab::start()?;
    let old = RedisServer::start(
        lab.host("old"),
        RedisVersion::Redis70,
        6379,
        RedisOptions::default(),
    )?;
    let new = RedisServer::start(
        lab.host("new"),
        RedisVersion::Redis70,
        6379,
        RedisOptions::default(),
    )?;
    let keys = env_number("CUTOVER_BENCH_REDIS_KEYS", 1_000_000);
    load(&old, keys)?;
    let mut s = Setup {
        exec: executor(&lab),
        agent: AgentBinary {
            path: cutover_bin()?,
            args: vec!["agent".into()],
        },
        lab,
        old,
        new,
        keys,
        rounds: env_number("CUTOVER_BENCH_REDIS_ROUNDS", 3) as usize,
    };
    let only = std::env::var("CUTOVER_BENCH_REDIS_ONLY").unwrap_or_default();
    let wanted = |part: &str| only.is_empty() || only.split(',').any(|p| p.trim() == part);
    let rt = tokio::runtime::Runtime::new()?;
    let mut rows = Vec::new();
    if wanted("sync") {
        rows.extend(sync_rows(&rt, &mut s)?);
    } else {
        rt.block_on(s.ours_sync())?;
    }
    if wanted("verify") {
        rows.extend(verify_rows(&s)?);
    }
    if wanted("switch") {
        rows.extend(rt.block_on(super::redis_switch::switch_rows(&s))?);
    }
    if wanted("mutations") {
        rows.extend(rt.block_on(super::redis_switch::mutation_rows(&s))?);
    }
    rt.block_on(s.exec.disconnect_all());
    Ok(rows)
}

/// Sync-ready times, the three ways in rotating order.
fn sync_rows(rt: &tokio::runtime::Runtime, s: &mut Setup) -> anyhow::Result<Vec<Row>> {
    let (mut ours, mut plain, mut runbook) = (Vec::new(), Vec::new(), Vec::new());
    rt.block_on(s.ours_sync())?; // warm-up: the agent upload, SSH masters
    for round in 0..s.rounds {
        for k in 0..3 {
            match (round + k) % 3 {
                0 => ours.push(rt.block_on(s.ours_sync())?),
                1 => plain.push(s.plain_replicaof()?),
                _ => runbook.push(s.runbook_sync()?),
            }
        }
        eprintln!(
            "   sync round {}: cutover {:.2}s, REPLICAOF {:.2}s, runbook {:.2}s",
            round + 1,
            ours[round],
            plain[round],
            runbook[round]
        );
    }
    // Leave new an exact copy for the proofs.
    rt.block_on(s.ours_sync())?;
    Ok(vec![
        row(
            format!("sync-ready, {} keys (cutover {})", s.keys, spread(&ours)),
            format!("plain REPLICAOF {}", spread(&plain)),
            median(plain.clone()),
            median(ours.clone()),
            "s",
            Some(0.91),
        ),
        row(
            format!("sync-ready, {} keys (cutover {})", s.keys, spread(&ours)),
            format!("redis-cli --rdb + copy + restart {}", spread(&runbook)),
            median(runbook),
            median(ours),
            "s",
            Some(2.0),
        ),
    ])
}

/// Verify of both sides, in alternating order, with the controller's peak RSS.
fn verify_rows(s: &Setup) -> anyhow::Result<Vec<Row>> {
    let (mut ours, mut script, mut rss) = (Vec::new(), Vec::new(), 0f64);
    let mut script_matched = true;
    for round in 0..s.rounds {
        let mut one = || -> anyhow::Result<()> {
            let (secs, mb) = s.ours_verify()?;
            ours.push(secs);
            rss = rss.max(mb);
            Ok(())
        };
        let mut baseline = || -> anyhow::Result<()> {
            let (secs, matched) = s.runbook_verify()?;
            script.push(secs);
            script_matched &= matched;
            Ok(())
        };
        if round % 2 == 0 {
            one()?;
            baseline()?;
        } else {
            baseline()?;
            one()?;
        }
        eprintln!(
            "   verify round {}: cutover {:.2}s (RSS {rss:.1} MB), script {:.2}s",
            round + 1,
            ours[round],
            script[round]
        );
    }
    Ok(vec![
        row(
            format!(
                "verify both sides, {} keys (cutover {})",
                s.keys,
                spread(&ours)
            ),
            format!(
                "--scan + DUMP + sha256sum on both hosts {}",
                spread(&script)
            ),
            median(script),
            median(ours),
            "s",
            Some(5.0),
        ),
        row(
            "controller peak RSS, cutover verify redis".into(),
            "target: under 100 MB".into(),
            100.0,
            rss,
            "MB",
            Some(1.0),
        ),
    ])
}
