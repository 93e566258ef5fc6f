//! Sync-ready time, three ways in rotating order: `redis.sync` (preflight included) until the
//! target is in sync; plain `CONFIG SET masterauth` + `REPLICAOF` polled every 20 ms until
//! the link is up and the offsets meet (the floor); the runbook's `redis-cli --rdb` on old,
//! the file through the controller's SSH into new's data directory, new restarted on it.

use super::Setup;
use crate::report::{Row, Target};
use crate::rounds::{Cache, Samples};
use anyhow::ensure;
use cutover_testbed::RedisServer;
use std::process::Command;
use std::time::{Duration, Instant};

impl Setup {
    /// New back to an empty primary.
    fn reset_new(&self) -> anyhow::Result<()> {
        self.new.cli(&["REPLICAOF", "NO", "ONE"])?;
        self.new.cli(&["FLUSHALL"])?;
        Ok(())
    }

    /// `redis.sync` until the target is in sync (preflight included).
    pub async fn ours_sync(&self) -> anyhow::Result<f64> {
        self.reset_new()?;
        let started = Instant::now();
        let mut pair = self.pair().await?;
        let o = self.sync_options();
        let result = async {
            pair.preflight(&o).await?;
            pair.start_sync(&o).await?;
            let quiet = |_: String| {};
            pair.watch_sync(&o, &quiet).await
        }
        .await;
        let secs = started.elapsed().as_secs_f64();
        pair.close().await;
        let report = result?;
        ensure!(report.keys >= self.keys, "only {} keys synced", report.keys);
        Ok(secs)
    }

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
}

/// The sync rows (vs REPLICAOF, vs the runbook) and the targets on their ratios. New is left
/// an exact copy of old, for the proofs.
pub fn bench(s: &mut Setup) -> anyhow::Result<(Vec<Row>, Vec<Target>)> {
    let (mut ours, mut plain, mut runbook) =
        (Samples::default(), Samples::default(), Samples::default());
    s.rt.block_on(s.ours_sync())?; // warm-up: the agent upload, SSH masters
    for round in 0..s.rounds {
        for k in 0..3 {
            Cache::NotRelevant.prepare()?;
            match (round + k) % 3 {
                0 => ours.0.push(s.rt.block_on(s.ours_sync())?),
                1 => plain.0.push(s.plain_replicaof()?),
                _ => runbook.0.push(s.runbook_sync()?),
            }
        }
        eprintln!(
            "   sync round {}: cutover {:.2}s, REPLICAOF {:.2}s, runbook {:.2}s",
            round + 1,
            ours.0[round],
            plain.0[round],
            runbook.0[round]
        );
    }
    s.rt.block_on(s.ours_sync())?;
    let keys = crate::files::thousands(s.keys as usize);
    let row = |baseline: &str, theirs: &Samples| Row {
        what: format!("sync-ready, {keys} keys (preflight included)"),
        cache: Cache::NotRelevant.label(),
        unit: "s",
        ours: ours.clone(),
        baseline: baseline.into(),
        theirs: theirs.clone(),
        paired: true,
    };
    let ratio = |theirs: &Samples| {
        Samples(
            ours.0
                .iter()
                .zip(&theirs.0)
                .map(|(o, t)| o / t.max(1e-9))
                .collect(),
        )
    };
    let targets = vec![
        Target {
            what: "sync-ready time / plain `REPLICAOF`'s, same round (within 10% of the floor)"
                .into(),
            bound: 1.1,
            unit: "x",
            measured: ratio(&plain),
            own: None,
        },
        Target {
            what: "sync-ready time / the runbook's, same round (at least 2x faster)".into(),
            bound: 0.5,
            unit: "x",
            measured: ratio(&runbook),
            own: None,
        },
    ];
    Ok((
        vec![
            row(
                "plain `CONFIG SET masterauth` + `REPLICAOF`, polled every 20 ms (the floor)",
                &plain,
            ),
            row(
                "`redis-cli --rdb`, the file copied over SSH, new restarted on it (the runbook)",
                &runbook,
            ),
        ],
        targets,
    ))
}
