//! The lab's state file, `LAB/lab.json`: what a later process (`cutover-lab status`, `exec`,
//! `down`) needs to find a persistent lab again, since no lock or handle survives the process
//! that built it. Test labs write it too, which helps when inspecting a kept lab.

use crate::error::LabError;
use crate::host::LabHost;
use crate::lab::Lab;
use crate::layout::Layout;
use crate::logs::LogRegistry;
use crate::netns;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU32;
use std::sync::Arc;

const FILE: &str = "lab.json";

/// The persisted description of a lab.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LabState {
    slot: u8,
    private_dirs: Vec<PathBuf>,
    hosts: Vec<HostState>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct HostState {
    name: String,
    sshd_pid: u32,
    fingerprint: String,
}

impl LabState {
    /// The namespaces the described lab used, for sweeping them.
    pub(crate) fn namespaces(&self) -> Vec<String> {
        let names: Vec<String> = self.hosts.iter().map(|h| h.name.clone()).collect();
        Layout::new(self.slot, &names)
            .map(|l| l.namespaces())
            .unwrap_or_default()
    }
}

/// Writes `lab`'s state file.
pub(crate) fn write(lab: &Lab) -> Result<(), LabError> {
    let state = LabState {
        slot: lab.layout.slot,
        private_dirs: lab
            .hosts
            .first()
            .map(|h| h.private_dirs.to_vec())
            .unwrap_or_default(),
        hosts: lab
            .hosts
            .iter()
            .map(|h| HostState {
                name: h.name.clone(),
                sshd_pid: h.sshd_pid,
                fingerprint: h.fingerprint.clone(),
            })
            .collect(),
    };
    let path = lab.dir.join(FILE);
    let text = serde_json::to_string_pretty(&state)
        .map_err(|e| LabError::Invalid(format!("encode lab state: {e}")))?;
    std::fs::write(&path, text + "\n").map_err(|e| LabError::io("write lab state", &path, e))
}

/// Reads the state file in `dir`.
pub(crate) fn read(dir: &Path) -> Result<LabState, LabError> {
    let path = dir.join(FILE);
    let not_up = |reason: String| LabError::NotUp {
        dir: dir.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| not_up(format!("cannot read {}: {e}", path.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| not_up(format!("{} is not a lab state file: {e}", path.display())))
}

impl Lab {
    /// Finds the lab described by `dir/lab.json` (written by `cutover-lab up`). The value does
    /// not own the lab: dropping it leaves the lab running; [`Lab::teardown`] ends it.
    pub fn attach(dir: &Path) -> Result<Lab, LabError> {
        let dir = dir.canonicalize().map_err(|e| LabError::NotUp {
            dir: dir.to_path_buf(),
            reason: e.to_string(),
        })?;
        let state = read(&dir)?;
        let names: Vec<String> = state.hosts.iter().map(|h| h.name.clone()).collect();
        let layout = Layout::new(state.slot, &names)?;
        let owns_dir = state.slot != crate::layout::CANONICAL_SLOT;
        let mut lab = Lab::skeleton(layout, dir, owns_dir, None);
        lab.persistent = true;
        let private: Arc<[PathBuf]> = state.private_dirs.into();
        for (h, saved) in lab.layout.hosts.iter().zip(state.hosts) {
            lab.hosts.push(LabHost {
                name: h.name.clone(),
                netns: h.netns.clone(),
                address: h.address,
                sshd_pid: saved.sshd_pid,
                fingerprint: saved.fingerprint,
                dir: lab.dir.join("hosts").join(&h.name),
                private_dirs: Arc::clone(&private),
                ssh_config: lab.ssh_config.clone(),
                logs: LogRegistry::default(),
                spawned: AtomicU32::new(0),
            });
        }
        Ok(lab)
    }
}

impl LabHost {
    /// Whether the host's namespace exists and its sshd still runs in it: cheap, and what makes
    /// `nsenter` on the recorded sshd pid safe (a reused pid would belong to another process).
    pub fn is_running(&self) -> bool {
        netns::exists(&self.netns) && netns::pid_is_in(self.sshd_pid, &self.netns)
    }

    /// Checks the host is alive: its namespace exists, its sshd runs in it, and `ssh true`
    /// works with the lab's client files.
    pub fn check(&self) -> Result<(), LabError> {
        let down = |reason: String| LabError::HostDown {
            host: self.name.clone(),
            reason,
        };
        if !netns::exists(&self.netns) {
            return Err(down(format!("network namespace {} is missing", self.netns)));
        }
        if !netns::pid_is_in(self.sshd_pid, &self.netns) {
            return Err(down(format!(
                "its sshd (pid {}) is not running in {}",
                self.sshd_pid, self.netns
            )));
        }
        let out = self.ssh("true")?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            return Err(down(format!(
                "`ssh true` failed{}",
                crate::error::frame("ssh stderr", &stderr)
            )));
        }
        Ok(())
    }
}
