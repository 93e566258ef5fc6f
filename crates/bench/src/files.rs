//! Files: cutover's host-to-host sync and its verification against the runbook's tools, in
//! one run on the lab hosts. Data (generated once, cached in the benchmark data dir): 20,000
//! files of 4-64 KiB in 100 folders plus a 1 GiB file.
//!
//! - sync: `files.sync` (agents, direct encrypted stream) against `rsync -a` over SSH from
//!   old to new: initial copy into an empty directory, incremental after 1% of the files
//!   changed, and a rerun with no change.
//! - verify: `files.verify` (BLAKE3 manifests built on both hosts) against `find | xargs
//!   sha256sum | sort` on both hosts (in parallel) + `diff`; first without the hash cache,
//!   then re-verification after 1% changed with it.
//! - controller memory: the peak RSS of `cutover verify files` over two trees of 1,000,000
//!   files that differ in one file (so that every entry streams through the controller).

use crate::table::{median, Row};
use cutover_data::files::sync::{sync, Preserve, SyncOptions};
use cutover_data::files::{verify, AgentBinary, ManifestOptions, Side, VerifyOptions};
use cutover_exec::{Executor, Redactor, SshTarget, Target};
use cutover_testbed::Lab;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Where generated data sets are kept between runs.
const DATA_DIR: &str = "/var/lib/cutover-bench/files";
const FOLDERS: usize = 100;
const FILES: usize = 20_000;
const BIG: u64 = 1 << 30;
const MILLION: usize = 1_000_000;

/// A fast deterministic generator (xorshift64*) for file sizes and contents.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

