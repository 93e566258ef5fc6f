//! The project's own test web app, run on the lab hosts (`cutover-testapp`): a health JSON
//! endpoint reporting database and cache status, a page naming the host, Prometheus
//! metrics, a small API for smoke scenarios (register, log in, create a task, poll it, list
//! a feed), and control endpoints that make it fail or slow down on demand.
//!
//! Endpoints:
//! - `GET /` : `hello from NAME`
//! - `GET /healthz` : 200 `{"status":"ok","host":NAME,"db":"ok","cache":"ok","version":V}`,
//!   503 with `"status":"fail"` while failing
//! - `GET /readyz` : 200 `ready NAME V`, 503 `not ready` while failing (the readiness gate
//!   of blue/green releases); asked with `Accept: application/json`, 200
//!   `{"ready":true,"service":NAME,"version":V}` or 503 `{"ready":false,...}`, as JSON APIs
//!   answer it
//! - `GET /version` : `{"service":NAME,"version":V}` (what a release check compares)
//! - `GET /metrics` : `app_requests_total{code="200"} N` ...
//! - `POST /api/register` `{"user","password"}` -> 201 `{"id"}`;
//!   `POST /api/login` -> `{"token"}`; with `Authorization: Bearer TOKEN`:
//!   `POST /api/tasks` `{"title"}` -> 201 `{"id","status":"pending"}`,
//!   `GET /api/tasks/ID` -> `"pending"` for the first two polls then `"done"`,
//!   `GET /api/feed` -> `{"items":[...]}`
//! - `POST /_control/fail`, `/_control/ok`, `/_control/delay?ms=N`, `/_control/db?state=down|ok`
//!   change the behaviour of every other endpoint.
//!
//! With a database in its environment (see [`db_config`]) the app also writes to
//! PostgreSQL: `POST /api/orders` `{"note"}` -> 201 `{"id"}` or 500 `{"error","code"}` with
//! the database's error, `GET /api/orders/ID` -> the row; `/healthz` then reports
//! `"db": "ok"|"fail"` from its connection pool (and the pool's size).

pub mod db;
pub mod db_config;
pub mod http;
mod orders;
mod process;

pub use process::{binary, start_on, start_with_database, AppDatabase, AppProcess};

use http::{Request, Response};
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// True when the client asked for JSON (`Accept: application/json`).
fn wants_json(req: &Request) -> bool {
    req.headers
        .get("accept")
        .is_some_and(|a| a.contains("application/json"))
}

/// The app's state.
#[derive(Default)]
pub struct App {
    name: String,
    version: String,
    failing: AtomicBool,
    db_down: AtomicBool,
    delay_ms: AtomicU64,
    counts: Mutex<HashMap<u16, u64>>,
    users: Mutex<HashMap<String, String>>,
    tokens: Mutex<HashMap<String, String>>,
    tasks: Mutex<Vec<(String, String, u32)>>,
    next_id: AtomicU64,
    db: Option<db::Database>,
}

impl App {
    /// An app that names itself `name`.
    pub fn new(name: &str, version: &str) -> Arc<Self> {
        Arc::new(App {
            name: name.into(),
            version: version.into(),
            ..Default::default()
        })
    }

    /// An app named `name` that keeps its orders in `db`.
    pub fn with_database(name: &str, version: &str, db: db::Database) -> Arc<Self> {
        Arc::new(App {
            name: name.into(),
            version: version.into(),
            db: Some(db),
            ..Default::default()
        })
    }

    /// Handles one request and counts its status.
    pub fn handle(&self, req: Request) -> Response {
        let resp = self.route(req);
        if let Ok(mut c) = self.counts.lock() {
            *c.entry(resp.status).or_default() += 1;
        }
        resp
    }

