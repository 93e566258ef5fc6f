//! The system OpenSSH client with connection multiplexing. Users' `~/.ssh/config`, agent,
//! ProxyJump and known_hosts keep working; host keys are always verified
//! (`StrictHostKeyChecking=yes`), so an unknown or changed key stops the run.

use crate::error::{ConnectFailure, ExecError};
use std::ffi::OsString;
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
    /// ProxyJump value.
    pub jump: Option<String>,
    /// known_hosts file override.
    pub known_hosts: Option<PathBuf>,
    /// SSH config file override (`-F`).
    pub config: Option<PathBuf>,
    /// Connection timeout in seconds.
    pub connect_timeout: u32,
    /// Directory for the multiplexing control socket (must be short: sockets paths are
    /// limited to about 100 bytes).
    pub control_dir: PathBuf,
}

impl SshTarget {
    /// Options shared by the master connection and every command.
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
            a.push(id.into());
        }
        if let Some(jump) = &self.jump {
            a.push("-J".into());
            a.push(jump.into());
        }
        let mut opt = |kv: String| {
            a.push("-o".into());
            a.push(kv.into());
        };
        if let Some(kh) = &self.known_hosts {
            opt(format!("UserKnownHostsFile={}", kh.display()));
        }
        opt("StrictHostKeyChecking=yes".into());
        opt("BatchMode=yes".into());
        opt(format!("ConnectTimeout={}", self.connect_timeout));
        opt(format!("ControlPath={}/%C", self.control_dir.display()));
        opt("ServerAliveInterval=5".into());
        opt("ServerAliveCountMax=4".into());
        opt("LogLevel=ERROR".into());
        a
    }

    /// An `ssh` process running `line` on the host through the master connection (or
    /// directly, if the master is gone).
    pub fn command(&self, line: &str) -> tokio::process::Command {
        let mut c = tokio::process::Command::new("ssh");
        c.args(self.common_args())
            .args(["-o", "ControlMaster=no", "-T", "--"])
            .arg(&self.destination)
            .arg(line);
        c
    }

    /// True when a master connection is up.
    pub async fn is_connected(&self) -> bool {
        let mut c = tokio::process::Command::new("ssh");
        c.args(self.common_args())
            .args(["-O", "check", "--"])
            .arg(&self.destination)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        matches!(c.status().await, Ok(s) if s.success())
    }

    /// Opens the master connection (or reuses one left by an earlier, interrupted run).
    pub async fn connect(&self) -> Result<(), ExecError> {
        std::fs::create_dir_all(&self.control_dir).map_err(|source| self.io(source))?;
        if let Some(parent) = self.control_dir.parent() {
            set_private(parent);
        }
        set_private(&self.control_dir);
        if self.is_connected().await {
            return Ok(());
        }
        // The master forks into the background once authenticated (-f); its standard error
        // goes to a file, because a pipe would be held open by the background process.
        let log = self
            .control_dir
            .join(format!("{}.log", sanitize(&self.name)));
        let err_file = std::fs::File::create(&log).map_err(|source| self.io(source))?;
        let mut c = tokio::process::Command::new("ssh");
        c.args(self.common_args())
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
            return Ok(());
        }
        let stderr = std::fs::read_to_string(&log).unwrap_or_default();
        Err(ExecError::Connect {
            host: self.name.clone(),
            failure: ConnectFailure::classify(&stderr),
            stderr: frame(&stderr),
        })
    }

    /// Closes the master connection.
    pub async fn disconnect(&self) {
        let mut c = tokio::process::Command::new("ssh");
        c.args(self.common_args())
            .args(["-O", "exit", "--"])
            .arg(&self.destination)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let _ = c.status().await;
    }

    /// The configuration `ssh -G` resolves for this host (hostname, port, known_hosts files).
    pub async fn resolved_config(&self) -> Result<Vec<(String, String)>, ExecError> {
        let mut c = tokio::process::Command::new("ssh");
        c.args(self.common_args())
            .args(["-G", "--"])
            .arg(&self.destination);
        let out = c.output().await.map_err(|source| ExecError::Spawn {
            host: self.name.clone(),
            program: "ssh -G".into(),
            source,
        })?;
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect())
    }

    fn io(&self, source: std::io::Error) -> ExecError {
        ExecError::Io {
            host: self.name.clone(),
            source,
        }
    }
}

/// A short control-socket directory for one scope (e.g. one plan file): socket paths are
/// limited to about 100 bytes, so it lives under `/tmp` and is named by a hash of `scope`.
/// Kept stable across cutover processes so that a resumed run reuses the connections.
pub fn control_dir_for(scope: &str) -> PathBuf {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(0);
    // FNV-1a: stable across builds, unlike std's hasher.
    let hash = scope.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    });
    PathBuf::from(format!(
        "/tmp/cutover-ssh-{uid}/{:010x}",
        hash & 0xff_ffff_ffff
    ))
}

fn set_private(dir: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
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
        assert!(args.contains(&"StrictHostKeyChecking=yes".to_string()));
        assert!(args.windows(2).any(|w| w == ["-J", "bastion"]));
        assert!(args.windows(2).any(|w| w == ["-p", "2222"]));
        assert!(args.contains(&"UserKnownHostsFile=/k".to_string()));
    }
}
