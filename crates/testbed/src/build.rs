//! Building a lab: choose hosts, take a slot, sweep what a killed previous holder left, then
//! keys, network, sshd configs and boot, overlapping the independent steps. `start` returns only
//! once `ssh -F LAB/ssh_config HOST true` works for every host.

use crate::error::LabError;
use crate::host::LabHost;
use crate::keys::{self, ClientFiles, KnownHost};
use crate::lab::{Lab, KEEP_MARKER, OWNED_ENTRIES};
use crate::layout::{slot_netns_prefix, Layout, CANONICAL_SLOT};
use crate::preflight::{check_dir_visible, preflight};
use crate::run::{self, finish_all};
use crate::sshd::{self, HostFiles, DEFAULT_PRIVATE_DIRS, SSHD};
use crate::{netns, ready, slot, state};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicU32;
use std::sync::Arc;

/// Where test labs put their directories unless `CUTOVER_LAB_ROOT` says otherwise: on disk (a
/// test may copy gigabytes between hosts) and outside every host-private directory.
pub const DEFAULT_LAB_ROOT: &str = "/var/lib/cutover-lab";

/// Chooses a lab's hosts and private directories, then starts it.
#[derive(Debug, Clone, Default)]
pub struct LabBuilder {
    hosts: Vec<String>,
    extra_private_dirs: Vec<PathBuf>,
}

impl LabBuilder {
    /// Adds a host (lowercase letters and digits, up to 10). Hosts get addresses .10, .20, .30
    /// of the slot's /27, then .2 to .9. Without any call the lab has `old` and `new`.
    pub fn host(mut self, name: &str) -> Self {
        self.hosts.push(name.to_string());
        self
    }

    /// Gives every host its own empty copy of absolute directory `path`, in addition to
    /// [`DEFAULT_PRIVATE_DIRS`] (e.g. `/etc/nginx/conf.d` for per-host proxy configs).
    pub fn private_dir(mut self, path: impl Into<PathBuf>) -> Self {
        self.extra_private_dirs.push(path.into());
        self
    }

