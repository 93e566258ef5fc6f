//! The testbed's promises, checked against real namespaces and sshd (needs root and
//! scripts/install-deps.sh): hosts answer real SSH with pinned keys, keep their own files,
//! reach each other, run side by side in other labs, and vanish at teardown.

mod hosts;
mod lifecycle;

use cutover_testbed::Lab;
use std::process::{Command, Output};

/// Runs `ssh -F LAB/ssh_config HOST CMD`, as the demo and the cutover tool do.
fn ssh(lab: &Lab, host: &str, cmd: &str) -> Output {
    Command::new("ssh")
        .arg("-F")
        .arg(lab.ssh_config())
        .args([host, cmd])
        .output()
        .expect("ssh runs")
}

/// Like [`ssh`], failing the test unless it exits 0; returns stdout.
fn ssh_ok(lab: &Lab, host: &str, cmd: &str) -> String {
    let out = ssh(lab, host, cmd);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "ssh {host} {cmd:?} failed: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}
