//! The system OpenSSH client with connection multiplexing. Users' `~/.ssh/config`, agent,
//! ProxyJump and known_hosts keep working; host keys are always verified against known_hosts
//! on every hop (see [`route`]), so an unknown or changed key stops the run, and the control
//! sockets live in a directory checked to be private (see [`control_dir`]).

pub mod control_dir;
mod resolve;
pub mod route;

use crate::error::{ConnectFailure, ExecError};
use route::{host_key_options, Route};
use std::ffi::OsString;
use std::io::{Read, Seek};
use std::path::PathBuf;
use std::process::Stdio;

/// How to reach one host over SSH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    /// The host's name in the plan.
    pub name: String,
    /// Destination as given to `ssh` (alias, host or user@host).
    pub destination: String,
    /// Port override.
    pub port: Option<u16>,
    /// User override.
    pub user: Option<String>,
    /// Private key file.
    pub identity: Option<PathBuf>,
    /// Jump hosts, as `ProxyJump` writes them (`[user@]host[:port]`, comma-separated); each
    /// is reached with the same host-key options as the host.
    pub jump: Option<String>,
    /// known_hosts file override.
    pub known_hosts: Option<PathBuf>,
    /// SSH config file override (`-F`).
    pub config: Option<PathBuf>,
    /// Connection timeout in seconds.
    pub connect_timeout: u32,
    /// Directory for the multiplexing control socket (must be short: sockets paths are
    /// limited to about 100 bytes). It and its parent are created with mode 0700 and must be
    /// private to this user: see [`control_dir::control_dir_for`].
    pub control_dir: PathBuf,
}

impl SshTarget {
    /// Options shared by the master connection and every command (the route to the host
    /// comes on top, from [`SshTarget::connect`]).
    pub fn common_args(&self) -> Vec<OsString> {
        let mut a: Vec<OsString> = Vec::new();
        if let Some(cfg) = &self.config {
            a.push("-F".into());
            a.push(cfg.into());
        }
        if let Some(port) = self.port {
            a.push("-p".into());
            a.push(port.to_string().into());
        }
        if let Some(user) = &self.user {
            a.push("-l".into());
            a.push(user.into());
        }
        if let Some(id) = &self.identity {
            a.push("-i".into());
            a.push(escape_tokens(&id.display().to_string()).into());
        }
        let mut opt = |kv: String| {
            a.push("-o".into());
            a.push(kv.into());
        };
        if let Some(kh) = &self.known_hosts {
            opt(format!(
                "UserKnownHostsFile={}",
                escape_tokens(&kh.display().to_string())
            ));
        }
        for o in host_key_options() {
            opt((*o).into());
        }
        opt("BatchMode=yes".into());
        opt(format!("ConnectTimeout={}", self.connect_timeout));
        opt(format!("ControlPath={}/%C", self.control_dir.display()));
        opt("ServerAliveInterval=5".into());
        opt("ServerAliveCountMax=4".into());
        opt("LogLevel=ERROR".into());
        a
    }

    /// [`SshTarget::common_args`] and the way through `route`'s jump hosts.
    pub fn args_via(&self, route: &Route) -> Vec<OsString> {
        let mut a = self.common_args();
        if let Some(proxy) = &route.proxy_command {
            a.push("-o".into());
            a.push(format!("ProxyCommand={proxy}").into());
        }
        a
    }

    /// An `ssh` process running `line` on the host through the master connection (or
    /// directly, along `route`, if the master is gone).
    pub fn command(&self, route: &Route, line: &str) -> tokio::process::Command {
        let mut c = ssh();
        c.args(self.args_via(route))
            .args(["-o", "ControlMaster=no", "-T", "--"])
            .arg(&self.destination)
            .arg(line);
        c
    }

    /// True when a master connection is up.
    pub async fn is_connected(&self) -> bool {
        let mut c = ssh();
        c.args(self.common_args())
            .args(["-O", "check", "--"])
            .arg(&self.destination)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        matches!(c.status().await, Ok(s) if s.success())
    }

