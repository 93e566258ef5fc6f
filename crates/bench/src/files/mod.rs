//! Files: cutover's host-to-host sync and its verification against the runbook's tools and
//! the strongest practitioner's version of them, on the lab hosts.
//!
//! - initial sync into an empty directory (cache dropped before each run): `files.sync`
//!   against `rsync -a` over SSH and `tar | ssh | tar`;
//! - verify both trees without a hash cache (cache dropped): `files.verify` against the
//!   runbook's `sha256sum` lists (one host after the other, and both at once) and BLAKE3 on
//!   every core (`xargs -P | b3sum`, sorted) on both at once;
//! - after 1% of the files changed (warm cache): incremental sync against rsync; a rerun with
//!   no change; re-verification with the hash cache against both list methods;
//! - the controller's peak RSS verifying two trees of a million files (a target).

mod data;
pub(crate) mod tools;

pub use data::thousands;
pub use tools::cutover_bin;

use crate::report::{Row, Section, Target};
use crate::rounds::{self, sh, Cache, Contender, Samples};
use crate::Options;
use cutover_data::agent::AgentBinary;
use cutover_testbed::Lab;
use data::Sizes;
use std::path::Path;
use std::process::Command;
use std::time::Instant;
use tools::{Setup, B3SUM_LIST, SHA256_LIST, SOURCE};

const RUNBOOK: &str = "`find | xargs sha256sum | sort`, old then new, + `diff`";
const RUNBOOK_BOTH: &str = "`find | xargs sha256sum | sort` on both at once + `diff`";
const B3SUM: &str = "`find | xargs -P2 b3sum | sort` on both at once + `diff`";

/// Runs the files benchmark.
pub fn run(options: &Options) -> anyhow::Result<Section> {
    let sizes = Sizes::new(options);
    let tree = data::tree(sizes)?;
    let lab = Lab::start()?;
    let old_tree = lab.host("old").fs_path(SOURCE);
    std::fs::create_dir_all(old_tree.parent().unwrap_or(Path::new("/")))?;
    sh(&format!("cp -al {} {}", tree.display(), old_tree.display()))?;
    let setup = Setup {
        exec: tools::executor(&lab),
        agent: AgentBinary {
            path: tools::cutover_bin()?,
            args: vec!["agent".into()],
        },
        lab,
        rt: tokio::runtime::Runtime::new()?,
        sizes,
    };
    let mut section = Section {
        name: "files",
        setup: format!(
            "`scripts/bench.sh files`: {}, from old to new (lab hosts on this machine), every contender between the same trees.",
            sizes.describe()
        ),
        rounds: options.rounds,
        rows: Vec::new(),
        targets: Vec::new(),
        tables: Vec::new(),
        notes: Vec::new(),
    };
    section.rows = comparisons(&setup, options.rounds)?;
    section.targets.push(memory(&setup)?);
    setup.rt.block_on(setup.exec.disconnect_all());
    Ok(section)
}

fn row(what: &str, cache: &Cache, ours: &Samples, baseline: &str, theirs: Samples) -> Row {
    Row {
        what: what.into(),
        cache: cache.label(),
        unit: "s",
        ours: ours.clone(),
        baseline: baseline.into(),
        theirs,
        paired: true,
    }
}

