//! Smoke scenarios in the Hurl file format: ordered requests whose captured values (a token,
//! a new task's id) are reused by later ones, with asserts, and retries to poll until done.
//!
//! Why not the `hurl` crate: it links libcurl and libxml2 (C builds and system libraries on
//! every machine) and drives its own HTTP stack, so requests could not share the probes'
//! pinning, TLS checks and keep-alive pool; the subset below covers the smoke scenarios of
//! the runbooks and reads real `.hurl` files. Anything outside it is refused with
//! `file:line:col`, by `cutover check` already ([`read_scenario`]).
//!
//! Secret variables and `redact` captures never appear in output: every message is redacted.

mod multipart;
pub mod parse;

use crate::eval;
use crate::http::{Client, Pin, Request, Response};
use crate::outcome::{short, Outcome};
use parse::{Entry, Query, QuerySpec};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A Hurl file to run, with its variables and pins.
#[derive(Debug, Clone)]
pub struct SmokeProbe {
    /// The file.
    pub file: PathBuf,
    /// Pins for every request.
    pub pins: Vec<Pin>,
    /// Variables: name, value, secret.
    pub variables: Vec<(String, String, bool)>,
    /// Extra CA file.
    pub ca_file: Option<PathBuf>,
}

/// Variables and the values to hide.
struct Vars {
    values: BTreeMap<String, String>,
    secrets: Vec<String>,
}

impl Vars {
    fn render(&self, text: &str, at: &str) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            out.push_str(&rest[..open]);
            let close = rest[open..]
                .find("}}")
                .ok_or_else(|| format!("{at}: unclosed `{{{{`"))?;
            let name = rest[open + 2..open + close].trim();
            let value = self.values.get(name).ok_or_else(|| {
                format!("{at}: unknown variable `{name}`; set it in the check's `variables` or capture it in an earlier entry")
            })?;
            out.push_str(value);
            rest = &rest[open + close + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn redact(&self, text: &str) -> String {
        let mut t = text.to_string();
        for s in self.secrets.iter().filter(|s| !s.is_empty()) {
            t = t.replace(s.as_str(), "***");
        }
        t
    }
}

/// Reads and parses the Hurl file at `path` (named `shown` in messages) without sending
/// anything, as `cutover check` does: the requests it holds, or the first thing wrong with it
/// at `file:line:col` (a missing file, a feature outside the supported subset, an upload
/// whose file is missing).
pub fn read_scenario(path: &std::path::Path, shown: &str) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{shown}: cannot read: {e}"))?;
    let entries = parse::parse(&text, shown).map_err(|e| e.to_string())?;
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    for e in &entries {
        for part in &e.multipart {
            if let parse::FormValue::File { path: file, .. } = &part.value {
                if !dir.join(file).is_file() {
                    return Err(format!(
                        "{shown}:{}:1: upload field `{}` names {file}, which does not exist (paths are relative to the Hurl file)",
                        part.line, part.name
                    ));
                }
            }
        }
    }
    let asserts: usize = entries.iter().map(|e| e.asserts.len()).sum();
    Ok(format!("{} requests, {asserts} asserts", entries.len()))
}

impl SmokeProbe {
    /// Runs the scenario; the outcome's failures name `file:line`.
    pub async fn run(&self, client: &Client) -> Outcome {
        let started = Instant::now();
        let name = self.file.display().to_string();
        let text = match std::fs::read_to_string(&self.file) {
            Ok(t) => t,
            Err(e) => {
                return Outcome::fail(started.elapsed(), "", format!("cannot read {name}: {e}"))
            }
        };
        let entries = match parse::parse(&text, &name) {
            Ok(e) => e,
            Err(e) => return Outcome::fail(started.elapsed(), "", e.to_string()),
        };
        let mut vars = Vars {
            values: self
                .variables
                .iter()
                .map(|(k, v, _)| (k.clone(), v.clone()))
                .collect(),
            secrets: self
                .variables
                .iter()
                .filter(|v| v.2)
                .map(|v| v.1.clone())
                .collect(),
        };
        let (mut asserts, mut captures) = (0, 0);
        for entry in &entries {
            let at = format!("{name}:{}", entry.line);
            match self.entry(client, entry, &mut vars, &at).await {
                Ok((a, c)) => {
                    asserts += a;
                    captures += c;
                }
                Err(e) => {
                    return Outcome::fail(
                        started.elapsed(),
                        format!(
                            "{} of {} requests passed",
                            entries
                                .iter()
                                .position(|x| x.line == entry.line)
                                .unwrap_or(0),
                            entries.len()
                        ),
                        vars.redact(&e),
                    );
                }
            }
        }
        let summary = format!(
            "{} requests, {asserts} asserts, {captures} captures in {}",
            entries.len(),
            short(started.elapsed())
        );
        Outcome::pass(started.elapsed(), summary)
    }

