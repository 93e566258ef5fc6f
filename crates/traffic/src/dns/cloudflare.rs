//! The Cloudflare provider, over Cloudflare's v4 API: records, TTL and the proxied flag. Every
//! zone's change is one `POST /zones/{id}/dns_records/batch` (Cloudflare runs a batch as one
//! database transaction), made only if the records are still what was read.
//!
//! The API contract used (Cloudflare's documented v4 API): bearer-token auth; the envelope
//! `{"success", "errors": [{"code","message"}], "messages", "result", "result_info"}`; list
//! calls paged by `page`/`per_page` until `result_info.total_pages`; `GET /zones?name=`;
//! `GET /zones/{zone_id}/dns_records?type=&name=`; `POST /zones/{zone_id}/dns_records/batch`
//! with `deletes` (`{id}`), `patches` (`{id, content, ttl, proxied}`) and `posts` (`{type,
//! name, content, ttl, proxied}`), run in that order. TTL 1 means "automatic" (300 s); other
//! TTLs are 60..=86400 (30 on Enterprise zones); proxied records always have TTL 1.
//!
//! Tested against a local fake of that contract (`cutover_testbed::cloudflare_fake`), not
//! against Cloudflare itself, which cannot be reached from the test machines. Two limits of
//! the real service that no fake shows: Cloudflare's batch is one transaction in its database,
//! but its edge servers pick the change up record by record (propagation is not atomic); and
//! there is no conditional write, so a concurrent edit between the re-read and the batch
//! (a window of one request) is not detected.

use super::{Correction, DnsError, DnsProvider, RecordKey, RecordSet, RecordType};
use async_trait::async_trait;
use cutover_exec::SecretValue;
use serde_json::{json, Value};
use std::time::Duration;

/// The API's address.
pub const API: &str = "https://api.cloudflare.com/client/v4";

/// The seconds Cloudflare's "automatic" TTL (1) stands for.
pub const AUTOMATIC_TTL: u32 = 300;

/// Items asked for per page: DNS records (the API allows up to 5,000) and zones (up to 50).
const RECORDS_PER_PAGE: usize = 100;
const ZONES_PER_PAGE: usize = 50;

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

/// Error codes meaning the token is missing, malformed, wrong or lacks permission.
const AUTH_CODES: &[u64] = &[6003, 6111, 9106, 9109, 10000];

impl Cloudflare {
    /// A provider for `cfg`.
    pub fn new(cfg: CloudflareConfig) -> Self {
        Cloudflare { cfg }
    }

    /// Sends a request on a blocking thread; returns the whole envelope.
    async fn call(
        &self,
        method: &'static str,
        path: String,
        body: Option<Value>,
    ) -> Result<Value, DnsError> {
        let url = format!("{}{path}", self.cfg.api.trim_end_matches('/'));
        let token = self.cfg.token.clone();
        let timeout = self.cfg.timeout;
        let shown = format!(
            "Cloudflare API {method} {}",
            path.split('?').next().unwrap_or("")
        );
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
                return Err(refusal(server, status, &v));
            }
            Ok(v)
        })
        .await
        .map_err(|e| DnsError::Unreachable {
            server: shown,
            message: format!("request task failed: {e}"),
        })?
    }

    /// Every item of a paged list call (`path` has a query already).
    async fn list(&self, path: &str, per_page: usize) -> Result<Vec<Value>, DnsError> {
        let mut out = Vec::new();
        for page in 1.. {
            let v = self
                .call(
                    "GET",
                    format!("{path}&per_page={per_page}&page={page}"),
                    None,
                )
                .await?;
            out.extend(v["result"].as_array().into_iter().flatten().cloned());
            let total = v["result_info"]["total_pages"].as_u64().unwrap_or(1);
            if page >= total || page >= 1000 {
                break;
            }
        }
        Ok(out)
    }

    async fn zone_id(&self, zone: &str) -> Result<String, DnsError> {
        let r = self
            .list(&format!("/zones?name={zone}"), ZONES_PER_PAGE)
            .await?;
        r.iter()
            .find(|z| {
                z["name"]
                    .as_str()
                    .is_some_and(|n| n.eq_ignore_ascii_case(zone))
            })
            .and_then(|z| z["id"].as_str())
            .map(str::to_string)
            .ok_or_else(|| DnsError::Refused {
                server: "Cloudflare API".into(),
                message: format!("no zone {zone} in this account (or the token cannot see it)"),
            })
    }

    async fn records(&self, zone_id: &str, key: &RecordKey) -> Result<Vec<ApiRecord>, DnsError> {
        let r = self
            .list(
                &format!(
                    "/zones/{zone_id}/dns_records?type={}&name={}",
                    key.rtype, key.name
                ),
                RECORDS_PER_PAGE,
            )
            .await?;
        Ok(r.iter()
            .filter(|x| {
                x["name"]
                    .as_str()
                    .is_none_or(|n| super::normalize(n) == key.name)
            })
            .map(|x| ApiRecord {
                id: x["id"].as_str().unwrap_or_default().to_string(),
                content: content_of(key.rtype, x),
                ttl: x["ttl"].as_u64().unwrap_or(1) as u32,
                proxied: x["proxied"].as_bool().unwrap_or(false),
            })
            .collect())
    }
}

