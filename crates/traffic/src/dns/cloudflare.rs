//! The Cloudflare provider, over Cloudflare's v4 API: records, TTL and the proxied flag. Every
//! zone's change is one `POST /zones/{id}/dns_records/batch` (Cloudflare runs a batch as one
//! transaction), made only if the records are still what was read.
//!
//! The API contract used (Cloudflare's documented v4 API): bearer-token auth; the envelope
//! `{"success", "errors": [{"code","message"}], "messages", "result"}`; `GET /zones?name=`;
//! `GET /zones/{zone_id}/dns_records?type=&name=`; `POST /zones/{zone_id}/dns_records/batch`
//! with `deletes` (`{id}`), `patches` (`{id, content, ttl, proxied}`) and `posts` (`{type,
//! name, content, ttl, proxied}`).

use super::{Correction, DnsError, DnsProvider, RecordKey, RecordSet};
use async_trait::async_trait;
use cutover_exec::SecretValue;
use serde_json::{json, Value};
use std::time::Duration;

/// The API's address.
pub const API: &str = "https://api.cloudflare.com/client/v4";

/// Configuration of a Cloudflare provider.
#[derive(Debug, Clone)]
pub struct CloudflareConfig {
    /// The API base (default [`API`]; a local fake in tests).
    pub api: String,
    /// An API token with Zone.DNS edit permission.
    pub token: SecretValue,
    /// The zones the plan changes.
    pub zones: Vec<String>,
    /// Per-request timeout.
    pub timeout: Duration,
}

/// The provider.
pub struct Cloudflare {
    cfg: CloudflareConfig,
}

/// One record as the API returns it.
#[derive(Debug, Clone)]
struct ApiRecord {
    id: String,
    content: String,
    ttl: u32,
    proxied: bool,
}

impl Cloudflare {
    /// A provider for `cfg`.
    pub fn new(cfg: CloudflareConfig) -> Self {
        Cloudflare { cfg }
    }

    /// Sends a request on a blocking thread; returns the envelope's `result`.
    async fn call(
        &self,
        method: &'static str,
        path: String,
        body: Option<Value>,
    ) -> Result<Value, DnsError> {
        let url = format!("{}{path}", self.cfg.api.trim_end_matches('/'));
        let token = self.cfg.token.clone();
        let timeout = self.cfg.timeout;
        let shown = format!("Cloudflare API {method} {path}");
        let server = shown.clone();
        tokio::task::spawn_blocking(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .timeout_global(Some(timeout))
                .http_status_as_error(false)
                .build()
                .into();
            let auth = format!("Bearer {}", token.expose());
            let resp = match (method, body) {
                ("GET", _) => agent.get(&url).header("Authorization", &auth).call(),
                (_, Some(b)) => agent
                    .post(&url)
                    .header("Authorization", &auth)
                    .header("Content-Type", "application/json")
                    .send(b.to_string()),
                (_, None) => agent.post(&url).header("Authorization", &auth).send_empty(),
            };
            let mut resp = resp.map_err(|e| DnsError::Unreachable {
                server: server.clone(),
                message: format!("{e}; check the network and `api`"),
            })?;
            let status = resp.status().as_u16();
            let text = resp.body_mut().read_to_string().unwrap_or_default();
            let v: Value = serde_json::from_str(&text).map_err(|_| DnsError::Unreachable {
                server: server.clone(),
                message: format!("HTTP {status}: the answer is not Cloudflare's JSON envelope"),
            })?;
            if v["success"].as_bool() != Some(true) {
                let errors: Vec<String> = v["errors"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|e| format!("{} {}", e["code"], e["message"].as_str().unwrap_or("")))
                    .collect();
                let hint = if status == 401 || status == 403 {
                    ": check the API token (`api_token`) and its Zone.DNS permission"
                } else {
                    ""
                };
                return Err(DnsError::Refused {
                    server,
                    message: format!("HTTP {status}: {}{hint}", errors.join("; ")),
                });
            }
            Ok(v["result"].clone())
        })
        .await
        .map_err(|e| DnsError::Unreachable {
            server: shown,
            message: format!("request task failed: {e}"),
        })?
    }

    async fn zone_id(&self, zone: &str) -> Result<String, DnsError> {
        let r = self
            .call("GET", format!("/zones?name={zone}"), None)
            .await?;
        r.as_array()
            .and_then(|a| a.first())
            .and_then(|z| z["id"].as_str())
            .map(str::to_string)
            .ok_or_else(|| DnsError::Refused {
                server: "Cloudflare API".into(),
                message: format!("no zone {zone} in this account (or the token cannot see it)"),
            })
    }

    async fn records(&self, zone_id: &str, key: &RecordKey) -> Result<Vec<ApiRecord>, DnsError> {
        let r = self
            .call(
                "GET",
                format!(
                    "/zones/{zone_id}/dns_records?type={}&name={}",
                    key.rtype, key.name
                ),
                None,
            )
            .await?;
        Ok(r.as_array()
            .into_iter()
            .flatten()
            .map(|x| ApiRecord {
                id: x["id"].as_str().unwrap_or_default().to_string(),
                content: super::normalize_value(key.rtype, x["content"].as_str().unwrap_or("")),
                ttl: x["ttl"].as_u64().unwrap_or(1) as u32,
                proxied: x["proxied"].as_bool().unwrap_or(false),
            })
            .collect())
    }
}

