//! A **fake** of Cloudflare's v4 DNS API, for tests: it is not Cloudflare and talks to no part
//! of it (the real API cannot be reached from this machine). It follows the contract Cloudflare
//! documents for the calls cutover makes, so the Cloudflare provider is tested against that
//! contract rather than against itself:
//!
//! - auth by `Authorization: Bearer TOKEN` (missing: HTTP 400; wrong: HTTP 403, code 10000);
//! - every answer in the envelope `{"success", "errors": [{"code", "message"}], "messages",
//!   "result"}`, list answers with `result_info {page, per_page, count, total_count,
//!   total_pages}` (pages of `per_page`, default 100, like the real API);
//! - `GET /zones?name=`, `GET|POST /zones/{id}/dns_records` (filters `type`, `name`),
//!   `PUT|PATCH|DELETE /zones/{id}/dns_records/{record_id}`, and
//!   `POST /zones/{id}/dns_records/batch` run as one transaction in the documented order
//!   deletes, patches, puts, posts (one failure: nothing applied);
//! - TTL 1 means automatic, else 60..=86400 (30 on Enterprise zones); proxied records are
//!   A/AAAA/CNAME only and always have the automatic TTL; a CNAME cannot share its name with
//!   A/AAAA records; identical records are refused.
//!
//! The error codes are those Cloudflare's documentation and clients show for these cases where
//! known; the tests assert behaviour (success, refusal, what is stored), not the exact codes.
//! The server answers on a loopback port below 32768 until the process ends; its state is
//! readable and editable from the test through the handle.

mod records;

use crate::app::http::{serve, Request, Response};
use crate::error::LabError;
use records::{batch, create, delete, edit, show};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::{Ipv4Addr, TcpListener};
use std::sync::{Arc, Mutex, MutexGuard};

/// One DNS record as the fake stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeRecord {
    /// 32 hex characters, like Cloudflare's identifiers.
    pub id: String,
    /// `A`, `AAAA`, `CNAME`, `TXT`...
    pub rtype: String,
    /// The fully qualified name, lower case, no trailing dot.
    pub name: String,
    /// The value (address, CNAME target without the dot).
    pub content: String,
    /// 1 (automatic) or seconds.
    pub ttl: u32,
    /// The orange cloud.
    pub proxied: bool,
    /// An MX record's preference (Cloudflare keeps it apart from `content`).
    pub priority: Option<u16>,
}

#[derive(Debug, Clone)]
struct FakeZone {
    id: String,
    name: String,
    enterprise: bool,
    records: Vec<FakeRecord>,
}

#[derive(Debug, Default)]
struct State {
    zones: Vec<FakeZone>,
    next_id: u64,
    /// `METHOD PATH?QUERY` of every request, in order.
    log: Vec<String>,
    /// Committed changes (one per single-record call or batch), per zone id.
    commits: HashMap<String, u32>,
    default_per_page: usize,
    max_per_page: usize,
}

impl State {
    fn id(&mut self) -> String {
        self.next_id += 1;
        format!("{:032x}", 0xcf00_0000_0000u64 + self.next_id)
    }
}

/// A running fake; clones share the server.
#[derive(Clone)]
pub struct CloudflareFake {
    /// The API base to configure in the provider (`http://127.0.0.1:PORT/client/v4`).
    pub api: String,
    state: Arc<Mutex<State>>,
}

/// An API error: HTTP status, Cloudflare code, message.
type ApiError = (u16, u32, String);

