//! Redis 7.0 (old) -> 7.0 (new) on the lab hosts, 1 M keys of mixed types at full size (30%
//! with TTLs), cutover next to the runbook's ways measured in the same rounds, whose order
//! rotates between the tools:
//! - sync-ready time: `redis.sync` vs plain `REPLICAOF` (the floor) vs the runbook method
//!   (`redis-cli --rdb` on old, the file copied to new through the controller's SSH, new
//!   restarted on it) ([`sync`]);
//! - verify of both sides: `cutover verify redis` (peak RSS of the controller measured) vs a
//!   `redis-cli --scan | DUMP | sha256sum` script run on both hosts at once ([`verify`]);
//! - 10 switches under a write load ([`switch`]), and the mutation suite ([`mutations`]).
//!
//! `CUTOVER_BENCH_REDIS=verify` runs the verify rows alone, `CUTOVER_BENCH_REDIS=sync` the
//! sync rows alone (with `--scale`, a quick measure while working on either); the section
//! it writes then holds only those.

mod mutations;
mod switch;
mod sync;
mod verify;

use crate::report::Section;
use crate::Options;
use anyhow::{ensure, Context};
use cutover_data::agent::AgentBinary;
use cutover_data::redis::{Endpoint, Pair, SyncOptions};
use cutover_exec::{Executor, Redactor, SecretValue, SshTarget, Target};
use cutover_testbed::{Lab, RedisOptions, RedisServer, RedisVersion};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

/// The lab, both servers and the way to reach them.
pub struct Setup {
    pub lab: Lab,
    pub old: RedisServer,
    pub new: RedisServer,
    pub exec: Executor,
    pub agent: AgentBinary,
    pub keys: u64,
    pub rounds: usize,
    pub rt: tokio::runtime::Runtime,
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

/// Server `r` as its own host's agent reaches it.
pub fn endpoint(r: &RedisServer) -> Endpoint {
    let mut e = Endpoint::new(r.host(), "127.0.0.1");
    e.port = r.port();
    e.password = Some(SecretValue::new(RedisServer::PASSWORD.into()));
    e
}

impl Setup {
    /// Agents for old (source) and new (target).
    pub async fn pair(&self) -> anyhow::Result<Pair> {
        Ok(Pair::open(
            &self.exec,
            &self.agent,
            &endpoint(&self.old),
            &endpoint(&self.new),
        )
        .await?)
    }

    /// Sync options of old -> new.
    pub fn sync_options(&self) -> SyncOptions {
        SyncOptions {
            source_address: self.old.address().to_string(),
            ..SyncOptions::default()
        }
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
pub fn run(options: &Options) -> anyhow::Result<Section> {
    let lab = Lab::start()?;
    let start = |host: &str| {
        RedisServer::start(
            lab.host(host),
            RedisVersion::Redis70,
            6379,
            RedisOptions::default(),
        )
    };
    let (old, new) = (start("old")?, start("new")?);
    let keys = options.scaled(1_000_000, 10_000);
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
        rounds: options.rounds,
        rt: tokio::runtime::Runtime::new()?,
    };
    let mut section = Section {
        name: "redis",
        setup: format!(
            "`scripts/bench.sh redis`: Redis 7.0 on old -> 7.0 on new (lab hosts on this machine), {} keys of mixed types (strings, hashes, lists, sets, sorted sets, streams; 30% with TTLs; 5% in database 1).",
            crate::files::thousands(keys as usize)
        ),
        rounds: options.rounds,
        rows: Vec::new(),
        targets: Vec::new(),
        tables: Vec::new(),
        notes: Vec::new(),
    };
    let only = std::env::var("CUTOVER_BENCH_REDIS").unwrap_or_default();
    let verify_only = only == "verify";
    if verify_only {
        // The proof compares old with new: new must hold old's data first.
        s.rt.block_on(s.ours_sync())?;
    } else {
        let (rows, targets) = sync::bench(&mut s)?;
        section.rows.extend(rows);
        section.targets.extend(targets);
        if only == "sync" {
            s.rt.block_on(s.exec.disconnect_all());
            return Ok(section);
        }
    }
    let (row, targets) = verify::bench(&s)?;
    section.rows.push(row);
    section.targets.extend(targets);
    if verify_only {
        s.rt.block_on(s.exec.disconnect_all());
        return Ok(section);
    }
    let (target, note) = s.rt.block_on(switch::bench(&s, options))?;
    section.targets.push(target);
    section.notes.push(note);
    let (table, note) = s.rt.block_on(mutations::bench(&s))?;
    section.tables.push(table);
    section.notes.push(note);
    s.rt.block_on(s.exec.disconnect_all());
    Ok(section)
}
