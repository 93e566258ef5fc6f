//! `images.copy` of a 500 MB image (five 100 MB layers of random bytes over busybox) from
//! one host's engine into another's that has none of it, against the runbook's
//! `ssh old docker save IMAGE | ssh new docker load` through the controller; the target's
//! copy is removed before every run and its id checked after.

use super::DockerLab;
use crate::report::Row;
use crate::rounds::{self, Cache, Contender};
use crate::Options;
use cutover_testbed::images;
use std::time::Instant;

const IMAGE: &str = "big:1";

const PLAN: &str = r#"[[stages]]
name = "images"
[[stages.steps]]
id = "copy"
kind = "images.copy"
from = "old"
to = "new"
images = ["big:1"]
"#;

/// The comparison's row.
pub fn run(options: &Options) -> anyhow::Result<Row> {
    let d = DockerLab::start(&["old", "new"])?;
    let old = d.lab.host("old");
    images::busybox(old, d.docker("old")?, "base:1")?;
    let layers = options.scaled(5, 1) as u32;
    let id = images::random_layers(old, d.docker("old")?, "base:1", IMAGE, layers, 100, "bench")?;
    let ssh = d.lab.ssh_config().display().to_string();
    let target = d.docker("new")?;
    let clear = || -> anyhow::Result<()> {
        target.shell(&format!(
            "docker rmi -f {IMAGE} >/dev/null 2>&1; docker image prune -af >/dev/null"
        ))?;
        Ok(())
    };
    let landed = || -> anyhow::Result<()> {
        let got = target.docker(&format!("image inspect -f '{{{{.Id}}}}' {IMAGE}"))?;
        anyhow::ensure!(got.trim() == id, "the copy on new is {got}, not {id}");
        Ok(())
    };
    let mut contenders = [
        Contender::new("cutover", || {
            clear()?;
            let plan = d.plan(PLAN, &[])?;
            let t = Instant::now();
            plan.apply()?;
            let took = t.elapsed().as_secs_f64();
            landed()?;
            Ok(took)
        }),
        Contender::new("save|load", || {
            clear()?;
            let t = Instant::now();
            let status = std::process::Command::new("bash")
                .arg("-c")
                .arg(format!(
                    "set -o pipefail; ssh -F {ssh} old docker save {IMAGE} | ssh -F {ssh} new docker load >/dev/null"
                ))
                .status()?;
            anyhow::ensure!(status.success(), "docker save | docker load failed");
            let took = t.elapsed().as_secs_f64();
            landed()?;
            Ok(took)
        }),
    ];
    let s = rounds::run(options.rounds, &Cache::NotRelevant, &mut contenders, |_| {
        Ok(())
    })?;
    drop(contenders);
    Ok(Row {
        what: format!("`images.copy` of a {} MB image ({layers} layers of 100 MB, random bytes, over busybox) into an engine without it, id checked", layers * 100),
        cache: Cache::NotRelevant.label(),
        unit: "s",
        ours: s[0].clone(),
        baseline: "`ssh old docker save | ssh new docker load` (through the controller)".into(),
        theirs: s[1].clone(),
        paired: true,
    })
}
