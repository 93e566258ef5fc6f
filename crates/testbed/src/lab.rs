//! The lab: hosts, the client files that reach them, and teardown on drop (with the server logs
//! printed first when the test is failing).

use crate::error::LabError;
use crate::host::LabHost;
use crate::layout::Layout;
use crate::logs::{self, LogRegistry};
use crate::slot::SlotLock;
use crate::{netns, LabBuilder};
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Child;

/// Set to `1` to keep a test lab's directory (keys, configs, logs, host files) for inspection;
/// its namespaces and processes are removed all the same, and the directory stays until
/// removed by hand.
pub const KEEP_ENV: &str = "CUTOVER_KEEP_LAB";
/// Marker file telling the next holder of the slot not to sweep a kept directory away.
pub(crate) const KEEP_MARKER: &str = "KEEP";
/// What a lab writes into its directory; for a directory it does not own (the canonical lab's),
/// exactly these are removed at teardown.
pub(crate) const OWNED_ENTRIES: &[&str] = &[
    "hosts",
    "id_ed25519",
    "id_ed25519.pub",
    "authorized_keys",
    "known_hosts",
    "ssh_config",
    "lab.json",
];

/// A set of SSH hosts in network namespaces, reachable from the controller (the root
/// namespace) with `ssh -F LAB/ssh_config HOST`. Dropping it kills everything running in its
/// hosts and deletes them, unless it is the persistent canonical lab of `cutover-lab up`.
#[derive(Debug)]
pub struct Lab {
    pub(crate) layout: Layout,
    pub(crate) dir: PathBuf,
    pub(crate) ssh_config: PathBuf,
    pub(crate) known_hosts: PathBuf,
    pub(crate) identity: PathBuf,
    pub(crate) owns_dir: bool,
    pub(crate) hosts: Vec<LabHost>,
    pub(crate) sshd: Vec<Child>,
    pub(crate) logs: LogRegistry,
    pub(crate) lock: Option<SlotLock>,
    pub(crate) persistent: bool,
    pub(crate) torn_down: bool,
}

impl Lab {
    /// An empty lab over `layout` in `dir`: torn down on drop from the start, so a setup that
    /// fails halfway leaves nothing behind.
    pub(crate) fn skeleton(
        layout: Layout,
        dir: PathBuf,
        owns_dir: bool,
        lock: Option<SlotLock>,
    ) -> Lab {
        Lab {
            layout,
            ssh_config: dir.join("ssh_config"),
            known_hosts: dir.join("known_hosts"),
            identity: dir.join("id_ed25519"),
            dir,
            owns_dir,
            hosts: Vec::new(),
            sshd: Vec::new(),
            logs: LogRegistry::default(),
            lock,
            persistent: false,
            torn_down: false,
        }
    }

    /// A test lab with hosts `old` and `new` in the first free slot, ready for `ssh`.
    pub fn start() -> Result<Lab, LabError> {
        LabBuilder::default().start()
    }

    /// A builder to choose hosts and private directories.
    pub fn builder() -> LabBuilder {
        LabBuilder::default()
    }

    /// The lab's directory: keys, client files, and each host's files under `hosts/NAME`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The slot (0 for the canonical demo lab, 1-15 for tests).
    pub fn slot(&self) -> u8 {
        self.layout.slot
    }

    /// The `ssh_config` naming every host (`ssh -F THIS old true`).
    pub fn ssh_config(&self) -> &Path {
        &self.ssh_config
    }

    /// Writes to `path` the lab's `ssh_config` with `lines` added at the top of each named
    /// host's block (OpenSSH keeps the first value of an option, so they override the lab's
    /// own): the SSH configs users write, lax or odd, for tests of what cutover makes of them.
    ///
    /// # Panics
    /// If the lab has no such host or the file cannot be written (a bug in the test).
    pub fn write_ssh_config_with(&self, path: &Path, additions: &[(&str, &str)]) {
        let mut text =
            std::fs::read_to_string(&self.ssh_config).expect("read the lab's ssh_config");
        for (host, lines) in additions {
            let prefix = format!("Host {host} ");
            let header = text
                .lines()
                .find(|l| l.starts_with(&prefix))
                .unwrap_or_else(|| panic!("no host `{host}` in the lab's ssh_config"))
                .to_string();
            text = text.replacen(&header, &format!("{header}\n{lines}"), 1);
        }
        std::fs::write(path, text).expect("write the ssh_config");
    }

    /// Rewrites the lab's `known_hosts` so that host `host`'s entry holds host `other`'s key:
    /// `host` then presents a key that differs from the recorded one.
    ///
    /// # Panics
    /// If either host has no entry (a bug in the test).
    pub fn forge_known_host(&self, host: &str, other: &str) {
        let known = std::fs::read_to_string(&self.known_hosts).expect("read known_hosts");
        let key_of = |h: &str| {
            known
                .lines()
                .find(|l| l.starts_with(&format!("{h},")))
                .and_then(|l| l.split_once(' '))
                .map(|(_, key)| key.to_string())
                .unwrap_or_else(|| panic!("no known_hosts entry for `{h}`"))
        };
        let forged = key_of(other);
        key_of(host);
        let lines: Vec<String> = known
            .lines()
            .map(|l| match l.split_once(' ') {
                Some((names, _)) if l.starts_with(&format!("{host},")) => {
                    format!("{names} {forged}")
                }
                _ => l.to_string(),
            })
            .collect();
        std::fs::write(&self.known_hosts, lines.join("\n") + "\n").expect("write known_hosts");
    }