    /// Sends one entry (again while its asserts fail and retries are left).
    async fn entry(
        &self,
        client: &Client,
        e: &Entry,
        vars: &mut Vars,
        at: &str,
    ) -> Result<(usize, usize), String> {
        let req = self.request(e, vars, at)?;
        let mut tries = 0;
        loop {
            let sent = Instant::now();
            let resp = client
                .send(&req)
                .await
                .map_err(|err| format!("{at}: {} {}: {err}", req.method, req.uri))?;
            let elapsed = sent.elapsed();
            match check(e, &resp, elapsed, vars, at) {
                Ok(()) => {
                    for c in &e.captures {
                        let v = value(&c.query, &resp, elapsed).map_err(|m| {
                            format!(
                                "{name}:{l}: capture `{}`: {m}",
                                c.name,
                                name = at.rsplit_once(':').map_or(at, |x| x.0),
                                l = c.line
                            )
                        })?;
                        let text = match v {
                            Some(Value::String(s)) => s,
                            Some(other) => other.to_string(),
                            None => {
                                return Err(format!(
                                    "{}:{}: capture `{}`: {} found nothing",
                                    at.rsplit_once(':').map_or(at, |x| x.0),
                                    c.line,
                                    c.name,
                                    c.query.text
                                ))
                            }
                        };
                        if c.redact {
                            vars.secrets.push(text.clone());
                        }
                        vars.values.insert(c.name.clone(), text);
                    }
                    return Ok((e.asserts.len(), e.captures.len()));
                }
                Err(why) if tries < e.retry => {
                    tracing::debug!("{at}: try {} failed: {why}", tries + 1);
                    tries += 1;
                    tokio::time::sleep(e.retry_interval).await;
                }
                Err(why) if e.retry > 0 => {
                    return Err(format!("{why} (after {} tries)", tries + 1))
                }
                Err(why) => return Err(why),
            }
        }
    }

    fn request(&self, e: &Entry, vars: &Vars, at: &str) -> Result<Request, String> {
        let mut url = vars.render(&e.url, at)?;
        if !e.query.is_empty() {
            let params: Result<Vec<String>, String> = e
                .query
                .iter()
                .map(|(k, v)| {
                    Ok(format!(
                        "{}={}",
                        crate::prom::encode(k),
                        crate::prom::encode(&vars.render(v, at)?)
                    ))
                })
                .collect();
            url = format!(
                "{url}{}{}",
                if url.contains('?') { "&" } else { "?" },
                params?.join("&")
            );
        }
        let uri = url
            .parse()
            .map_err(|err| format!("{at}: `{url}` is not a URL: {err}"))?;
        let mut req = Request::get(uri);
        req.method = e
            .method
            .parse()
            .map_err(|_| format!("{at}: bad method `{}`", e.method))?;
        for (k, v) in &e.headers {
            req.headers.push((k.clone(), vars.render(v, at)?));
        }
        if let Some((user, password)) = &e.basic_auth {
            let pair = format!("{}:{}", vars.render(user, at)?, vars.render(password, at)?);
            req.headers.push((
                "Authorization".into(),
                format!("Basic {}", base64(pair.as_bytes())),
            ));
        }
        if let Some(body) = &e.body {
            let body = vars.render(body, at)?;
            let json = body.trim_start().starts_with(['{', '[']);
            if json
                && !e
                    .headers
                    .iter()
                    .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            {
                req.headers
                    .push(("Content-Type".into(), "application/json".into()));
            }
            req.body = body.into();
        }
        if !e.multipart.is_empty() {
            let dir = self.file.parent().unwrap_or(std::path::Path::new("."));
            let (kind, body) = multipart::encode(&e.multipart, dir, |t| vars.render(t, at))
                .map_err(|m| format!("{at}: {m}"))?;
            req.headers.push(("Content-Type".into(), kind));
            req.body = body.into();
        }
        req.pins = self.pins.clone();
        req.ca_file = self.ca_file.clone();
        Ok(req)
    }
}

