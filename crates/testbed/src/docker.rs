//! A Docker daemon inside a lab host, for tests and benchmarks of the Compose steps: Debian's
//! `dockerd` with the host's own data root (`/var/lib/docker`), exec root (`/run/docker`) and
//! socket ([`DOCKER_SOCKET`], which the host's SSH sessions get as `DOCKER_HOST`), so that
//! every host is its own Docker host, as two servers are, and the machine's own Docker state
//! (if any) is never touched.
//!
//! ```no_run
//! use cutover_testbed::{docker::DockerDaemon, Lab};
//! let lab = Lab::start()?;
//! let docker = DockerDaemon::start(lab.host("new"))?;
//! docker.docker("image ls")?;
//! # Ok::<(), cutover_testbed::LabError>(())
//! ```
//!
//! Networking: the daemon runs in the host's network namespace with its defaults (a `docker0`
//! bridge, user-defined bridges for Compose projects, iptables NAT and `docker-proxy` for
//! published ports); all of it stays inside that namespace, so published ports answer on the
//! host's lab address and containers reach the other lab hosts. Containers' cgroups go under
//! `cutover-lab/NETNS` in every hierarchy, which is how a teardown finds container processes
//! (they live in their own network namespaces, out of the lab's reach) even after the test
//! that started them was killed.

use crate::error::LabError;
use crate::host::LabHost;
use crate::run::{self, sh_quote};
use crate::sshd::DOCKER_SOCKET;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

/// The cgroup (under every hierarchy's root) holding all lab containers, one child per host.
pub(crate) const CGROUP_PARENT: &str = "cutover-lab";
/// How long a daemon may take to answer after it was started.
const START_DEADLINE: Duration = Duration::from_secs(60);

/// A Docker daemon running inside a lab host; on drop its containers are removed and it is
/// stopped (the lab kills whatever is left at its own teardown).
#[derive(Debug)]
pub struct DockerDaemon {
    host: String,
    sshd_pid: u32,
    netns: String,
    child: Option<Child>,
}

impl DockerDaemon {
    /// Starts `dockerd` inside `host` and waits until it answers. Its log is registered with
    /// the lab, so it is printed if the test fails.
    pub fn start(host: &LabHost) -> Result<DockerDaemon, LabError> {
        for program in ["dockerd", "docker", "containerd", "runc"] {
            if which(program).is_none() {
                return Err(LabError::MissingProgram {
                    program: program.into(),
                    why: "a Docker daemon on a lab host".into(),
                });
            }
        }
        let line = format!(
            "exec dockerd --data-root /var/lib/docker --exec-root /run/docker \
             --pidfile /run/docker/dockerd.pid -H unix://{DOCKER_SOCKET} \
             --cgroup-parent /{CGROUP_PARENT}/{netns} --shutdown-timeout 2 --log-level warn",
            netns = host.netns
        );
        let child = host.spawn(&line)?;
        let mut daemon = DockerDaemon {
            host: host.name.clone(),
            sshd_pid: host.sshd_pid,
            netns: host.netns.clone(),
            child: Some(child),
        };
        daemon.wait_ready(host)?;
        Ok(daemon)
    }

    fn wait_ready(&mut self, host: &LabHost) -> Result<(), LabError> {
        let started = Instant::now();
        loop {
            let out = host.exec("docker version --format '{{.Server.Version}}'")?;
            if out.status.success() {
                return Ok(());
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                return Err(LabError::Invalid(format!(
                    "dockerd on {} exited ({}) before answering; see its log",
                    self.host,
                    run::status_text(&status)
                )));
            }
            if started.elapsed() > START_DEADLINE {
                return Err(LabError::Invalid(format!(
                    "dockerd on {} does not answer after {:?}: {}",
                    self.host,
                    started.elapsed(),
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The host the daemon runs on.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Runs `docker ARGS` (a shell line after `docker `) inside the host; returns stdout, or
    /// the framed stderr if it fails.
    pub fn docker(&self, args: &str) -> Result<String, LabError> {
        self.shell(&format!("docker {args}"))
    }

    /// Runs shell `script` inside the host with this daemon as `DOCKER_HOST`.
    pub fn shell(&self, script: &str) -> Result<String, LabError> {
        let out = run::run_ok(
            &mut self.command(script),
            &format!("docker on host {}", self.host),
        )?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// A command running shell `script` inside the host (own stdio for the caller).
    pub fn command(&self, script: &str) -> std::process::Command {
        let mut c = std::process::Command::new("nsenter");
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
                script,
            ])
            .env("HOME", "/root")
            .env("DOCKER_HOST", format!("unix://{DOCKER_SOCKET}"));
        c
    }

    /// Stops the daemon the way a crash or `systemctl stop docker` would leave a host: the
    /// daemon gone, its containers stopped. Tests of "the daemon is down" use it.
    pub fn stop(&mut self) -> Result<(), LabError> {
        self.remove_containers();
        if let Some(mut child) = self.child.take() {
            let _ = run::output(
                std::process::Command::new("kill")
                    .arg("-TERM")
                    .arg(child.id().to_string()),
                "stop dockerd",
            );
            let deadline = Instant::now() + Duration::from_secs(20);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        kill_cgroup(&self.netns);
        Ok(())
    }

    fn remove_containers(&self) {
        let _ = run::output(
            &mut self.command("ids=$(docker ps -aq) && [ -n \"$ids\" ] && docker rm -f $ids"),
            "remove the lab's containers",
        );
    }
}

impl Drop for DockerDaemon {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// SIGKILLs every process in the containers' cgroups of lab namespace `netns` and removes
/// those cgroups: what is left of a daemon's containers after the daemon died. Best effort.
pub(crate) fn kill_cgroup(netns: &str) {
    let dirs = cgroup_dirs(netns);
    for _ in 0..50 {
        let pids: Vec<String> = dirs
            .iter()
            .flat_map(|d| walk(d))
            .filter_map(|d| std::fs::read_to_string(d.join("cgroup.procs")).ok())
            .flat_map(|t| t.lines().map(str::to_string).collect::<Vec<_>>())
            .collect();
        if pids.is_empty() {
            break;
        }
        let _ = run::output(
            std::process::Command::new("kill").arg("-KILL").args(&pids),
            "kill leftover container processes",
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    for dir in &dirs {
        let mut all = walk(dir);
        // Children before parents.
        all.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        for d in all {
            let _ = std::fs::remove_dir(d);
        }
    }
}

/// `HIERARCHY/cutover-lab/NETNS` in every mounted hierarchy (v1) or the unified one (v2).
fn cgroup_dirs(netns: &str) -> Vec<PathBuf> {
    let root = Path::new("/sys/fs/cgroup");
    let mut candidates = vec![root.join(CGROUP_PARENT).join(netns)];
    if let Ok(entries) = std::fs::read_dir(root) {
        for e in entries.flatten() {
            candidates.push(e.path().join(CGROUP_PARENT).join(netns));
        }
    }
    candidates.into_iter().filter(|d| d.is_dir()).collect()
}

/// `dir` and every directory below it.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    let mut i = 0;
    while i < out.len() {
        if let Ok(entries) = std::fs::read_dir(&out[i]) {
            for e in entries.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    out.push(e.path());
                }
            }
        }
        i += 1;
    }
    out
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .chain(["/usr/sbin", "/sbin"])
        .map(|d| Path::new(d).join(program))
        .find(|p| p.is_file())
}

/// Quotes `word` for the host's shell (for callers building `docker` lines).
pub fn quote(word: &str) -> String {
    sh_quote(word)
}