fn sh(cmd: &str) -> anyhow::Result<String> {
    let out = Command::new("sh").arg("-c").arg(cmd).output()?;
    anyhow::ensure!(
        out.status.success(),
        "`{cmd}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The main data set, generated once.
fn data_set() -> anyhow::Result<PathBuf> {
    let dir = Path::new(DATA_DIR).join("tree");
    let done = Path::new(DATA_DIR).join("tree.complete");
    if done.exists() {
        return Ok(dir);
    }
    eprintln!("   generating {FILES} files of 4-64 KiB in {FOLDERS} folders + a 1 GiB file (once)");
    let _ = std::fs::remove_dir_all(&dir);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut buf = vec![0u8; 64 << 10];
    for f in 0..FOLDERS {
        let folder = dir.join(format!("d{f:03}"));
        std::fs::create_dir_all(&folder)?;
        for i in 0..FILES / FOLDERS {
            let size = 4096 + (rng.next() % (60 << 10)) as usize;
            rng.fill(&mut buf[..size]);
            std::fs::write(folder.join(format!("f{i:04}.bin")), &buf[..size])?;
        }
    }
    let mut big = std::fs::File::create(dir.join("big.bin"))?;
    let mut chunk = vec![0u8; 4 << 20];
    for _ in 0..BIG / chunk.len() as u64 {
        rng.fill(&mut chunk);
        big.write_all(&chunk)?;
    }
    std::fs::write(&done, "")?;
    Ok(dir)
}

/// Two trees of a million small files differing in one file, generated once.
fn million() -> anyhow::Result<(PathBuf, PathBuf)> {
    let a = Path::new(DATA_DIR).join("million-a");
    let b = Path::new(DATA_DIR).join("million-b");
    let done = Path::new(DATA_DIR).join("million.complete");
    if !done.exists() {
        eprintln!("   generating 2 x {MILLION} files (once; the second tree hard-links the first)");
        for d in [&a, &b] {
            let _ = std::fs::remove_dir_all(d);
        }
        for f in 0..1000 {
            let folder = a.join(format!("d{f:03}"));
            std::fs::create_dir_all(&folder)?;
            for i in 0..MILLION / 1000 {
                std::fs::write(
                    folder.join(format!("file-{i:04}.txt")),
                    format!("{f}/{i}\n"),
                )?;
            }
        }
        sh(&format!("cp -al {} {}", a.display(), b.display()))?;
        // One difference, written through a rename so that the link to `a` is broken.
        let changed = b.join("d500/file-0500.txt");
        std::fs::write(changed.with_extension("tmp"), "changed\n")?;
        std::fs::rename(changed.with_extension("tmp"), &changed)?;
        std::fs::write(&done, "")?;
    }
    Ok((a, b))
}

fn executor(lab: &Lab) -> Executor {
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

/// The release `cutover` next to this benchmark binary.
fn cutover_bin() -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe()?;
    let bin = me.with_file_name("cutover");
    anyhow::ensure!(
        bin.exists(),
        "{} is missing: run scripts/bench.sh",
        bin.display()
    );
    Ok(bin)
}

fn side(host: &str, path: &str) -> Side {
    Side {
        host: host.into(),
        path: path.into(),
    }
}

struct Setup {
    lab: Lab,
    exec: Executor,
    agent: AgentBinary,
}

impl Setup {
    fn sync_opts(&self) -> SyncOptions {
        SyncOptions {
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
        }
    }

    fn verify_opts(&self, cache: bool) -> VerifyOptions {
        VerifyOptions {
            manifest: ManifestOptions {
                cache,
                ..ManifestOptions::default()
            },
            source_sudo: false,
            target_sudo: false,
            agent: self.agent.clone(),
        }
    }

    async fn ours_sync(&self, to: &str) -> anyhow::Result<(f64, u64)> {
        settle_writeback()?;
        let t = Instant::now();
        let r = sync(
            &self.exec,
            &side("old", "/srv/bench"),
            &side("new", to),
            &self.sync_opts(),
            &mut |_| {},
        )
        .await?;
        anyhow::ensure!(r.sent.errors.is_empty(), "sync errors: {:?}", r.sent.errors);
        Ok((t.elapsed().as_secs_f64(), r.sent.files_sent))
    }

    fn rsync(&self, to: &str) -> anyhow::Result<f64> {
        let cmd = format!(
            "rsync -a -e 'ssh -F {}' /srv/bench/ new:{to}/",
            self.lab.ssh_config().display()
        );
        settle_writeback()?;
        let t = Instant::now();
        self.lab.host("old").exec_ok(&cmd)?;
        Ok(t.elapsed().as_secs_f64())
    }

    async fn ours_verify(&self, to: &str, cache: bool) -> anyhow::Result<f64> {
        let t = Instant::now();
        let r = verify(
            &self.exec,
            &side("old", "/srv/bench"),
            &side("new", to),
            &self.verify_opts(cache),
            &mut |_, _, _| {},
        )
        .await?;
        anyhow::ensure!(r.matches(), "trees differ: {}", r.text(10));
        Ok(t.elapsed().as_secs_f64())
    }

    /// `find | xargs sha256sum | sort` on both hosts, then `diff`: one host after the other
    /// as the runbook's operator does (`parallel` false), or both at once.
    fn runbook_verify(&self, to: &str, parallel: bool) -> anyhow::Result<f64> {
        let t = Instant::now();
        let list = |host: &str, dir: &str| {
            self.lab.host(host).exec_ok(&format!(
                "cd {dir} && find . -type f -print0 | xargs -0 sha256sum | sort -k 2 > /tmp/sums"
            ))
        };
        if parallel {
            std::thread::scope(|s| {
                let a = s.spawn(|| list("old", "/srv/bench"));
                let b = s.spawn(|| list("new", to));
                a.join().map_err(|_| anyhow::anyhow!("thread"))??;
                b.join().map_err(|_| anyhow::anyhow!("thread"))??;
                anyhow::Ok(())
            })?;
        } else {
            list("old", "/srv/bench")?;
            list("new", to)?;
        }
        sh(&format!(
            "diff {} {}",
            self.lab.host("old").fs_path("/tmp/sums").display(),
            self.lab.host("new").fs_path("/tmp/sums").display()
        ))?;
        Ok(t.elapsed().as_secs_f64())
    }

    /// Rewrites 1% of the small files on old (new content, same names) through a rename, so
    /// the cached data set they are hard-linked to stays intact.
    fn change_one_percent(&self, round: u64) -> anyhow::Result<()> {
        let mut rng = Rng(round * 7919 + 1);
        let root = self.lab.host("old").fs_path("/srv/bench");
        let mut buf = vec![0u8; 16 << 10];
        for k in 0..FILES / 100 {
            let path = root.join(format!(
                "d{:03}/f{:04}.bin",
                k % FOLDERS,
                (k * 37) % (FILES / FOLDERS)
            ));
            rng.fill(&mut buf);
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, &buf)?;
            std::fs::rename(&tmp, &path)?;
        }
        Ok(())
    }
}

/// Flushes the previous run's dirty pages first, so that one tool's timing does not pay
/// for the other's writeback (both copy into the page cache; neither syncs by itself).
fn settle_writeback() -> anyhow::Result<()> {
    sh("sync").map(|_| ())
}

fn row(what: &str, baseline: &str, base: f64, ours: f64, unit: &str, target: Option<f64>) -> Row {
    Row {
        what: what.into(),
        baseline: baseline.into(),
        baseline_value: base,
        ours,
        unit: unit.into(),
        target,
    }
}

/// Runs the files benchmarks.
pub fn run() -> anyhow::Result<Vec<Row>> {
    let tree = data_set()?;
    let lab = Lab::start()?;
    let old_tree = lab.host("old").fs_path("/srv/bench");
    std::fs::create_dir_all(old_tree.parent().unwrap_or(Path::new("/")))?;
    sh(&format!("cp -al {} {}", tree.display(), old_tree.display()))?;
    let setup = Setup {
        exec: executor(&lab),
        agent: AgentBinary {
            path: cutover_bin()?,
            args: vec!["agent".into()],
        },
        lab,
    };
    let rt = tokio::runtime::Runtime::new()?;
    let mut rows = rt.block_on(bench(&setup))?;
    rows.push(memory(&setup)?);
    rt.block_on(setup.exec.disconnect_all());
    Ok(rows)
}

async fn bench(s: &Setup) -> anyhow::Result<Vec<Row>> {
    let new = s.lab.host("new");
    // Warm-up: the agent upload, the page cache of the source, SSH masters.
    s.ours_sync("/srv/warm").await?;
    s.rsync("/srv/warm-rsync")?;
    new.exec_ok("rm -rf /srv/warm /srv/warm-rsync")?;
    let mut rows = Vec::new();

    eprintln!("   initial sync: rsync -a over SSH vs files.sync (best of 2, alternating)");
    let (mut r_best, mut o_best) = (f64::MAX, f64::MAX);
    for round in 0..2 {
        new.exec_ok("rm -rf /srv/rsync /srv/ours")?;
        let r = s.rsync("/srv/rsync")?;
        let (o, files) = s.ours_sync("/srv/ours").await?;
        anyhow::ensure!(files as usize == FILES + 1, "sent {files} files");
        eprintln!("     round {round}: rsync {r:.2}s, cutover {o:.2}s");
        r_best = r_best.min(r);
        o_best = o_best.min(o);
    }
    rows.push(row(
        "initial sync 20k files + 1 GiB, old -> new",
        "rsync -a over ssh",
        r_best,
        o_best,
        "s",
        Some(1.5),
    ));

    eprintln!("   verification: runbook sha256sum lists vs files.verify (median of 3)");
    let (mut sequential, mut parallel, mut cold) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..3 {
        sequential.push(s.runbook_verify("/srv/ours", false)?);
        parallel.push(s.runbook_verify("/srv/ours", true)?);
        cold.push(s.ours_verify("/srv/ours", false).await?);
    }
    let cold = median(cold);
    rows.push(row(
        "verify both trees (no hash cache)",
        "sha256sum lists old then new + diff",
        median(sequential),
        cold,
        "s",
        Some(10.0),
    ));
    rows.push(row(
        "verify both trees (no hash cache)",
        "sha256sum lists on both at once + diff",
        median(parallel),
        cold,
        "s",
        Some(10.0),
    ));
    // Populate the hash caches: files settle 2 s after their last change.
    std::thread::sleep(std::time::Duration::from_secs(3));
    s.ours_verify("/srv/ours", true).await?;

    eprintln!("   1% of the files changed on old, 3 times (median; the order alternates)");
    let (mut rsyncs, mut ours, mut reverifies, mut runbooks) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..3u64 {
        s.change_one_percent(round + 1)?;
        let ((r, o), files) = if round % 2 == 0 {
            let r = s.rsync("/srv/rsync")?;
            let (o, files) = s.ours_sync("/srv/ours").await?;
            ((r, o), files)
        } else {
            let (o, files) = s.ours_sync("/srv/ours").await?;
            ((s.rsync("/srv/rsync")?, o), files)
        };
        anyhow::ensure!(files as usize == FILES / 100, "sent {files} files");
        eprintln!("     round {round}: rsync {r:.3}s, cutover {o:.3}s");
        rsyncs.push(r);
        ours.push(o);
        reverifies.push(s.ours_verify("/srv/ours", true).await?);
        runbooks.push(s.runbook_verify("/srv/ours", true)?);
    }
    rows.push(row(
        "incremental sync after 1% changed",
        "rsync -a over ssh",
        median(rsyncs),
        median(ours),
        "s",
        Some(1.0),
    ));
    rows.push(row(
        "re-verify after 1% changed (hash cache; target < 0.2 s)",
        "sha256sum lists on both at once + diff",
        median(runbooks),
        median(reverifies),
        "s",
        None,
    ));

    let (mut rsyncs, mut ours) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        rsyncs.push(s.rsync("/srv/rsync")?);
        let (o, files) = s.ours_sync("/srv/ours").await?;
        anyhow::ensure!(files == 0, "sent {files} files on a no-change rerun");
        ours.push(o);
    }
    rows.push(row(
        "no-change rerun",
        "rsync -a over ssh",
        median(rsyncs),
        median(ours),
        "s",
        Some(1.0),
    ));
    Ok(rows)
}

