//! Caddy, through its admin API on the proxy's host: the `reverse_proxy` handler tagged with
//! `"@id": ID` in Caddy's JSON config has its `upstreams` read (`GET /id/ID/upstreams`) and
//! replaced (`PATCH`), with `curl` run on the host (the admin API listens on localhost).
//!
//! Residue, measured (Caddy 2.6.2 under wrk, 20 keep-alive connections): 0 failed requests,
//! but every admin-API change is a config reload, and the reload shuts the old server down,
//! closing its idle keep-alive connections; a client that sends on one at that instant sees
//! the connection closed (wrk counted 164 socket errors over 20 switches). Caddy 2.6 has no
//! in-place upstream change: `/reverse_proxy/upstreams` is read-only (PATCH and POST answer
//! 405), and `lb_policy first` with active health checks would switch only when an
//! upstream's health changes, which cutover does not control. The graceful way is the
//! `dns-name` switcher ([`super::dns_name`]): Caddy's `dynamic_upstreams` (source `a`, short
//! `refresh`) follows a name the switch updates, no reload, 0 socket errors measured.

use super::{run_ok, ProxyError, Runner, Switcher};
use async_trait::async_trait;
use cutover_exec::{Command, Stdin};

/// A Caddy server.
#[derive(Debug, Clone)]
pub struct Caddy {
    /// The plan host Caddy runs on.
    pub host: String,
    /// The admin API's address on that host (`localhost:2019`).
    pub admin: String,
    /// The `@id` of the `reverse_proxy` handler to switch.
    pub id: String,
}

impl Caddy {
    fn url(&self) -> String {
        format!("http://{}/id/{}/upstreams", self.admin, self.id)
    }

    /// The command reading the upstreams.
    pub fn read_command(&self) -> Command {
        Command::new(
            &self.host,
            [
                "curl",
                "-sS",
                "--fail-with-body",
                "--max-time",
                "10",
                &self.url(),
            ]
            .map(String::from)
            .to_vec(),
        )
    }

    /// The command setting the upstreams to `to` (the JSON travels on standard input).
    pub fn switch_command(&self, to: &str) -> Command {
        let body = serde_json::json!([{ "dial": to }]).to_string();
        Command::new(
            &self.host,
            [
                "curl",
                "-sS",
                "--fail-with-body",
                "--max-time",
                "10",
                "-X",
                "PATCH",
                "-H",
                "Content-Type: application/json",
                "--data-binary",
                "@-",
                &self.url(),
            ]
            .map(String::from)
            .to_vec(),
        )
        .stdin(Stdin::Bytes(body.into_bytes()))
    }
}

#[async_trait]
impl Switcher for Caddy {
    fn name(&self) -> String {
        format!("caddy on {}", self.host)
    }

    fn preview(&self, to: &str) -> Vec<String> {
        vec![format!(
            "{}$ PATCH {} [{{\"dial\": \"{to}\"}}]",
            self.host,
            self.url()
        )]
    }

    async fn current(&self, r: &dyn Runner) -> Result<String, ProxyError> {
        let out = run_ok(r, &self.name(), &self.read_command(), "read the upstreams").await?;
        let v: serde_json::Value =
            serde_json::from_str(&out.stdout).map_err(|_| ProxyError::Failed {
                proxy: self.name(),
                message: format!(
                    "the admin API's answer is not JSON: {}; is there a reverse_proxy handler with \"@id\": \"{}\"?",
                    out.stdout.trim(),
                    self.id
                ),
            })?;
        v.as_array()
            .and_then(|a| a.first())
            .and_then(|u| u["dial"].as_str())
            .map(str::to_string)
            .ok_or_else(|| ProxyError::Failed {
                proxy: self.name(),
                message: format!(
                    "the handler \"@id\": \"{}\" has no upstream with a `dial` address",
                    self.id
                ),
            })
    }

    async fn switch(&self, r: &dyn Runner, to: &str) -> Result<(), ProxyError> {
        run_ok(
            r,
            &self.name(),
            &self.switch_command(to),
            "set the upstream",
        )
        .await?;
        Ok(())
    }
}