/// A record's value as cutover writes it: an MX's `priority` field goes in front of its
/// `content` (`10 mx.example.com`).
fn content_of(rtype: RecordType, x: &Value) -> String {
    let content = x["content"].as_str().unwrap_or("");
    match (rtype, x["priority"].as_u64()) {
        (RecordType::Mx, Some(p)) => super::normalize_value(rtype, &format!("{p} {content}")),
        _ => super::normalize_value(rtype, content),
    }
}

/// The fields of a posted or patched record holding `value`: an MX's preference goes in
/// `priority`, apart from its host.
fn value_fields(rtype: RecordType, value: &str) -> Value {
    match (rtype, super::mx_parts(value)) {
        (RecordType::Mx, Some((priority, host))) => json!({"content": host, "priority": priority}),
        _ => json!({"content": value}),
    }
}

/// The error for an unsuccessful envelope, with what to do for authentication failures.
fn refusal(server: String, status: u16, v: &Value) -> DnsError {
    let errors: Vec<&Value> = v["errors"].as_array().into_iter().flatten().collect();
    let shown: Vec<String> = errors
        .iter()
        .map(|e| format!("{} {}", e["code"], e["message"].as_str().unwrap_or("")))
        .collect();
    let auth = status == 401
        || status == 403
        || errors
            .iter()
            .any(|e| e["code"].as_u64().is_some_and(|c| AUTH_CODES.contains(&c)));
    let hint = if auth {
        ": the API token was refused; check the secret named by `api_token` (a token with Zone.DNS edit permission on this zone)"
    } else {
        ""
    };
    DnsError::Refused {
        server,
        message: format!("HTTP {status}: {}{hint}", shown.join("; ")),
    }
}

fn as_set(key: &RecordKey, recs: &[ApiRecord]) -> Option<RecordSet> {
    let first = recs.first()?;
    let mut values: Vec<String> = recs.iter().map(|r| r.content.clone()).collect();
    values.sort();
    values.dedup();
    Some(RecordSet {
        key: key.clone(),
        ttl: recs.iter().map(|r| r.ttl).min().unwrap_or(first.ttl),
        values,
        proxied: Some(recs.iter().any(|r| r.proxied)),
    })
}

/// The batch operations turning `recs` into `after`, touching as few records as possible:
/// records already holding a wanted value stay (patched only for TTL or proxied), others are
/// re-pointed at the missing values, new ones posted, spare ones deleted.
fn operations(
    recs: &[ApiRecord],
    after: &RecordSet,
    deletes: &mut Vec<Value>,
    patches: &mut Vec<Value>,
    posts: &mut Vec<Value>,
) {
    let proxied = after.proxied.unwrap_or(false);
    let mut kept: Vec<&str> = Vec::new();
    let mut spare: Vec<&ApiRecord> = Vec::new();
    for r in recs {
        if after.values.contains(&r.content) && !kept.contains(&r.content.as_str()) {
            kept.push(&r.content);
            if r.ttl != after.ttl || r.proxied != proxied {
                patches.push(json!({"id": r.id, "ttl": after.ttl, "proxied": proxied}));
            }
        } else {
            spare.push(r);
        }
    }
    let mut spare = spare.into_iter();
    for value in after.values.iter().filter(|v| !kept.contains(&v.as_str())) {
        let mut fields = value_fields(after.key.rtype, value);
        fields["ttl"] = json!(after.ttl);
        // Only address and alias records go through Cloudflare's proxy.
        if matches!(
            after.key.rtype,
            RecordType::A | RecordType::Aaaa | RecordType::Cname
        ) {
            fields["proxied"] = json!(proxied);
        }
        match spare.next() {
            Some(r) => {
                fields["id"] = json!(r.id);
                patches.push(fields);
            }
            None => {
                fields["type"] = json!(after.key.rtype.to_string());
                fields["name"] = json!(after.key.name);
                posts.push(fields);
            }
        }
    }
    for r in spare {
        deletes.push(json!({"id": r.id}));
    }
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
            let unchanged = match as_set(&c.before.key, &recs) {
                None => c.before.values.is_empty(),
                Some(now) => now == c.before,
            };
            if !unchanged {
                return Err(DnsError::Refused {
                    server: "Cloudflare API".into(),
                    message: format!("{} changed since it was read (someone else edited the zone); nothing was changed, run the step again", c.before.key),
                });
            }
            operations(&recs, &c.after, &mut deletes, &mut patches, &mut posts);
        }
        let body = json!({"deletes": deletes, "patches": patches, "posts": posts});
        self.call("POST", format!("/zones/{id}/dns_records/batch"), Some(body))
            .await
            .map(|_| ())
    }

    /// Proxied records always have the automatic TTL (1).
    fn normalize(&self, set: &mut RecordSet) {
        if set.proxied == Some(true) {
            set.ttl = 1;
        }
    }

    fn effective_ttl(&self, ttl: u32) -> u32 {
        if ttl == 1 {
            AUTOMATIC_TTL
        } else {
            ttl
        }
    }
}