    /// Opens the master connection (or reuses one left by an earlier, interrupted run) and
    /// returns the route commands take when they connect on their own.
    pub async fn connect(&self) -> Result<Route, ExecError> {
        // Before anything looks into the directory: a socket someone else planted there
        // would receive every command and secret.
        control_dir::prepare(&self.control_dir)?;
        let route = self.route().await?;
        if self.is_connected().await {
            return Ok(route);
        }
        // The master forks into the background once authenticated (-f); its standard error
        // goes to a file, because a pipe would be held open by the background process. A
        // persisting master sends its ProxyCommand's standard error to /dev/null, so the jump
        // hosts' `ssh` log to a file of their own (`-E`).
        let err_file = control_dir::open_log(&self.control_dir, &self.log_name("log"))?;
        let mut log = err_file.try_clone().map_err(|source| self.io(source))?;
        let mut hops_log = match route.hops.is_empty() {
            true => None,
            false => Some(control_dir::open_log(
                &self.control_dir,
                &self.log_name("hops.log"),
            )?),
        };
        let mut c = ssh();
        c.args(self.args_via(&route))
            .args([
                "-o",
                "ControlMaster=yes",
                "-o",
                "ControlPersist=300",
                "-f",
                "-N",
                "--",
            ])
            .arg(&self.destination)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err_file);
        let status = c.status().await.map_err(|source| ExecError::Spawn {
            host: self.name.clone(),
            program: "ssh".into(),
            source,
        })?;
        if status.success() {
            return Ok(route);
        }
        let mut stderr = String::new();
        for file in hops_log.iter_mut().chain([&mut log]) {
            let _ = file
                .rewind()
                .and_then(|()| file.read_to_string(&mut stderr));
        }
        Err(ExecError::Connect {
            host: self.name.clone(),
            failure: ConnectFailure::classify(&stderr),
            stderr: frame(&stderr),
        })
    }

    /// The name of this host's log file `suffix` in the control directory.
    fn log_name(&self, suffix: &str) -> String {
        format!("{}.{suffix}", sanitize(&self.name))
    }

    /// Closes the master connection.
    pub async fn disconnect(&self) {
        if !control_dir::is_trusted(&self.control_dir) {
            return;
        }
        let mut c = ssh();
        c.args(self.common_args())
            .args(["-O", "exit", "--"])
            .arg(&self.destination)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let _ = c.status().await;
    }

    fn io(&self, source: std::io::Error) -> ExecError {
        ExecError::Io {
            host: self.name.clone(),
            source,
        }
    }
}

/// An `ssh` process whose `ProxyCommand`s run in a POSIX shell: ssh runs them with `$SHELL`,
/// and cutover quotes them for `sh`.
pub(crate) fn ssh() -> tokio::process::Command {
    let mut c = tokio::process::Command::new("ssh");
    c.env("SHELL", "/bin/sh");
    c
}

/// `ssh` expands %-tokens in file options (`IdentityFile`, `UserKnownHostsFile`): a literal
/// `%` in a path is written `%%`.
fn escape_tokens(path: &str) -> String {
    path.replace('%', "%%")
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// Indents a child's standard error so it stands apart from cutover's own words.
pub fn frame(stderr: &str) -> String {
    let trimmed = stderr.trim_end();
    if trimmed.is_empty() {
        return "  │ (no output)".into();
    }
    trimmed
        .lines()
        .map(|l| format!("  │ {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_disables_host_key_checking() {
        let t = SshTarget {
            name: "old".into(),
            destination: "root@old".into(),
            port: Some(2222),
            user: None,
            identity: None,
            jump: Some("bastion".into()),
            known_hosts: Some("/k".into()),
            config: None,
            connect_timeout: 10,
            control_dir: "/tmp/c".into(),
        };
        let args: Vec<String> = t
            .common_args()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        for o in [
            "StrictHostKeyChecking=yes",
            "KnownHostsCommand=none",
            "VerifyHostKeyDNS=no",
        ] {
            assert!(args.contains(&o.to_string()), "{o}: {args:?}");
        }
        // The jump host is not handed to `ssh -J`, which would check its key as the config
        // says: the route's ProxyCommand reaches it.
        assert!(!args.contains(&"-J".to_string()), "{args:?}");
        assert!(args.windows(2).any(|w| w == ["-p", "2222"]));
        assert!(args.contains(&"UserKnownHostsFile=/k".to_string()));
    }
}