impl CloudflareFake {
    /// Starts the fake on a free loopback port below 32768, accepting `token` only.
    pub fn start(token: &str) -> Result<CloudflareFake, LabError> {
        let listener = bind_low_port()?;
        let port = listener
            .local_addr()
            .map_err(|e| LabError::Invalid(format!("cloudflare fake: {e}")))?
            .port();
        let state = Arc::new(Mutex::new(State {
            default_per_page: 100,
            max_per_page: 5000,
            ..State::default()
        }));
        let (st, token) = (state.clone(), token.to_string());
        let handler = Arc::new(move |req: Request| {
            let mut s = st.lock().unwrap_or_else(|e| e.into_inner());
            let query: Vec<String> = req.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
            s.log
                .push(format!("{} {}?{}", req.method, req.path, query.join("&")));
            match handle(&mut s, &token, &req) {
                Ok((status, v)) => Response::json(status, v),
                Err((status, code, message)) => Response::json(
                    status,
                    json!({"success": false, "errors": [{"code": code, "message": message}], "messages": [], "result": null}),
                ),
            }
        });
        std::thread::spawn(move || serve(listener, handler));
        Ok(CloudflareFake {
            api: format!("http://127.0.0.1:{port}/client/v4"),
            state,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds zone `name` (Enterprise zones accept TTLs down to 30 s); returns its id.
    pub fn zone(&self, name: &str, enterprise: bool) -> String {
        let mut s = self.lock();
        let id = s.id();
        s.zones.push(FakeZone {
            id: id.clone(),
            name: name.to_ascii_lowercase(),
            enterprise,
            records: Vec::new(),
        });
        id
    }

    /// Adds a record to zone `zone` without the API's checks; returns its id.
    pub fn record(
        &self,
        zone: &str,
        rtype: &str,
        name: &str,
        content: &str,
        ttl: u32,
        proxied: bool,
    ) -> String {
        let mut s = self.lock();
        let id = s.id();
        if let Some(z) = s.zones.iter_mut().find(|z| z.name == zone) {
            z.records.push(FakeRecord {
                id: id.clone(),
                rtype: rtype.into(),
                name: name.to_ascii_lowercase(),
                content: content.into(),
                ttl: if proxied { 1 } else { ttl },
                proxied,
                priority: None,
            });
        }
        id
    }

    /// The records of zone `zone` named `name` with type `rtype`, sorted by content.
    pub fn records(&self, zone: &str, rtype: &str, name: &str) -> Vec<FakeRecord> {
        let s = self.lock();
        let mut out: Vec<FakeRecord> = s
            .zones
            .iter()
            .filter(|z| z.name == zone)
            .flat_map(|z| z.records.iter())
            .filter(|r| r.rtype == rtype && r.name == name)
            .cloned()
            .collect();
        out.sort_by(|a, b| a.content.cmp(&b.content));
        out
    }

    /// How many changes were committed to zone `zone` (a batch counts once).
    pub fn commits(&self, zone: &str) -> u32 {
        let s = self.lock();
        let id = s
            .zones
            .iter()
            .find(|z| z.name == zone)
            .map(|z| z.id.clone());
        id.and_then(|id| s.commits.get(&id).copied()).unwrap_or(0)
    }

    /// Every request so far, as `METHOD PATH?QUERY`.
    pub fn requests(&self) -> Vec<String> {
        self.lock().log.clone()
    }

    /// Caps the page size whatever a request asks (the real API caps DNS record lists at
    /// 5,000 and zone lists at 50), so tests can make every list span several pages.
    pub fn set_max_per_page(&self, n: usize) {
        self.lock().max_per_page = n.max(1);
    }
}

fn bind_low_port() -> Result<TcpListener, LabError> {
    // Below the ephemeral range (LAB-NOTES); start from a spread-out point so that parallel
    // test processes rarely race for the same port.
    let start = 20000 + (std::process::id() as u16 % 1000) * 10;
    for i in 0..10000u16 {
        let port = 20000 + (start - 20000 + i * 7) % 12000;
        if let Ok(l) = TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
            return Ok(l);
        }
    }
    Err(LabError::Invalid(
        "cloudflare fake: no free loopback port in 20000-32000".into(),
    ))
}

fn handle(s: &mut State, token: &str, req: &Request) -> Result<(u16, Value), ApiError> {
    match req.headers.get("authorization") {
        None => {
            return Err((
                400,
                9106,
                "Missing X-Auth-Key, X-Auth-Email or Authorization headers".into(),
            ))
        }
        Some(h) if h.strip_prefix("Bearer ") != Some(token) => {
            return Err((403, 10000, "Authentication error".into()))
        }
        Some(_) => {}
    }
    let path = req.path.strip_prefix("/client/v4").unwrap_or(&req.path);
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let q = |k: &str| req.query.get(k).map(|v| decode(v));
    match (req.method.as_str(), parts.as_slice()) {
        ("GET", ["zones"]) => {
            let all: Vec<Value> = s
                .zones
                .iter()
                .filter(|z| q("name").is_none_or(|n| n.eq_ignore_ascii_case(&z.name)))
                .map(|z| json!({"id": z.id, "name": z.name, "status": "active", "plan": {"name": if z.enterprise { "Enterprise Website" } else { "Free Website" }}}))
                .collect();
            page(s, req, all)
        }
        ("GET", ["zones", zid, "dns_records"]) => {
            let z = zone(s, zid)?;
            let all: Vec<Value> = z
                .records
                .iter()
                .filter(|r| q("type").is_none_or(|t| t.eq_ignore_ascii_case(&r.rtype)))
                .filter(|r| {
                    q("name").is_none_or(|n| n.trim_end_matches('.').eq_ignore_ascii_case(&r.name))
                })
                .map(|r| show(z, r))
                .collect();
            page(s, req, all)
        }
        ("POST", ["zones", zid, "dns_records", "batch"]) => {
            let body = body(req)?;
            let zid = zone(s, zid)?.id.clone();
            let result = transaction(s, &zid, |s, z| batch(s, z, &body))?;
            Ok(ok(result))
        }
        ("POST", ["zones", zid, "dns_records"]) => {
            let body = body(req)?;
            let zid = zone(s, zid)?.id.clone();
            Ok(ok(transaction(s, &zid, |s, z| create(s, z, &body))?))
        }
        (m @ ("PUT" | "PATCH"), ["zones", zid, "dns_records", rid]) => {
            let body = body(req)?;
            let zid = zone(s, zid)?.id.clone();
            let put = m == "PUT";
            Ok(ok(transaction(s, &zid, |_, z| edit(z, rid, &body, put))?))
        }
        ("DELETE", ["zones", zid, "dns_records", rid]) => {
            let zid = zone(s, zid)?.id.clone();
            Ok(ok(transaction(s, &zid, |_, z| delete(z, rid))?))
        }
        _ => Err((
            404,
            7003,
            format!("Could not route to {path}, perhaps your object identifier is invalid?"),
        )),
    }
}

fn ok(result: Value) -> (u16, Value) {
    (
        200,
        json!({"success": true, "errors": [], "messages": [], "result": result}),
    )
}

fn page(s: &State, req: &Request, all: Vec<Value>) -> Result<(u16, Value), ApiError> {
    let num = |k: &str, d: usize| {
        req.query
            .get(k)
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(d)
    };
    let per_page = num("per_page", s.default_per_page).clamp(1, s.max_per_page);
    let pageno = num("page", 1).max(1);
    let total = all.len();
    let items: Vec<Value> = all
        .into_iter()
        .skip((pageno - 1) * per_page)
        .take(per_page)
        .collect();
    Ok((
        200,
        json!({"success": true, "errors": [], "messages": [], "result": items,
               "result_info": {"page": pageno, "per_page": per_page, "count": items.len(),
                               "total_count": total, "total_pages": total.div_ceil(per_page).max(1)}}),
    ))
}

fn zone<'a>(s: &'a State, id: &str) -> Result<&'a FakeZone, ApiError> {
    s.zones.iter().find(|z| z.id == id).ok_or((
        404,
        7003,
        "Could not route to /zones/{id}: invalid zone identifier".into(),
    ))
}

fn body(req: &Request) -> Result<Value, ApiError> {
    serde_json::from_slice(&req.body)
        .map_err(|e| (400, 6007, format!("Malformed JSON in request body: {e}")))
}

/// Runs `f` on a copy of the zone and keeps the copy only if `f` succeeded: one commit.
fn transaction(
    s: &mut State,
    zid: &str,
    f: impl FnOnce(&mut State, &mut FakeZone) -> Result<Value, ApiError>,
) -> Result<Value, ApiError> {
    let i =
        s.zones
            .iter()
            .position(|z| z.id == zid)
            .ok_or((404, 7003, "invalid zone".to_string()))?;
    let mut copy = s.zones[i].clone();
    let out = f(s, &mut copy)?;
    s.zones[i] = copy;
    *s.commits.entry(zid.to_string()).or_default() += 1;
    Ok(out)
}

/// Percent-decoding of a query value (`%2E`, `+`).
fn decode(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match u8::from_str_radix(&v[i + 1..i + 3], 16) {
                Ok(b) => {
                    out.push(b);
                    i += 3;
                    continue;
                }
                Err(_) => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