/// The response's status, headers and asserts; the first failure names its line.
fn check(e: &Entry, r: &Response, elapsed: Duration, vars: &Vars, at: &str) -> Result<(), String> {
    let file = at.rsplit_once(':').map_or(at, |x| x.0);
    if let Some(s) = e.status {
        if r.status != s {
            return Err(format!(
                "{at}: {} {}: status {} (expected {s}){}",
                e.method,
                e.url,
                r.status,
                excerpt(&r.body)
            ));
        }
    }
    for (k, v) in &e.expect_headers {
        let want = vars.render(v, at)?;
        if r.header(k) != Some(want.as_str()) {
            return Err(format!(
                "{at}: header {k}: expected `{want}`, found {:?}",
                r.header(k)
            ));
        }
    }
    for a in &e.asserts {
        let at = format!("{file}:{}", a.line);
        let mut predicate = a.predicate.clone();
        // Values in predicates may use variables too.
        {
            use cutover_plan::checks::assert::Op;
            match &mut predicate.op {
                Op::Eq(Value::String(s))
                | Op::Ne(Value::String(s))
                | Op::Contains(Value::String(s)) => *s = vars.render(s, &at)?,
                Op::StartsWith(s) | Op::EndsWith(s) | Op::Matches(s) => *s = vars.render(s, &at)?,
                _ => {}
            }
        }
        let found = value(&a.query, r, elapsed).map_err(|m| format!("{at}: {m}"))?;
        eval::check(found.as_ref(), &predicate).map_err(|why| {
            format!(
                "{at}: assert `{} {}` failed: {why}",
                a.query.text, a.predicate.text
            )
        })?;
    }
    Ok(())
}

/// What `q` reads from the response (`None`: absent).
fn value(q: &QuerySpec, r: &Response, elapsed: Duration) -> Result<Option<Value>, String> {
    let body = || String::from_utf8_lossy(&r.body).into_owned();
    let v = match &q.query {
        Query::Status => Some(Value::from(r.status)),
        Query::Header(h) => r.header(h).map(Value::from),
        Query::Body => Some(Value::from(body())),
        Query::Duration => Some(Value::from(elapsed.as_millis() as u64)),
        Query::JsonPath(p) => {
            let doc: Value = serde_json::from_slice(&r.body)
                .map_err(|e| format!("the body is not JSON ({e}){}", excerpt(&r.body)))?;
            eval::select(&doc, p).cloned()
        }
        Query::Regex(re) => {
            let re = regex_lite::Regex::new(re).map_err(|e| e.to_string())?;
            let text = body();
            re.captures(&text)
                .map(|c| Value::from(c.get(1).or_else(|| c.get(0)).map_or("", |m| m.as_str())))
        }
    };
    Ok(match (q.count, v) {
        (true, Some(Value::Array(a))) => Some(Value::from(a.len())),
        (true, Some(Value::Object(o))) => Some(Value::from(o.len())),
        (true, other) => {
            return Err(format!(
                "`count` needs a collection, found {}",
                other.map_or("nothing".into(), |v| eval::shown(&v))
            ))
        }
        (false, v) => v,
    })
}

fn excerpt(body: &[u8]) -> String {
    let t = String::from_utf8_lossy(body);
    let t = t.trim();
    if t.is_empty() {
        String::new()
    } else {
        format!(
            ": {}",
            t.chars().take(200).collect::<String>().replace('\n', " ")
        )
    }
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_pads() {
        assert_eq!(super::base64(b"user:pw"), "dXNlcjpwdw==");
        assert_eq!(super::base64(b"abc"), "YWJj");
    }
}
