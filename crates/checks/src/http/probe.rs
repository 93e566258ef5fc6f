//! The HTTP probe: one request (following redirects when asked) and every expectation on its
//! response: status, JSON fields, body text or pattern, latency, certificate lifetime.

use super::client::{Client, Request, Response};
use crate::eval;
use crate::outcome::{short, Outcome};
use cutover_exec::Executor;
use cutover_plan::checks::assert::JsonAssert;
use hyper::{Method, Uri};
use std::time::{Duration, Instant};

/// Redirects followed at most.
const MAX_REDIRECTS: usize = 10;

/// An HTTP request and what its response must show.
#[derive(Debug, Clone)]
pub struct HttpProbe {
    /// The request.
    pub request: Request,
    /// Accepted statuses; empty: any 2xx.
    pub status: Vec<u16>,
    /// Assertions on the JSON body.
    pub json: Vec<JsonAssert>,
    /// Text the body must contain.
    pub body_contains: Option<String>,
    /// A pattern the body must match.
    pub body_matches: Option<regex_lite::Regex>,
    /// Slowest acceptable response.
    pub max_latency: Option<Duration>,
    /// Follow 3xx responses.
    pub follow_redirects: bool,
    /// Fewest days the certificate must still be valid.
    pub min_cert_days: i64,
    /// The plan host the request is sent from (`None`: this machine).
    pub from: Option<String>,
}

impl HttpProbe {
    /// A GET of `uri` expecting any 2xx.
    pub fn get(uri: Uri) -> Self {
        HttpProbe {
            request: Request::get(uri),
            status: Vec::new(),
            json: Vec::new(),
            body_contains: None,
            body_matches: None,
            max_latency: None,
            follow_redirects: false,
            min_cert_days: 7,
            from: None,
        }
    }

    /// Sends the request (from `self.from` through `exec` when set) and judges the response.
    pub async fn run(&self, client: &Client, exec: Option<&Executor>) -> Outcome {
        let started = Instant::now();
        let response = match self.fetch(client, exec).await {
            Ok(r) => r,
            Err(why) => return Outcome::fail(started.elapsed(), "", why),
        };
        let latency = started.elapsed();
        let (summary, failures) = self.judge(&response, latency);
        Outcome::judged(latency, summary, failures)
    }

    async fn fetch(&self, client: &Client, exec: Option<&Executor>) -> Result<Response, String> {
        let mut req = self.request.clone();
        if let Some(host) = &self.from {
            let exec = exec.ok_or_else(|| {
                format!("this probe is sent from host `{host}`, which cannot be reached here")
            })?;
            req.from = Some(Box::new(cutover_exec::FromHost {
                host: host.clone(),
                exec: exec.clone(),
            }));
        }
        for _ in 0..=MAX_REDIRECTS {
            let resp = client
                .send(&req)
                .await
                .map_err(|e| format!("{} {}: {e}", req.method, req.uri))?;
            let location = resp.header("location").map(str::to_string);
            match location {
                Some(to) if self.follow_redirects && (300..400).contains(&resp.status) => {
                    req.uri =
                        join(&req.uri, &to).map_err(|e| format!("redirect to `{to}`: {e}"))?;
                    if matches!(resp.status, 301..=303) && req.method != Method::HEAD {
                        req.method = Method::GET;
                        req.body = bytes::Bytes::new();
                    }
                }
                _ => return Ok(resp),
            }
        }
        Err(format!(
            "more than {MAX_REDIRECTS} redirects from {}",
            self.request.uri
        ))
    }

    /// The summary line and the failed expectations.
    pub fn judge(&self, r: &Response, latency: Duration) -> (String, Vec<String>) {
        let mut failures = Vec::new();
        let mut summary = format!("{} in {} from {}", r.status, short(latency), r.peer);
        let status_ok = if self.status.is_empty() {
            (200..300).contains(&r.status)
        } else {
            self.status.contains(&r.status)
        };
        if !status_ok {
            let wanted = if self.status.is_empty() {
                "2xx".to_string()
            } else {
                self.status
                    .iter()
                    .map(u16::to_string)
                    .collect::<Vec<_>>()
                    .join(" or ")
            };
            failures.push(format!(
                "status {} (expected {wanted}){}",
                r.status,
                excerpt(&r.body)
            ));
        }
        if let Some(tls) = &r.tls {
            summary += &format!(", {}", tls.version);
            if let Some(leaf) = &tls.leaf {
                let days = leaf.days_left(now_unix());
                summary += &format!(
                    ", certificate {} by {} valid {days} more days",
                    leaf.subject, leaf.issuer
                );
                if days < self.min_cert_days {
                    failures.push(format!(
                        "the certificate expires in {days} days (fewer than {}); renew it before moving traffic",
                        self.min_cert_days
                    ));
                }
            }
        }
        if !self.json.is_empty() {
            match serde_json::from_slice::<serde_json::Value>(&r.body) {
                Ok(doc) => failures.extend(
                    self.json
                        .iter()
                        .filter_map(|a| eval::json_assert(&doc, a).err()),
                ),
                Err(e) => failures.push(format!("the body is not JSON ({e}){}", excerpt(&r.body))),
            }
        }
        let text = String::from_utf8_lossy(&r.body);
        if let Some(needle) = &self.body_contains {
            if !text.contains(needle.as_str()) {
                failures.push(format!(
                    "the body does not contain `{needle}`{}",
                    excerpt(&r.body)
                ));
            }
        }
        if let Some(re) = &self.body_matches {
            if !re.is_match(&text) {
                failures.push(format!(
                    "the body does not match `{}`{}",
                    re.as_str(),
                    excerpt(&r.body)
                ));
            }
        }
        if let Some(max) = self.max_latency {
            if latency > max {
                failures.push(format!("took {} (budget {})", short(latency), short(max)));
            }
        }
        (summary, failures)
    }
}

/// The start of a body, for failure messages.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let t = text.trim();
    if t.is_empty() {
        return String::new();
    }
    let cut: String = t.chars().take(200).collect();
    let more = if cut.len() < t.len() { "…" } else { "" };
    format!(": {}{more}", cut.replace('\n', " "))
}

/// `location` resolved against `base` (absolute, absolute-path, or relative).
fn join(base: &Uri, location: &str) -> Result<Uri, String> {
    if location.contains("://") {
        return location.parse().map_err(|e| format!("{e}"));
    }
    let authority = base.authority().map(|a| a.as_str()).unwrap_or("");
    let scheme = base.scheme_str().unwrap_or("http");
    let path = if location.starts_with('/') {
        location.to_string()
    } else {
        let dir = base.path().rsplit_once('/').map_or("", |(d, _)| d);
        format!("{dir}/{location}")
    };
    format!("{scheme}://{authority}{path}")
        .parse()
        .map_err(|e| format!("{e}"))
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_resolve_against_the_request() {
        let base: Uri = "https://app.example.com/a/b?x=1".parse().unwrap();
        assert_eq!(
            join(&base, "/login").unwrap().to_string(),
            "https://app.example.com/login"
        );
        assert_eq!(
            join(&base, "c").unwrap().to_string(),
            "https://app.example.com/a/c"
        );
        assert_eq!(
            join(&base, "http://other/").unwrap().to_string(),
            "http://other/"
        );
    }
}