    /// Starts a test lab in the first free slot (1-15) with a fresh directory under
    /// `CUTOVER_LAB_ROOT` (default [`DEFAULT_LAB_ROOT`]).
    pub fn start(self) -> Result<Lab, LabError> {
        preflight()?;
        let private = self.private_dirs()?;
        let lock = slot::acquire_test_slot()?;
        let layout = Layout::new(lock.slot, &self.host_names())?;
        let root = lab_root();
        check_dir_visible(&root, &private)?;
        sweep_test_slot(layout.slot, &root);
        let dir = root.join(format!(
            "slot-{}.{}.{}",
            layout.slot,
            std::process::id(),
            unique_suffix()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| LabError::io("create lab dir", &dir, e))?;
        let mut lab = Lab::skeleton(layout, dir, true, Some(lock));
        lab.build(private)?;
        Ok(lab)
    }

    /// Starts the canonical demo lab (slot 0: namespaces `old`, `new`, ... at 198.51.100.0/27)
    /// with its files in `dir`, replacing any previous canonical lab. The lab outlives this
    /// process: dropping the returned value leaves it running; `Lab::attach(dir)?.teardown()`
    /// ends it.
    pub fn start_canonical(self, dir: &Path) -> Result<Lab, LabError> {
        preflight()?;
        let private = self.private_dirs()?;
        std::fs::create_dir_all(dir).map_err(|e| LabError::io("create lab dir", dir, e))?;
        let dir = dir
            .canonicalize()
            .map_err(|e| LabError::io("resolve", dir, e))?;
        check_dir_visible(&dir, &private)?;
        let lock = slot::lock_blocking(CANONICAL_SLOT)?;
        let layout = Layout::new(CANONICAL_SLOT, &self.host_names())?;
        let mut stale = layout.namespaces();
        stale.extend(
            state::read(&dir)
                .map(|s| s.namespaces())
                .unwrap_or_default(),
        );
        netns::destroy(&stale, &layout.root_veth());
        for entry in OWNED_ENTRIES {
            let path = dir.join(entry);
            let _ = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
        }
        let mut lab = Lab::skeleton(layout, dir, false, Some(lock));
        lab.build(private)?;
        lab.persistent = true;
        lab.lock = None;
        Ok(lab)
    }

    fn host_names(&self) -> Vec<String> {
        if self.hosts.is_empty() {
            vec!["old".to_string(), "new".to_string()]
        } else {
            self.hosts.clone()
        }
    }

    fn private_dirs(&self) -> Result<Vec<PathBuf>, LabError> {
        let mut all: Vec<PathBuf> = DEFAULT_PRIVATE_DIRS.iter().map(PathBuf::from).collect();
        for dir in &self.extra_private_dirs {
            if !dir.is_absolute() || dir == Path::new("/") {
                return Err(LabError::Invalid(format!(
                    "private dir {} must be an absolute path below /",
                    dir.display()
                )));
            }
            all.push(dir.clone());
        }
        // Parents first: a private dir inside another must be mounted after it.
        all.sort_by_key(|d| d.components().count());
        all.dedup();
        Ok(all)
    }
}

impl Lab {
    /// Keys, network, configs, sshd, readiness; the lab is torn down by `Drop` if any fails.
    fn build(&mut self, private: Vec<PathBuf>) -> Result<(), LabError> {
        let files: Vec<HostFiles> = self
            .layout
            .hosts
            .iter()
            .map(|h| HostFiles::new(&self.dir, &h.name))
            .collect();
        for f in &files {
            std::fs::create_dir_all(&f.dir)
                .map_err(|e| LabError::io("create host dir", &f.dir, e))?;
        }
        let mut keygens = vec![keys::start_keygen(&self.identity, "cutover-lab-client")?];
        for (h, f) in self.layout.hosts.iter().zip(&files) {
            keygens.push(keys::start_keygen(
                &f.host_key(),
                &format!("cutover-lab-{}", h.name),
            )?);
        }
        let network = netns::create(&self.layout);
        finish_all(keygens)?;
        network?;

        let authorized = self.dir.join("authorized_keys");
        let client_pub = self.dir.join("id_ed25519.pub");
        std::fs::copy(&client_pub, &authorized)
            .map_err(|e| LabError::io("write authorized_keys", &authorized, e))?;
        let mut checks = Vec::new();
        for (h, f) in self.layout.hosts.iter().zip(&files) {
            sshd::prepare_dirs(f, &private)?;
            let config = f.config();
            std::fs::write(&config, sshd::config_text(h, f, &authorized))
                .map_err(|e| LabError::io("write sshd config", &config, e))?;
            let mut test = Command::new(SSHD);
            test.arg("-t").arg("-f").arg(&config);
            checks.push(run::start(
                test,
                &format!("check sshd config of host {}", h.name),
            )?);
            checks.push(keys::start_fingerprint(&f.host_key_pub())?);
        }
        let outputs = finish_all(checks)?;
        self.write_client_files(&files)?;

        let private: Arc<[PathBuf]> = private.into();
        for ((h, f), checked) in self.layout.hosts.iter().zip(&files).zip(outputs.chunks(2)) {
            let child = sshd::boot(h, f, &private)?;
            let sshd_pid = child.id();
            self.sshd.push(child);
            self.hosts.push(LabHost {
                name: h.name.clone(),
                netns: h.netns.clone(),
                address: h.address,
                sshd_pid,
                fingerprint: keys::parse_fingerprint(&checked[1].stdout)?,
                dir: f.dir.clone(),
                private_dirs: Arc::clone(&private),
                ssh_config: self.ssh_config.clone(),
                logs: self.logs.clone(),
                spawned: AtomicU32::new(0),
            });
        }
        ready::wait(&self.hosts, &mut self.sshd)?;
        state::write(self)
    }

    fn write_client_files(&self, files: &[HostFiles]) -> Result<(), LabError> {
        let mut known = Vec::new();
        for (h, f) in self.layout.hosts.iter().zip(files) {
            known.push(KnownHost {
                name: &h.name,
                address: h.address,
                key_line: keys::public_key_line(&f.host_key_pub())?,
            });
        }
        let client = ClientFiles {
            identity: self.identity.clone(),
            known_hosts: self.known_hosts.clone(),
        };
        std::fs::write(&self.known_hosts, keys::known_hosts_text(&known))
            .map_err(|e| LabError::io("write known_hosts", &self.known_hosts, e))?;
        std::fs::write(&self.ssh_config, keys::ssh_config_text(&known, &client))
            .map_err(|e| LabError::io("write ssh_config", &self.ssh_config, e))
    }
}

pub(crate) fn lab_root() -> PathBuf {
    std::env::var_os("CUTOVER_LAB_ROOT")
        .map_or_else(|| PathBuf::from(DEFAULT_LAB_ROOT), PathBuf::from)
}

/// Removes what a killed holder of test slot `slot` left: its namespaces (and processes), its
/// controller veth, and its directories unless they were kept on purpose.
fn sweep_test_slot(slot: u8, root: &Path) {
    if let Some(prefix) = slot_netns_prefix(slot) {
        netns::destroy(&netns::with_prefix(&prefix), &format!("co{slot}-host"));
    }
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    let prefix = format!("slot-{slot}.");
    for entry in entries.flatten() {
        let path = entry.path();
        let ours = entry.file_name().to_string_lossy().starts_with(&prefix);
        if ours && !path.join(KEEP_MARKER).exists() {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

fn unique_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}
