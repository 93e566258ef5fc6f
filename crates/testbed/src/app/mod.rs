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
//!   of blue/green releases)
//! - `GET /metrics` : `app_requests_total{code="200"} N` ...
//! - `POST /api/register` `{"user","password"}` -> 201 `{"id"}`;
//!   `POST /api/login` -> `{"token"}`; with `Authorization: Bearer TOKEN`:
//!   `POST /api/tasks` `{"title"}` -> 201 `{"id","status":"pending"}`,
//!   `GET /api/tasks/ID` -> `"pending"` for the first two polls then `"done"`,
//!   `GET /api/feed` -> `{"items":[...]}`
//! - `POST /_control/fail`, `/_control/ok`, `/_control/delay?ms=N`, `/_control/db?state=down|ok`
//!   change the behaviour of every other endpoint.

pub mod http;

use http::{Request, Response};
use serde_json::json;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
            ("GET", "/healthz") => {
                let db = if self.db_down.load(Ordering::Relaxed) {
                    "down"
                } else {
                    "ok"
                };
                let ok = !failing && db == "ok";
                let body = json!({"status": if ok {"ok"} else {"fail"}, "host": self.name, "db": db, "cache": "ok", "version": self.version});
                Response::json(if ok { 200 } else { 503 }, body)
            }
            ("GET", "/readyz") if failing => Response::text(503, "not ready\n"),
            ("GET", "/readyz") => {
                Response::text(200, format!("ready {} {}\n", self.name, self.version))
            }
            _ if failing => Response::text(500, "failing on purpose\n"),
            ("GET", "/") => Response::text(200, format!("hello from {}\n", self.name)),
            (_, p) if p.starts_with("/api/") => self.api(&req),
            _ => Response::text(404, "not found\n"),
        }
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

/// Where the `cutover-testapp` binary is: next to the running test's target directory,
/// built on demand when a single-crate test run did not build it.
pub fn binary() -> Result<std::path::PathBuf, crate::LabError> {
    let exe = std::env::current_exe()
        .map_err(|e| crate::LabError::Invalid(format!("cannot find the test binary: {e}")))?;
    for dir in exe.ancestors().skip(1).take(3) {
        let candidate = dir.join("cutover-testapp");
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let status = std::process::Command::new(env!("CARGO"))
        .args([
            "build",
            "--quiet",
            "-p",
            "cutover-testbed",
            "--bin",
            "cutover-testapp",
        ])
        .current_dir(&workspace)
        .status()
        .map_err(|e| crate::LabError::Invalid(format!("cannot build cutover-testapp: {e}")))?;
    let built = workspace.join("target/debug/cutover-testapp");
    if status.success() && built.is_file() {
        Ok(built)
    } else {
        Err(crate::LabError::Invalid(
            "cutover-testapp could not be built".into(),
        ))
    }
}

/// A running test app; stopped when dropped (and in any case with its lab).
pub struct AppProcess {
    child: std::process::Child,
    /// Where it listens.
    pub addr: std::net::SocketAddr,
}

impl Drop for AppProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `bin` as the host sees it: a build under a directory the host keeps private (a checkout
/// in `/tmp` or `/root`) is invisible inside it, so it is copied into the host's lab directory.
fn visible_on(host: &crate::LabHost, bin: &Path) -> Result<PathBuf, crate::LabError> {
    if host.fs_path(bin) == bin {
        return Ok(bin.to_path_buf());
    }
    let copy = host.dir.join("bin/cutover-testapp");
    if !copy.is_file() {
        let dir = host.dir.join("bin");
        std::fs::create_dir_all(&dir)
            .map_err(|e| crate::LabError::io("create directory", &dir, e))?;
        // Copied aside then renamed: two apps started at once on one host never exec a
        // half-written file.
        let partial = dir.join(format!(
            ".cutover-testapp.{:?}",
            std::thread::current().id()
        ));
        std::fs::copy(bin, &partial)
            .map_err(|e| crate::LabError::io("copy test app", &partial, e))?;
        std::fs::rename(&partial, &copy)
            .map_err(|e| crate::LabError::io("install test app", &copy, e))?;
    }
    Ok(copy)
}

/// Starts the test app on `host` at its address and `port`, named after the host, and waits
/// until it accepts connections.
pub fn start_on(host: &crate::LabHost, port: u16) -> Result<AppProcess, crate::LabError> {
    let bin = visible_on(host, &binary()?)?;
    let addr = std::net::SocketAddr::from((host.address(), port));
    let child = host.spawn(&format!(
        "exec {} --listen {addr} --name {}",
        bin.display(),
        host.name()
    ))?;
    let app = AppProcess { child, addr };
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
        if std::time::Instant::now() > deadline {
            return Err(crate::LabError::Invalid(format!(
                "the test app on {} did not start listening on {addr}",
                host.name()
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(app)
}