fn as_set(key: &RecordKey, recs: &[ApiRecord]) -> Option<RecordSet> {
    let first = recs.first()?;
    let mut values: Vec<String> = recs.iter().map(|r| r.content.clone()).collect();
    values.sort();
    Some(RecordSet {
        key: key.clone(),
        ttl: recs.iter().map(|r| r.ttl).min().unwrap_or(first.ttl),
        values,
        proxied: Some(first.proxied),
    })
}

#[async_trait]
impl DnsProvider for Cloudflare {
    fn kind(&self) -> &'static str {
        "cloudflare"
    }

    fn zone_of(&self, name: &str) -> Option<String> {
        super::zone_containing(&self.cfg.zones, name)
    }

    async fn read(
        &self,
        zone: &str,
        keys: &[RecordKey],
    ) -> Result<Vec<Option<RecordSet>>, DnsError> {
        let id = self.zone_id(zone).await?;
        let mut out = Vec::new();
        for key in keys {
            out.push(as_set(key, &self.records(&id, key).await?));
        }
        Ok(out)
    }

    async fn apply(&self, zone: &str, changes: &[Correction]) -> Result<(), DnsError> {
        if changes.is_empty() {
            return Ok(());
        }
        let id = self.zone_id(zone).await?;
        let (mut deletes, mut patches, mut posts) = (Vec::new(), Vec::new(), Vec::new());
        for c in changes {
            let recs = self.records(&id, &c.before.key).await?;
            if as_set(&c.before.key, &recs).as_ref() != Some(&c.before) {
                return Err(DnsError::Refused {
                    server: "Cloudflare API".into(),
                    message: format!("{} changed since it was read (someone else edited the zone); nothing was changed, run the step again", c.before.key),
                });
            }
            let proxied = c.after.proxied.unwrap_or(false);
            for (i, value) in c.after.values.iter().enumerate() {
                match recs.get(i) {
                    Some(r) => patches.push(json!({"id": r.id, "content": value, "ttl": c.after.ttl, "proxied": proxied})),
                    None => posts.push(json!({"type": c.after.key.rtype.to_string(), "name": c.after.key.name, "content": value, "ttl": c.after.ttl, "proxied": proxied})),
                }
            }
            for r in recs.iter().skip(c.after.values.len()) {
                deletes.push(json!({"id": r.id}));
            }
        }
        let body = json!({"deletes": deletes, "patches": patches, "posts": posts});
        self.call("POST", format!("/zones/{id}/dns_records/batch"), Some(body))
            .await
            .map(|_| ())
    }
}
