//! The contenders of the files benchmark, each one timed run: cutover's sync and verify, and
//! the tools a runbook or a practitioner would use, all between the same trees.

use super::data::{Rng, Sizes, FOLDERS};
use cutover_data::agent::AgentBinary;
use cutover_data::files::sync::{sync, Preserve, SyncOptions};
use cutover_data::files::{verify, ManifestOptions, Side, VerifyOptions};
use cutover_exec::{Executor, Redactor, SshTarget, Target};
use cutover_testbed::Lab;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

/// The source tree on old.
pub const SOURCE: &str = "/srv/bench";

/// The lab, an executor reaching its hosts, and cutover's agent.
pub struct Setup {
    pub lab: Lab,
    pub exec: Executor,
    pub agent: AgentBinary,
    pub rt: tokio::runtime::Runtime,
    pub sizes: Sizes,
}

fn side(host: &str, path: &str) -> Side {
    Side {
        host: host.into(),
        path: path.into(),
    }
}

/// The release `cutover` next to this benchmark binary.
pub fn cutover_bin() -> anyhow::Result<PathBuf> {
    let bin = std::env::current_exe()?.with_file_name("cutover");
    anyhow::ensure!(
        bin.exists(),
        "{} is missing: run scripts/bench.sh",
        bin.display()
    );
    Ok(bin)
}

/// An executor reaching old and new through the lab's SSH config.
pub fn executor(lab: &Lab) -> Executor {
    let targets = ["old", "new"].map(|h| {
        (
            h.to_string(),
            Target::Ssh(SshTarget {
                name: h.into(),
                destination: h.into(),
                port: None,
                user: None,
                identity: None,
                jump: None,
                known_hosts: None,
                config: Some(lab.ssh_config().to_path_buf()),
                connect_timeout: 10,
                control_dir: cutover_exec::control_dir_for(&lab.dir().display().to_string()),
            }),
        )
    });
    Executor::new(HashMap::from(targets), Redactor::default())
}

impl Setup {
    /// `files.sync` from old's source into `to` on new; returns seconds and files sent.
    pub fn ours_sync(&self, to: &str) -> anyhow::Result<(f64, u64)> {
        let options = SyncOptions {
            delete: false,
            exclude: Vec::new(),
            checksum: false,
            preserve: Preserve {
                owner: true,
                ..Preserve::default()
            },
            address: self.lab.host("new").address().to_string(),
            port: 0,
            relay: false,
            source_sudo: false,
            target_sudo: false,
            agent: self.agent.clone(),
            stall: None,
        };
        let t = Instant::now();
        let r = self.rt.block_on(sync(
            &self.exec,
            &side("old", SOURCE),
            &side("new", to),
            &options,
            &mut |_| {},
        ))?;
        anyhow::ensure!(r.sent.errors.is_empty(), "sync errors: {:?}", r.sent.errors);
        Ok((t.elapsed().as_secs_f64(), r.sent.files_sent))
    }

    /// `rsync -a` over SSH from old's source into `to` on new.
    pub fn rsync(&self, to: &str) -> anyhow::Result<f64> {
        self.timed_on_old(&format!(
            "rsync -a -e 'ssh -F {}' {SOURCE}/ new:{to}/",
            self.lab.ssh_config().display()
        ))
    }

    /// `tar | ssh | tar`, the practitioner's fastest first copy, into `to` on new.
    pub fn tar_pipe(&self, to: &str) -> anyhow::Result<f64> {
        self.timed_on_old(&format!(
            "tar -C {SOURCE} -cf - . | ssh -F {} new 'mkdir -p {to} && tar -C {to} -xf -'",
            self.lab.ssh_config().display()
        ))
    }

    fn timed_on_old(&self, cmd: &str) -> anyhow::Result<f64> {
        let t = Instant::now();
        self.lab.host("old").exec_ok(cmd)?;
        Ok(t.elapsed().as_secs_f64())
    }

    /// `files.verify` of old's source against `to` on new.
    pub fn ours_verify(&self, to: &str, cache: bool) -> anyhow::Result<f64> {
        let options = VerifyOptions {
            manifest: ManifestOptions {
                cache,
                ..ManifestOptions::default()
            },
            source_sudo: false,
            target_sudo: false,
            agent: self.agent.clone(),
        };
        let t = Instant::now();
        let r = self.rt.block_on(verify(
            &self.exec,
            &side("old", SOURCE),
            &side("new", to),
            &options,
            &mut |_, _, _| {},
        ))?;
        anyhow::ensure!(r.matches(), "trees differ: {}", r.text(10));
        Ok(t.elapsed().as_secs_f64())
    }

    /// Hash lists of both trees built by `list` (run in the tree on each host, writing
    /// sorted `HASH  PATH` lines), then `diff`: one host after the other as the runbook's
    /// operator does (`parallel` false), or both at once.
    pub fn lists_verify(&self, to: &str, list: &str, parallel: bool) -> anyhow::Result<f64> {
        let t = Instant::now();
        let build = |host: &str, dir: &str| {
            self.lab
                .host(host)
                .exec_ok(&format!("cd {dir} && {list} > /tmp/sums"))
        };
        if parallel {
            std::thread::scope(|s| {
                let a = s.spawn(|| build("old", SOURCE));
                let b = s.spawn(|| build("new", to));
                a.join().map_err(|_| anyhow::anyhow!("thread"))??;
                b.join().map_err(|_| anyhow::anyhow!("thread"))??;
                anyhow::Ok(())
            })?;
        } else {
            build("old", SOURCE)?;
            build("new", to)?;
        }
        crate::rounds::sh(&format!(
            "diff {} {}",
            self.lab.host("old").fs_path("/tmp/sums").display(),
            self.lab.host("new").fs_path("/tmp/sums").display()
        ))?;
        Ok(t.elapsed().as_secs_f64())
    }

    /// Rewrites 1% of the small files on old (new content, same names) through a rename, so
    /// the cached data set they are hard-linked to stays intact.
    pub fn change_one_percent(&self, round: u64) -> anyhow::Result<()> {
        let mut rng = Rng(round * 7919 + 1);
        let root = self.lab.host("old").fs_path(SOURCE);
        let mut buf = vec![0u8; 16 << 10];
        let per_folder = self.sizes.files / FOLDERS;
        for k in 0..self.sizes.files / 100 {
            let path = root.join(format!(
                "d{:03}/f{:04}.bin",
                k % FOLDERS,
                (k * 37) % per_folder
            ));
            rng.fill(&mut buf);
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, &buf)?;
            std::fs::rename(&tmp, &path)?;
        }
        Ok(())
    }
}

/// The runbook's list: `sha256sum` of every file, sorted by path.
pub const SHA256_LIST: &str = "find . -type f -print0 | xargs -0 sha256sum | sort -k 2";
/// The practitioner's list: BLAKE3 on every core, one line written at a time (`stdbuf -oL`,
/// so that parallel jobs never interleave within a line), sorted by path.
pub const B3SUM_LIST: &str =
    "find . -type f -print0 | xargs -0 -P \"$(nproc)\" -n 64 stdbuf -oL b3sum | sort -k 2";
