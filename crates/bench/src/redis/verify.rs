//! Verify of both sides: `cutover verify redis` through both hosts' agents (the controller's
//! peak RSS measured) vs a script run on both hosts at once: every database's keys scanned,
//! sorted, `DUMP`ed one by one through one `redis-cli` reading commands from standard input,
//! hashed. The script's digests do not match on equal data where a value is held in a hash
//! table (a set of strings...), whose `DUMP` follows the table's per-process order: it is
//! timed, not trusted.

use super::{cutover_bin, Setup};
use crate::report::{Row, Target};
use crate::rounds::{Cache, Samples};
use anyhow::ensure;
use cutover_testbed::RedisServer;
use std::process::{Command, Stdio};
use std::time::Instant;

impl Setup {
    /// (seconds, peak RSS in MB).
    fn ours_verify(&self) -> anyhow::Result<(f64, f64)> {
        let config = self.lab.ssh_config().display().to_string();
        let mut cmd = Command::new(cutover_bin()?);
        cmd.args([
            "-f",
            "/nonexistent/cutover.toml",
            "verify",
            "redis",
            "--json",
        ])
        .args([
            "--ssh-config",
            &config,
            "--source-ssh",
            "old",
            "--target-ssh",
            "new",
        ])
        .args(["redis://127.0.0.1:6379", "redis://127.0.0.1:6379"])
        .env("CUTOVER_SOURCE_REDIS_PASSWORD", RedisServer::PASSWORD)
        .env("CUTOVER_TARGET_REDIS_PASSWORD", RedisServer::PASSWORD)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
        let t = Instant::now();
        let (code, mb) = crate::peak::run(&cmd)?;
        let secs = t.elapsed().as_secs_f64();
        ensure!(
            code == 0,
            "cutover verify redis: exit {code} (the copies should match)"
        );
        Ok((secs, mb))
    }

    /// (seconds, whether both hosts' digests matched).
    fn script_verify(&self) -> anyhow::Result<(f64, bool)> {
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
        let panicked = || anyhow::anyhow!("the script's thread panicked");
        let (a, b) = (a.map_err(|_| panicked())??, b.map_err(|_| panicked())??);
        Ok((started.elapsed().as_secs_f64(), a == b))
    }
}

/// The verify row, and the targets on its ratio and on the controller's memory.
pub fn bench(s: &Setup) -> anyhow::Result<(Row, Vec<Target>)> {
    let (mut ours, mut script, mut rss) =
        (Samples::default(), Samples::default(), Samples::default());
    let mut script_matched = true;
    for round in 0..s.rounds {
        for k in 0..2 {
            Cache::NotRelevant.prepare()?;
            if (round + k) % 2 == 0 {
                let (secs, mb) = s.ours_verify()?;
                ours.0.push(secs);
                rss.0.push(mb);
            } else {
                let (secs, matched) = s.script_verify()?;
                script.0.push(secs);
                script_matched &= matched;
            }
        }
        eprintln!(
            "   verify round {}: cutover {:.2}s (RSS {:.1} MB), script {:.2}s",
            round + 1,
            ours.0[round],
            rss.0[round],
            script.0[round]
        );
    }
    let keys = crate::files::thousands(s.keys as usize);
    let matched = if script_matched {
        "its digests matched"
    } else {
        "its digests differed on equal data: DUMP follows each process's hash-table order"
    };
    let ratio = Samples(
        ours.0
            .iter()
            .zip(&script.0)
            .map(|(o, t)| o / t.max(1e-9))
            .collect(),
    );
    let row = Row {
        what: format!("verify both sides, {keys} keys"),
        cache: Cache::NotRelevant.label(),
        unit: "s",
        ours,
        baseline: format!(
            "`redis-cli --scan` + `DUMP` + `sha256sum` on both hosts at once ({matched})"
        ),
        theirs: script,
        paired: true,
    };
    let targets = vec![
        Target {
            what: "verify time / the script's, same round (at least 5x faster)".into(),
            bound: 0.2,
            unit: "x",
            measured: ratio,
            own: None,
        },
        Target {
            what: format!("controller peak RSS, `cutover verify redis` over {keys} keys"),
            bound: 100.0,
            unit: "MB",
            measured: rss,
            own: None,
        },
    ];
    Ok((row, targets))
}