/// Peak RSS (KiB) of the controller verifying two trees of a million files.
fn memory(s: &Setup) -> anyhow::Result<Row> {
    let (a, b) = million()?;
    eprintln!("   controller memory: cutover verify files over 2 x 1M files");
    let config = s.lab.ssh_config().display().to_string();
    let mut cmd = Command::new(cutover_bin()?);
    cmd.args([
        "-f",
        "/nonexistent/cutover.toml",
        "verify",
        "files",
        "--json",
        "--ssh-config",
        &config,
    ])
    .arg(format!("old:{}", a.display()))
    .arg(format!("new:{}", b.display()))
    .stdout(std::process::Stdio::piped());
    let t = Instant::now();
    let child = cmd.spawn()?;
    let (code, peak_kib) = wait_rss(child)?;
    let secs = t.elapsed().as_secs_f64();
    anyhow::ensure!(
        code == 9,
        "expected one difference (exit 9), got exit {code}"
    );
    let mb = peak_kib as f64 / 1024.0;
    eprintln!("     {secs:.1}s, peak RSS {mb:.1} MB");
    Ok(row(
        "controller peak RSS, verify 2 x 1M files (1 differs)",
        "target: under 100 MB",
        100.0,
        mb,
        "MB",
        Some(1.0),
    ))
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
    anyhow::ensure!(
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