    /// The `known_hosts` pinning every host key under the host's name and address.
    pub fn known_hosts(&self) -> &Path {
        &self.known_hosts
    }

    /// The client private key authorized as root on every host.
    pub fn identity(&self) -> &Path {
        &self.identity
    }

    /// The controller's address on the lab network (root namespace side).
    pub fn controller_address(&self) -> Ipv4Addr {
        self.layout.controller()
    }

    /// The host called `name`.
    ///
    /// # Panics
    /// If the lab has no such host: a test naming a host it did not ask for is a bug in the
    /// test. Use [`Lab::try_host`] to ask.
    pub fn host(&self, name: &str) -> &LabHost {
        match self.try_host(name) {
            Ok(host) => host,
            Err(e) => panic!("{e}"),
        }
    }

    /// The host called `name`, or an error listing the lab's hosts.
    pub fn try_host(&self, name: &str) -> Result<&LabHost, LabError> {
        self.hosts
            .iter()
            .find(|h| h.name == name)
            .ok_or_else(|| LabError::UnknownHost {
                name: name.to_string(),
                known: self.hosts.iter().map(|h| h.name.clone()).collect(),
            })
    }

    /// Every host, in the order they were asked for.
    pub fn hosts(&self) -> &[LabHost] {
        &self.hosts
    }

    /// Registers a server log (a controller-side path, e.g. from [`LabHost::fs_path`]) to print
    /// if the test fails while the lab is alive.
    pub fn add_log(&self, name: impl Into<String>, path: impl Into<PathBuf>) {
        self.logs.add(name.into(), path.into());
    }

    /// Tears the lab down now, even the persistent canonical one, reporting what failed.
    pub fn teardown(mut self) -> Result<(), LabError> {
        let problems = self.teardown_now();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(LabError::Teardown {
                slot: self.layout.slot,
                problems,
            })
        }
    }

    /// The tail of every sshd log and registered log, framed, for a failing test.
    pub fn failure_report(&self) -> String {
        let mut out = format!(
            "===== cutover lab (slot {}) in {} =====\n",
            self.layout.slot,
            self.dir.display()
        );
        for host in &self.hosts {
            out.push_str(&logs::framed(
                &format!("{}: sshd log", host.name),
                &host.sshd_log(),
            ));
        }
        for (name, path) in self.logs.entries() {
            out.push_str(&logs::framed(&name, &path));
        }
        out
    }

    /// Kills, deletes and removes everything the lab made; returns what went wrong. Runs once.
    pub(crate) fn teardown_now(&mut self) -> Vec<String> {
        if self.torn_down {
            return Vec::new();
        }
        self.torn_down = true;
        let mut problems = netns::destroy(&self.layout.namespaces(), &self.layout.root_veth());
        for child in &mut self.sshd {
            // Already SIGKILLed with its namespace; this reaps it so no zombie is left.
            let _ = child.kill();
            let _ = child.wait();
        }
        problems.extend(self.remove_files());
        self.lock = None;
        problems
    }

    fn remove_files(&self) -> Vec<String> {
        if self.owns_dir && std::env::var(KEEP_ENV).is_ok_and(|v| v == "1") {
            let _ = std::fs::write(
                self.dir.join(KEEP_MARKER),
                "kept because CUTOVER_KEEP_LAB=1\n",
            );
            let _ = writeln!(
                std::io::stderr(),
                "cutover-testbed: {KEEP_ENV}=1: lab kept in {}",
                self.dir.display()
            );
            return Vec::new();
        }
        let targets: Vec<PathBuf> = if self.owns_dir {
            vec![self.dir.clone()]
        } else {
            OWNED_ENTRIES.iter().map(|e| self.dir.join(e)).collect()
        };
        targets
            .iter()
            .filter(|p| p.symlink_metadata().is_ok())
            .filter_map(|p| remove(p).err())
            .collect()
    }
}

fn remove(path: &Path) -> Result<(), String> {
    let result = if path.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
    result.map_err(|e| format!("remove {}: {e}", path.display()))
}

impl Drop for Lab {
    fn drop(&mut self) {
        if self.persistent {
            return;
        }
        let mut err = std::io::stderr();
        if std::thread::panicking() {
            let _ = err.write_all(self.failure_report().as_bytes());
        }
        for problem in self.teardown_now() {
            let _ = writeln!(
                err,
                "cutover-testbed: teardown of lab slot {}: {problem}",
                self.layout.slot
            );
        }
    }
}
