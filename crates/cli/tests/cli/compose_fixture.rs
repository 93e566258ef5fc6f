//! What the Compose tests share: a lab whose hosts run their own Docker daemons, test images
//! built there, and plans in directories of their own (one journal each), with the hosts'
//! addresses set so that upstreams and probes are reachable from the controller.

use crate::fixture::Run;
use cutover_testbed::docker::DockerDaemon;
use cutover_testbed::{images, Lab};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A lab with a Docker daemon on each named host.
pub struct DockerLab {
    // Daemons before the lab: they are stopped before the lab is torn down.
    pub daemons: Vec<DockerDaemon>,
    pub lab: Lab,
}

impl DockerLab {
    /// Hosts `old` and `new`, each with its own daemon when named in `docker`.
    pub fn start(docker: &[&str]) -> DockerLab {
        let lab = Lab::start().expect("lab");
        let daemons = docker
            .iter()
            .map(|h| DockerDaemon::start(lab.host(h)).expect("dockerd"))
            .collect();
        DockerLab { daemons, lab }
    }

    /// The daemon of `host`.
    pub fn docker(&self, host: &str) -> &DockerDaemon {
        self.daemons
            .iter()
            .find(|d| d.host() == host)
            .unwrap_or_else(|| panic!("no daemon on {host}"))
    }

    /// The daemon of `host`, to stop it.
    pub fn docker_mut(&mut self, host: &str) -> &mut DockerDaemon {
        self.daemons
            .iter_mut()
            .find(|d| d.host() == host)
            .unwrap_or_else(|| panic!("no daemon on {host}"))
    }

    /// Builds the test app as `tag` (version `version`) on `host`; its image id.
    pub fn app_image(&self, host: &str, tag: &str, version: &str) -> String {
        images::app(self.lab.host(host), self.docker(host), tag, version).expect("app image")
    }

    /// `docker ARGS` on `host`, trimmed stdout.
    pub fn sh(&self, host: &str, args: &str) -> String {
        self.docker(host)
            .docker(args)
            .expect("docker")
            .trim()
            .to_string()
    }

    /// A plan directory: `cutover.toml` = the hosts (with addresses) + `body`; `files`
    /// (name, text) written next to it.
    pub fn plan(&self, body: &str, files: &[(&str, &str)]) -> PlanDir {
        let dir = tempfile::tempdir().expect("tempdir");
        let header = format!(
            "name = \"compose-test\"\n[ssh]\nconfig = \"{}\"\n[hosts.old]\nssh = \"old\"\naddress = \"{}\"\n[hosts.new]\nssh = \"new\"\naddress = \"{}\"\n",
            self.lab.ssh_config().display(),
            self.lab.host("old").address(),
            self.lab.host("new").address(),
        );
        std::fs::write(dir.path().join("cutover.toml"), format!("{header}\n{body}"))
            .expect("write plan");
        for (name, text) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, text).expect("write file");
        }
        PlanDir { dir }
    }

    /// GET `path` from `addr` (a fresh connection): (status, body).
    pub fn get(addr: &str, path: &str) -> (u16, String) {
        use std::io::{Read, Write};
        let Ok(mut s) = std::net::TcpStream::connect(addr) else {
            return (0, String::new());
        };
        let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(5)));
        let _ = s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        );
        let mut text = String::new();
        let _ = s.read_to_string(&mut text);
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (status, body)
    }
}

/// A plan in a directory of its own.
pub struct PlanDir {
    pub dir: tempfile::TempDir,
}

impl PlanDir {
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("cutover.toml")
    }

    /// Runs `cutover ARGS` on this plan (`env` added to its environment).
    pub fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut c = Command::new(env!("CARGO_BIN_EXE_cutover"));
        c.arg("-f").arg(self.path()).args(args).env("NO_COLOR", "1");
        for (k, v) in env {
            c.env(k, v);
        }
        Run(c.output().expect("run cutover"))
    }

    /// Starts `cutover ARGS` on this plan in the background.
    pub fn run_spawned(&self, args: &[&str], env: &[(&str, &str)]) -> std::process::Child {
        Command::new(env!("CARGO_BIN_EXE_cutover"))
            .arg("-f")
            .arg(self.path())
            .args(args)
            .envs(env.iter().copied())
            .env("NO_COLOR", "1")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start cutover")
    }

    /// Every byte of the journal (for leak checks).
    pub fn journal_bytes(&self) -> Vec<u8> {
        let mut all = Vec::new();
        for suffix in ["", "-wal", "-shm"] {
            let p = self.dir.path().join(format!("cutover.journal.db{suffix}"));
            all.extend(std::fs::read(Path::new(&p)).unwrap_or_default());
        }
        all
    }
}

/// The test app's compose service: `image: app:${APP_VERSION}` on port `port` (or
/// `${CUTOVER_PORT}` for blue/green), named after its colour.
pub fn app_compose(port: &str) -> String {
    format!(
        "services:\n  web:\n    image: app:${{APP_VERSION}}\n    ports: [\"{port}:8080\"]\n    environment: [DB_PASSWORD]\n    command: [\"/app\", \"--listen\", \"0.0.0.0:8080\", \"--name\", \"${{CUTOVER_COLOR:-web}}\", \"--version\", \"${{APP_VERSION}}\"]\n"
    )
}
