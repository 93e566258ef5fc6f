//! HAProxy, through its runtime API (a stats socket with `level admin`) on the proxy's host:
//! `set server BACKEND/SERVER addr IP port P` moves the server entry to the new upstream
//! without a reload, so established client connections are kept. `socat` on the host talks
//! to the socket. Runtime changes do not survive an HAProxy restart: update its config file
//! as well before the next restart.

use super::{run_ok, split_upstream, ProxyError, Runner, Switcher};
use async_trait::async_trait;
use cutover_exec::{Command, Stdin};

/// An HAProxy server entry.
#[derive(Debug, Clone)]
pub struct Haproxy {
    /// The plan host HAProxy runs on.
    pub host: String,
    /// The admin socket's path on that host.
    pub socket: String,
    /// The backend.
    pub backend: String,
    /// The server entry in that backend.
    pub server: String,
}

impl Haproxy {
    /// The command sending `line` to the runtime API.
    pub fn api_command(&self, line: &str) -> Command {
        Command::new(
            &self.host,
            vec![
                "socat".into(),
                "-t5".into(),
                "stdio".into(),
                format!("UNIX-CONNECT:{}", self.socket),
            ],
        )
        .stdin(Stdin::Bytes(format!("{line}\n").into_bytes()))
    }

    fn set_line(&self, to: &str) -> Result<String, ProxyError> {
        let (ip, port) = split_upstream(to).ok_or_else(|| ProxyError::Failed {
            proxy: self.name(),
            message: format!("upstream `{to}` is not ADDRESS:PORT"),
        })?;
        Ok(format!(
            "set server {}/{} addr {ip} port {port}",
            self.backend, self.server
        ))
    }
}

/// The `srv_addr:srv_port` of `server` in `show servers state` output (columns by header).
pub fn parse_state(text: &str, server: &str) -> Option<String> {
    let header: Vec<&str> = text
        .lines()
        .find(|l| l.starts_with("# be_id"))?
        .trim_start_matches('#')
        .split_whitespace()
        .collect();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let (name, addr, port) = (col("srv_name")?, col("srv_addr")?, col("srv_port")?);
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.get(name) == Some(&server))
        .and_then(|f| Some(format!("{}:{}", f.get(addr)?, f.get(port)?)))
}

#[async_trait]
impl Switcher for Haproxy {
    fn name(&self) -> String {
        format!("haproxy on {}", self.host)
    }

    fn preview(&self, to: &str) -> Vec<String> {
        let line = self.set_line(to).unwrap_or_else(|e| e.to_string());
        vec![format!(
            "{}$ {line}  (runtime API {})",
            self.host, self.socket
        )]
    }

    async fn current(&self, r: &dyn Runner) -> Result<String, ProxyError> {
        let cmd = self.api_command(&format!("show servers state {}", self.backend));
        let out = run_ok(r, &self.name(), &cmd, "read the server state").await?;
        parse_state(&out.stdout, &self.server).ok_or_else(|| ProxyError::Failed {
            proxy: self.name(),
            message: format!(
                "no server `{}` in backend `{}`; the runtime API said:\n{}",
                self.server,
                self.backend,
                cutover_exec::frame(&out.stdout)
            ),
        })
    }

    async fn switch(&self, r: &dyn Runner, to: &str) -> Result<(), ProxyError> {
        let cmd = self.api_command(&self.set_line(to)?);
        let out = run_ok(r, &self.name(), &cmd, "set the server address").await?;
        let said = out.stdout.trim();
        // The runtime API exits 0 even when it refuses; its answer says what happened.
        if said.is_empty() || said.contains("changed from") || said.contains("no need to change") {
            Ok(())
        } else {
            Err(ProxyError::Failed {
                proxy: self.name(),
                message: format!("the runtime API refused the change: {said}"),
            })
        }
    }
}