    fn route(&self, req: Request) -> Response {
        if let Some(action) = req.path.strip_prefix("/_control/") {
            return self.control(action, &req);
        }
        if req.path == "/metrics" {
            return self.metrics();
        }
        let delay = self.delay_ms.load(Ordering::Relaxed);
        if delay > 0 {
            std::thread::sleep(Duration::from_millis(delay));
        }
        let failing = self.failing.load(Ordering::Relaxed);
        match (req.method.as_str(), req.path.as_str()) {
            ("GET", "/healthz") => self.health(failing),
            ("GET", "/readyz") if wants_json(&req) => self.ready_json(failing),
            ("GET", "/readyz") if failing => Response::text(503, "not ready\n"),
            ("GET", "/readyz") => {
                Response::text(200, format!("ready {} {}\n", self.name, self.version))
            }
            _ if failing => Response::text(500, "failing on purpose\n"),
            ("GET", "/version") => {
                Response::json(200, json!({"service": self.name, "version": self.version}))
            }
            ("GET", "/") => Response::text(200, format!("hello from {}\n", self.name)),
            ("POST", "/api/orders") => orders::create(self.db.as_ref(), &req.body),
            ("GET", p) if p.starts_with("/api/orders/") => {
                orders::read(self.db.as_ref(), &p["/api/orders/".len()..])
            }
            (_, p) if p.starts_with("/api/") => self.api(&req),
            _ => Response::text(404, "not found\n"),
        }
    }

    fn ready_json(&self, failing: bool) -> Response {
        let body = json!({"ready": !failing, "service": self.name, "version": self.version});
        Response::json(if failing { 503 } else { 200 }, body)
    }

    fn health(&self, failing: bool) -> Response {
        let db = if self.db_down.load(Ordering::Relaxed) {
            "down"
        } else if self.db.as_ref().is_some_and(|db| !db.healthy()) {
            "fail"
        } else {
            "ok"
        };
        let ok = !failing && db == "ok";
        let mut body = json!({"status": if ok {"ok"} else {"fail"}, "host": self.name, "db": db, "cache": "ok", "version": self.version});
        if let Some(database) = &self.db {
            let (open, idle) = database.pool_state();
            body["pool"] = json!({"connections": open, "idle": idle});
        }
        Response::json(if ok { 200 } else { 503 }, body)
    }

    fn control(&self, action: &str, req: &Request) -> Response {
        match action {
            "fail" => self.failing.store(true, Ordering::Relaxed),
            "ok" => {
                self.failing.store(false, Ordering::Relaxed);
                self.delay_ms.store(0, Ordering::Relaxed);
                self.db_down.store(false, Ordering::Relaxed);
            }
            "delay" => self.delay_ms.store(
                req.query
                    .get("ms")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
                Ordering::Relaxed,
            ),
            "db" => self.db_down.store(
                req.query.get("state").is_some_and(|s| s == "down"),
                Ordering::Relaxed,
            ),
            _ => return Response::text(404, "unknown control\n"),
        }
        Response::json(200, json!({"ok": true}))
    }

    fn metrics(&self) -> Response {
        let mut text = String::from("# TYPE app_requests_total counter\n");
        if let Ok(c) = self.counts.lock() {
            let mut codes: Vec<_> = c.iter().collect();
            codes.sort();
            for (code, n) in codes {
                text += &format!("app_requests_total{{code=\"{code}\"}} {n}\n");
            }
        }
        text += &format!(
            "app_up{{host=\"{}\"}} {}\n",
            self.name,
            u8::from(!self.failing.load(Ordering::Relaxed))
        );
        Response::text(200, text)
    }

    fn api(&self, req: &Request) -> Response {
        let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or(json!({}));
        let field = |k: &str| {
            body.get(k)
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string()
        };
        let id = || self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        match (req.method.as_str(), req.path.as_str()) {
            ("POST", "/api/register") => {
                let user = field("user");
                if user.is_empty() || field("password").is_empty() {
                    return Response::json(400, json!({"error": "user and password are required"}));
                }
                if let Ok(mut u) = self.users.lock() {
                    u.insert(user, field("password"));
                }
                Response::json(201, json!({"id": id()}))
            }
            ("POST", "/api/login") => {
                let known = self
                    .users
                    .lock()
                    .map(|u| u.get(&field("user")) == Some(&field("password")))
                    .unwrap_or(false);
                if !known {
                    return Response::json(401, json!({"error": "bad credentials"}));
                }
                let token = format!("tok-{}-{}", self.name, id());
                if let Ok(mut t) = self.tokens.lock() {
                    t.insert(token.clone(), field("user"));
                }
                Response::json(200, json!({"token": token}))
            }
            _ => self.authorized(req, &body),
        }
    }

