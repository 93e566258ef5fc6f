//! One lab host as tests see it: its address, its host key, its private files from the
//! controller's side, and commands run inside it, either directly (`nsenter` into sshd's
//! namespaces: fast, for setting up fixtures and starting servers) or over real SSH.

use crate::error::LabError;
use crate::logs::LogRegistry;
use crate::run;
use crate::sshd::mirror_path;
use std::fs::OpenOptions;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

/// A host of a [`Lab`](crate::Lab): a network namespace with its own mount and UTS namespaces
/// and an sshd on port 22 of [`address`](LabHost::address).
#[derive(Debug)]
pub struct LabHost {
    pub(crate) name: String,
    pub(crate) netns: String,
    pub(crate) address: Ipv4Addr,
    pub(crate) sshd_pid: u32,
    pub(crate) fingerprint: String,
    pub(crate) dir: PathBuf,
    pub(crate) private_dirs: Arc<[PathBuf]>,
    pub(crate) ssh_config: PathBuf,
    pub(crate) logs: LogRegistry,
    pub(crate) spawned: AtomicU32,
}

impl LabHost {
    /// The host's name, also its SSH alias in the lab's `ssh_config` (`old`, `new`, ...).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The address its sshd listens on (port 22).
    pub fn address(&self) -> Ipv4Addr {
        self.address
    }

    /// Its network namespace, for `ip netns exec` and `ip -n`.
    pub fn netns(&self) -> &str {
        &self.netns
    }

    /// The SHA256 fingerprint of its host key (`SHA256:...`), as ssh prints it, for checking
    /// that code pinning host keys pinned the right one.
    pub fn host_key_fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The pid of its sshd, whose namespaces define the host.
    pub fn sshd_pid(&self) -> u32 {
        self.sshd_pid
    }

    /// Where the host's `path` is in the controller's view: inside a private directory (`/srv`,
    /// `/tmp`, ...) it is the host's own copy under the lab directory; elsewhere the host shares
    /// the real root filesystem, so it is `path` itself. Relative paths are taken from `/`.
    pub fn fs_path(&self, path: impl AsRef<Path>) -> PathBuf {
        let path = Path::new("/").join(path.as_ref());
        if self.private_dirs.iter().any(|d| path.starts_with(d)) {
            mirror_path(&self.dir.join("fs"), &path)
        } else {
            path
        }
    }

    /// Adds the host's `index`th spare address (1 to [`SPARE_ADDRESSES`](crate::SPARE_ADDRESSES)) to its
    /// lab interface and returns it: a second address on one server, as a service published
    /// on an address of its own needs (a blue/green colour behind a proxy that switches by
    /// address). It goes away with the host's namespace.
    pub fn add_address(&self, index: u8) -> Result<Ipv4Addr, LabError> {
        let spare = crate::layout::spare_address(self.address, index)?;
        let cidr = format!("{spare}/{}", crate::layout::PREFIX_LEN);
        run::ip(
            &["-n", &self.netns, "addr", "add", &cidr, "dev", "eth0"],
            &format!("add address {spare} to host {}", self.name),
        )?;
        Ok(spare)
    }

    /// A command running `sh -c cmd` inside the host (its network, mount and UTS namespaces,
    /// working directory `/root`, `HOME=/root`, and `DOCKER_HOST` naming the host's own Docker
    /// daemon as its SSH sessions have it), for callers that want their own stdio.
    pub fn command(&self, cmd: &str) -> Command {
        let mut c = Command::new("nsenter");
        c.arg("--target")
            .arg(self.sshd_pid.to_string())
            .args([
                "--net",
                "--mount",
                "--uts",
                "--wd=/root",
                "--",
                "sh",
                "-c",
                cmd,
            ])
            .env("HOME", "/root")
            .env(
                "DOCKER_HOST",
                format!("unix://{}", crate::sshd::DOCKER_SOCKET),
            );
        c
    }

    /// Runs `sh -c cmd` inside the host and returns its output whatever its exit status; errs
    /// only if it could not be started.
    pub fn exec(&self, cmd: &str) -> Result<Output, LabError> {
        run::output(
            &mut self.command(cmd),
            &format!("run on host {}", self.name),
        )
    }

    /// Runs `sh -c cmd` inside the host and returns its stdout; errs with the framed stderr
    /// if it exits non-zero.
    pub fn exec_ok(&self, cmd: &str) -> Result<String, LabError> {
        let out = run::run_ok(
            &mut self.command(cmd),
            &format!("run on host {}", self.name),
        )?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Starts a long-running `sh -c cmd` inside the host (a database, a proxy...). Its stdout
    /// and stderr go to a log file registered with the lab, so they are printed if the test
    /// fails; the lab kills it at teardown if the caller has not.
    pub fn spawn(&self, cmd: &str) -> Result<Child, LabError> {
        self.spawn_with_env(cmd, &[])
    }

    /// Like [`spawn`](LabHost::spawn), with environment changes: `Some(value)` sets a
    /// variable, `None` removes it from what the host would inherit. Values go to the
    /// process's environment only, never to a command line or the log.
    pub fn spawn_with_env(
        &self,
        cmd: &str,
        env: &[(&str, Option<String>)],
    ) -> Result<Child, LabError> {
        let n = self.spawned.fetch_add(1, Ordering::Relaxed) + 1;
        let log = self.dir.join(format!("spawn-{n}.log"));
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|e| LabError::io("open spawn log", &log, e))?;
        let err = out
            .try_clone()
            .map_err(|e| LabError::io("open spawn log", &log, e))?;
        self.logs
            .add(format!("{}: spawn {n} `{cmd}`", self.name), log);
        let mut c = self.command(cmd);
        for (name, value) in env {
            match value {
                Some(v) => c.env(name, v),
                None => c.env_remove(name),
            };
        }
        c.stdin(Stdio::null()).stdout(out).stderr(err);
        c.spawn().map_err(|e| LabError::Command {
            what: format!("start on host {}", self.name),
            command: run::describe(&c),
            status: format!("could not run: {e}"),
            stderr: String::new(),
        })
    }

    /// The command line reaching this host over SSH from the controller:
    /// `ssh -F LAB/ssh_config NAME CMD` (the remote shell parses `cmd`).
    pub fn ssh_argv(&self, cmd: &str) -> Vec<String> {
        let config = self.ssh_config.to_string_lossy().into_owned();
        vec![
            "ssh".into(),
            "-F".into(),
            config,
            self.name.clone(),
            cmd.into(),
        ]
    }

    /// Runs `cmd` on the host over real SSH and returns its output whatever its exit status.
    pub fn ssh(&self, cmd: &str) -> Result<Output, LabError> {
        let argv = self.ssh_argv(cmd);
        let mut c = Command::new(&argv[0]);
        c.args(&argv[1..]);
        run::output(&mut c, &format!("ssh to host {}", self.name))
    }

    /// The host's sshd log, in the controller's view.
    pub fn sshd_log(&self) -> PathBuf {
        self.dir.join("sshd.log")
    }
}
