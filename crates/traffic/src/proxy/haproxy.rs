//! HAProxy, through its runtime API (a stats socket with `level admin`) on the proxy's host:
//! `set server BACKEND/SERVER addr IP port P` moves the server entry to the new upstream
//! without a reload, so established client connections are kept. `socat` on the host talks
//! to the socket. Runtime changes do not survive an HAProxy reload or restart: with `config`
//! (the configuration file on the proxy's host), the server's line in it is rewritten after
//! each switch, atomically (a new file checked with `haproxy -c`, then renamed over the old),
//! so that a reload keeps the new upstream. The rewrite runs on the host: the file's text,
//! which may hold credentials (`stats auth`), never travels to the controller or the journal.

use super::{kept, run_ok, split_upstream, Kept, ProxyError, Runner, Switcher};
use async_trait::async_trait;
use cutover_exec::quote::quote;
use cutover_exec::{Command, Stdin};
use std::time::Duration;

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
    /// The configuration file whose `server` line follows each switch, if the plan names it.
    pub config: Option<String>,
}

/// Exit status of the persist script when the file has no such server line.
const NO_SERVER_LINE: i32 = 4;
/// Exit status of the persist script when `haproxy -c` refused the rewritten file.
const CHECK_FAILED: i32 = 5;

/// Rewrites the address of `server SRV ADDRESS ...` in section `backend BE` (or `listen
/// BE`), keeping every other byte of the file; exits 4 when no such line exists.
const REWRITE: &str = r#"
/^[ \t]*(global|defaults|frontend|backend|listen|resolvers|peers|userlist|program|http-errors|ring|cache|mailers)([ \t]|$)/ {
  inside = ($1 == "backend" || $1 == "listen") && $2 == be
}
inside && $1 == "server" && $2 == srv {
  match($0, /^[ \t]*server[ \t]+[^ \t]+[ \t]+/)
  head = substr($0, 1, RLENGTH); rest = substr($0, RLENGTH + 1)
  match(rest, /^[^ \t]+/)
  print head to substr(rest, RLENGTH + 1); found = 1; next
}
{ print }
END { if (!found) exit 4 }
"#;

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

    /// The script on the proxy's host that makes `config` point `server` at `to`: a copy
    /// rewritten next to the file, given its owner and mode, checked by `haproxy -c` when
    /// HAProxy is on the PATH, then renamed over the file (a reload reads the old file or the
    /// new one, never half of one).
    pub fn persist_command(&self, config: &str, to: &str) -> Command {
        let script = format!(
            "f={f}; tmp=\"$f.cutover-new\"; \
             awk -v be={be} -v srv={srv} -v to={to} {prog} \"$f\" > \"$tmp\" || {{ rc=$?; rm -f \"$tmp\"; exit $rc; }}; \
             chmod --reference=\"$f\" \"$tmp\" && {{ chown --reference=\"$f\" \"$tmp\" 2>/dev/null || true; }} || {{ rm -f \"$tmp\"; exit 1; }}; \
             if command -v haproxy >/dev/null 2>&1 && ! haproxy -c -q -f \"$tmp\" >&2; then rm -f \"$tmp\"; exit {CHECK_FAILED}; fi; \
             mv \"$tmp\" \"$f\"",
            f = quote(config),
            be = quote(&self.backend),
            srv = quote(&self.server),
            to = quote(to),
            prog = quote(REWRITE),
        );
        Command::shell(&self.host, script)
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

    fn keeps_server_connections(&self) -> bool {
        true
    }

    fn preview(&self, to: &str) -> Vec<String> {
        let line = self.set_line(to).unwrap_or_else(|e| e.to_string());
        let mut lines = vec![format!(
            "{}$ {line}  (runtime API {})",
            self.host, self.socket
        )];
        lines.push(match &self.config {
            Some(c) => format!(
                "{}: the `server {}` line of backend `{}` in {c} rewritten to {to} (atomically, checked with haproxy -c), so a reload keeps it",
                self.host, self.server, self.backend
            ),
            None => "the change lives in HAProxy's memory only: a reload or restart goes back to its config file (set `config` on the proxy to persist it)".into(),
        });
        lines
    }

    async fn persist(&self, r: &dyn Runner, to: &str) -> Result<Option<String>, ProxyError> {
        let Some(config) = &self.config else {
            return Ok(None);
        };
        let cmd = self.persist_command(config, to);
        let out = r.run(&cmd).await.map_err(|e| ProxyError::Failed {
            proxy: self.name(),
            message: format!("update {config}: {e}"),
        })?;
        let why = match out.code {
            Some(0) => return Ok(Some(format!("{config} updated"))),
            Some(NO_SERVER_LINE) => format!(
                "{config} has no `server {}` line in a `backend {}` or `listen {}` section",
                self.server, self.backend, self.backend
            ),
            Some(CHECK_FAILED) => format!(
                "`haproxy -c` refused the rewritten {config} (the file is unchanged):\n{}",
                cutover_exec::frame(&out.stderr)
            ),
            _ => format!(
                "could not rewrite {config} (the file is unchanged):\n{}",
                cutover_exec::frame(&out.stderr)
            ),
        };
        Err(ProxyError::Failed {
            proxy: self.name(),
            message: format!(
                "{why}; HAProxy itself runs with the change, which a reload or restart would undo: fix `config` of the proxy and run again"
            ),
        })
    }

    async fn release_kept(
        &self,
        r: &dyn Runner,
        old: &str,
        live: &str,
        within: Duration,
    ) -> Result<Kept, ProxyError> {
        let Some(cmd) = kept::release_command(
            &self.host,
            &self.socket,
            &self.backend,
            &self.server,
            live,
            old,
            within,
        ) else {
            return Ok(Kept::CannotRelease(format!(
                "HAProxy's connections can be released only with IPv4 addresses (live {live}, old {old})"
            )));
        };
        let out = r.run(&cmd).await.map_err(|e| ProxyError::Failed {
            proxy: self.name(),
            message: format!("drain the connections kept to {old}: {e}"),
        })?;
        let why = match (out.code, out.stdout.trim().parse::<usize>()) {
            (Some(0), Ok(left)) => return Ok(Kept::Left(left)),
            (Some(kept::NO_STAND_IN), _) => {
                return Ok(Kept::CannotRelease(format!(
                    "HAProxy refused the stand-in server `{}` (dynamic servers need HAProxy 2.4+ and a backend whose `balance` is dynamic): {}",
                    kept::STAND_IN,
                    out.stderr.trim()
                )))
            }
            (Some(kept::REFUSED), _) => format!(
                "the runtime API refused a step of the drain of {old} (a stand-in server `{}` at {live} while `{}` drains; `{}` is ready again):\n{}",
                kept::STAND_IN,
                self.server,
                self.server,
                cutover_exec::frame(&out.stderr)
            ),
            _ => format!(
                "could not drain the connections kept to {old} (`ss` and `socat` on the host):\n{}",
                cutover_exec::frame(&out.stderr)
            ),
        };
        Err(ProxyError::Failed {
            proxy: self.name(),
            message: why,
        })
    }

    async fn drop_kept(
        &self,
        r: &dyn Runner,
        old: &str,
        a: &str,
        b: &str,
        within: Duration,
    ) -> Result<Kept, ProxyError> {
        let Some(cmd) = kept::drop_command(
            &self.host,
            &self.socket,
            &self.backend,
            &self.server,
            old,
            (a, b),
            within,
        ) else {
            self.switch(r, b).await?;
            return Ok(Kept::CannotRelease(format!(
                "HAProxy's connections to {old} can be counted only for an address and port"
            )));
        };
        let out = r.run(&cmd).await.map_err(|e| ProxyError::Failed {
            proxy: self.name(),
            message: format!("drop the connections kept to {old}: {e}"),
        })?;
        match (out.code, out.stdout.trim().parse::<usize>()) {
            (Some(0), Ok(left)) => Ok(Kept::Left(left)),
            _ => Err(ProxyError::Failed {
                proxy: self.name(),
                message: format!(
                    "could not drop the connections kept to {old} (`ss` and `socat` on the host):\n{}",
                    cutover_exec::frame(&out.stderr)
                ),
            }),
        }
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