fn comparisons(s: &Setup, rounds: usize) -> anyhow::Result<Vec<Row>> {
    let new = s.lab.host("new");
    let files = s.sizes.files as u64;
    // Untimed: the agent's upload and the SSH masters.
    s.ours_sync("/srv/warm")?;
    new.exec_ok("rm -rf /srv/warm")?;
    let mut rows = Vec::new();

    eprintln!("   initial sync into an empty directory");
    let cold = Cache::Dropped;
    let fresh = |dir: &str| new.exec_ok(&format!("rm -rf {dir}")).map(|_| ());
    let mut initial = [
        Contender::new("rsync", || {
            fresh("/srv/rsync")?;
            s.rsync("/srv/rsync")
        }),
        Contender::new("tar", || {
            fresh("/srv/tar")?;
            s.tar_pipe("/srv/tar")
        }),
        Contender::new("cutover", || {
            fresh("/srv/ours")?;
            let (secs, sent) = s.ours_sync("/srv/ours")?;
            anyhow::ensure!(sent == files + 1, "sent {sent} files, not {}", files + 1);
            Ok(secs)
        }),
    ];
    let [rsync, tar, ours] = take3(rounds::run(rounds, &cold, &mut initial, |_| Ok(()))?);
    drop(initial);
    new.exec_ok("rm -rf /srv/tar")?;
    let what = "initial sync, old -> new";
    rows.push(row(what, &cold, &ours, "`rsync -a` over SSH", rsync));
    rows.push(row(what, &cold, &ours, "`tar -c | ssh | tar -x`", tar));

    eprintln!("   verification of both trees, no hash cache");
    let mut verify = [
        Contender::new("runbook", || {
            s.lists_verify("/srv/ours", SHA256_LIST, false)
        }),
        Contender::new("runbook-both", || {
            s.lists_verify("/srv/ours", SHA256_LIST, true)
        }),
        Contender::new("b3sum", || s.lists_verify("/srv/ours", B3SUM_LIST, true)),
        Contender::new("cutover", || s.ours_verify("/srv/ours", false)),
    ];
    let v = rounds::run(rounds, &cold, &mut verify, |_| Ok(()))?;
    drop(verify);
    let what = "verify both trees (no hash cache)";
    rows.push(row(what, &cold, &v[3], RUNBOOK, v[0].clone()));
    rows.push(row(what, &cold, &v[3], RUNBOOK_BOTH, v[1].clone()));
    rows.push(row(what, &cold, &v[3], B3SUM, v[2].clone()));

    let warm = Cache::Warm(vec![
        s.lab.host("old").fs_path(SOURCE),
        new.fs_path("/srv/rsync"),
        new.fs_path("/srv/ours"),
    ]);
    eprintln!("   incremental sync after 1% of the files changed on old");
    s.change_one_percent(1)?;
    let mut incremental = [
        Contender::new("rsync", || s.rsync("/srv/rsync")),
        Contender::new("cutover", || {
            let (secs, sent) = s.ours_sync("/srv/ours")?;
            anyhow::ensure!(
                sent == files / 100,
                "sent {sent} files, not {}",
                files / 100
            );
            Ok(secs)
        }),
    ];
    let inc = rounds::run(rounds, &warm, &mut incremental, |round| {
        s.change_one_percent(round as u64 + 2)
    })?;
    drop(incremental);
    // The last round's change is still to be synced by both.
    s.rsync("/srv/rsync")?;
    s.ours_sync("/srv/ours")?;
    rows.push(row(
        "incremental sync after 1% changed",
        &warm,
        &inc[1],
        "`rsync -a` over SSH",
        inc[0].clone(),
    ));

    eprintln!("   rerun with no change");
    let mut rerun = [
        Contender::new("rsync", || s.rsync("/srv/rsync")),
        Contender::new("cutover", || {
            let (secs, sent) = s.ours_sync("/srv/ours")?;
            anyhow::ensure!(sent == 0, "sent {sent} files on a no-change rerun");
            Ok(secs)
        }),
    ];
    let same = rounds::run(rounds, &warm, &mut rerun, |_| Ok(()))?;
    drop(rerun);
    rows.push(row(
        "no-change rerun",
        &warm,
        &same[1],
        "`rsync -a` over SSH",
        same[0].clone(),
    ));

    eprintln!("   re-verification after 1% changed, with the hash cache");
    // Fill the hash caches: files settle 2 s after their last change.
    std::thread::sleep(std::time::Duration::from_secs(3));
    s.ours_verify("/srv/ours", true)?;
    let changed = |round: u64| -> anyhow::Result<()> {
        s.change_one_percent(round + 100)?;
        s.ours_sync("/srv/ours").map(|_| ())
    };
    changed(0)?;
    let mut reverify = [
        Contender::new("runbook-both", || {
            s.lists_verify("/srv/ours", SHA256_LIST, true)
        }),
        Contender::new("b3sum", || s.lists_verify("/srv/ours", B3SUM_LIST, true)),
        Contender::new("cutover", || s.ours_verify("/srv/ours", true)),
    ];
    let re = rounds::run(rounds, &warm, &mut reverify, |round| {
        changed(round as u64 + 1)
    })?;
    drop(reverify);
    let what = "re-verify after 1% changed (cutover's hash cache)";
    rows.push(row(what, &warm, &re[2], RUNBOOK_BOTH, re[0].clone()));
    rows.push(row(what, &warm, &re[2], B3SUM, re[1].clone()));
    Ok(rows)
}

fn take3(v: Vec<Samples>) -> [Samples; 3] {
    let mut it = v.into_iter();
    [0, 1, 2].map(|_| it.next().unwrap_or_default())
}

/// Peak RSS of the controller verifying two trees of tiny files that differ in one.
fn memory(s: &Setup) -> anyhow::Result<Target> {
    let (a, b) = data::tiny_trees(s.sizes.tiny)?;
    eprintln!(
        "   controller memory: cutover verify files over 2 x {} files",
        s.sizes.tiny
    );
    let config = s.lab.ssh_config().display().to_string();
    let mut cmd = Command::new(tools::cutover_bin()?);
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
    let (code, mb) = crate::peak::run(&cmd)?;
    anyhow::ensure!(
        code == 9,
        "expected one difference (exit 9), got exit {code}"
    );
    eprintln!(
        "     {:.1}s, peak RSS {mb:.1} MB",
        t.elapsed().as_secs_f64()
    );
    Ok(Target {
        what: format!(
            "controller peak RSS, `cutover verify files` over 2 x {} files differing in one (1 run)",
            data::thousands(s.sizes.tiny)
        ),
        bound: 100.0,
        unit: "MB",
        measured: Samples(vec![mb]),
        own: None,
    })
}