    fn authorized(&self, req: &Request, body: &serde_json::Value) -> Response {
        let token = req
            .headers
            .get("authorization")
            .and_then(|a| a.strip_prefix("Bearer "))
            .unwrap_or("");
        if !self
            .tokens
            .lock()
            .map(|t| t.contains_key(token))
            .unwrap_or(false)
        {
            return Response::json(401, json!({"error": "missing or bad token"}));
        }
        let Ok(mut tasks) = self.tasks.lock() else {
            return Response::text(500, "poisoned\n");
        };
        match (req.method.as_str(), req.path.as_str()) {
            ("POST", "/api/tasks") => {
                let id = format!("t{}", self.next_id.fetch_add(1, Ordering::Relaxed) + 1);
                let title = body
                    .get("title")
                    .and_then(|v| v.as_str())
                    .unwrap_or("untitled")
                    .to_string();
                tasks.push((id.clone(), title, 0));
                Response::json(201, json!({"id": id, "status": "pending"}))
            }
            ("GET", "/api/feed") => {
                let items: Vec<_> = tasks
                    .iter()
                    .map(|(id, title, _)| json!({"id": id, "title": title}))
                    .collect();
                Response::json(200, json!({"items": items}))
            }
            ("GET", p) if p.starts_with("/api/tasks/") => {
                let id = &p["/api/tasks/".len()..];
                match tasks.iter_mut().find(|t| t.0 == id) {
                    Some(t) => {
                        t.2 += 1;
                        let status = if t.2 > 2 { "done" } else { "pending" };
                        Response::json(200, json!({"id": t.0, "title": t.1, "status": status}))
                    }
                    None => Response::json(404, json!({"error": "no such task"})),
                }
            }
            _ => Response::text(404, "not found\n"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(app: &App, path: &str, accept: Option<&str>) -> (u16, String) {
        let mut headers = HashMap::new();
        if let Some(a) = accept {
            headers.insert("accept".to_string(), a.to_string());
        }
        let resp = app.handle(Request {
            method: "GET".into(),
            path: path.into(),
            query: HashMap::new(),
            headers,
            body: Vec::new(),
        });
        (
            resp.status,
            String::from_utf8_lossy(&resp.body).into_owned(),
        )
    }

    #[test]
    fn readyz_answers_json_to_a_json_client_and_text_otherwise() {
        let app = App::new("recall-api", "sha-2222222");
        assert_eq!(
            get(&app, "/readyz", Some("application/json")),
            (
                200,
                r#"{"ready":true,"service":"recall-api","version":"sha-2222222"}"#.into()
            )
        );
        assert_eq!(
            get(&app, "/readyz", None),
            (200, "ready recall-api sha-2222222\n".into())
        );
        app.control(
            "fail",
            &Request {
                method: "POST".into(),
                path: "/_control/fail".into(),
                query: HashMap::new(),
                headers: HashMap::new(),
                body: Vec::new(),
            },
        );
        assert_eq!(
            get(&app, "/readyz", Some("application/json")),
            (
                503,
                r#"{"ready":false,"service":"recall-api","version":"sha-2222222"}"#.into()
            )
        );
    }

    #[test]
    fn version_names_the_service_and_its_version() {
        let app = App::new("recall-api", "sha-1111111");
        assert_eq!(
            get(&app, "/version", None),
            (
                200,
                r#"{"service":"recall-api","version":"sha-1111111"}"#.into()
            )
        );
    }
}
