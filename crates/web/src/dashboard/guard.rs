//! Who may talk to the dashboard: a token generated at each start, required on every request
//! (in the page's URL, then in a header), and only the dashboard's own origin and host names
//! (another site's page in the operator's browser, or a DNS-rebound name, is refused).

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::sync::Arc;

/// The header the page sends its token in (a custom header: another origin cannot send it
/// without a CORS preflight, which is never granted).
pub const TOKEN_HEADER: &str = "x-cutover-token";

/// The access rules of one start.
pub struct Guard {
    token: String,
    hosts: Vec<String>,
    origins: Vec<String>,
}

impl Guard {
    /// Rules for a dashboard at `addr` (`tls`: https), with a fresh random token.
    pub fn new(addr: SocketAddr, tls: bool) -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; 24];
        getrandom::fill(&mut bytes)?;
        let token = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let mut hosts = vec![addr.to_string()];
        if addr.ip().is_loopback() {
            hosts.push(format!("localhost:{}", addr.port()));
        }
        let scheme = if tls { "https" } else { "http" };
        let origins = hosts.iter().map(|h| format!("{scheme}://{h}")).collect();
        Ok(Guard {
            token,
            hosts,
            origins,
        })
    }

    /// The token.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Why a request is refused, if it is.
    fn refusal(
        &self,
        headers: &HeaderMap,
        query: Option<&str>,
    ) -> Option<(StatusCode, &'static str)> {
        let get = |h: header::HeaderName| headers.get(h).and_then(|v| v.to_str().ok());
        if !get(header::HOST).is_some_and(|h| self.hosts.iter().any(|a| a == h)) {
            return Some((
                StatusCode::FORBIDDEN,
                "refused: unknown Host (use the address the dashboard printed)\n",
            ));
        }
        if let Some(origin) = get(header::ORIGIN) {
            if !self.origins.iter().any(|o| o == origin) {
                return Some((
                    StatusCode::FORBIDDEN,
                    "refused: request from another origin\n",
                ));
            }
        }
        let given = headers
            .get(TOKEN_HEADER)
            .and_then(|v| v.to_str().ok())
            .or_else(|| query.and_then(token_in_query));
        if !given.is_some_and(|t| same(t.as_bytes(), self.token.as_bytes())) {
            return Some((
                StatusCode::UNAUTHORIZED,
                "refused: missing or wrong token (open the URL the dashboard printed)\n",
            ));
        }
        None
    }
}

/// The `token` parameter of a query string.
fn token_in_query(query: &str) -> Option<&str> {
    query.split('&').find_map(|kv| kv.strip_prefix("token="))
}

/// Compares in time independent of where the first difference is.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The middleware: every request passes the guard or is refused with a word on why.
pub async fn check(State(guard): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    match guard.refusal(req.headers(), req.uri().query()) {
        None => next.run(req).await,
        Some((status, why)) => {
            tracing::warn!(
                "dashboard: {} {}: {}",
                req.method(),
                req.uri().path(),
                why.trim()
            );
            (status, why).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn token_host_and_origin_are_each_required() {
        let g = Guard::new("127.0.0.1:8080".parse().unwrap(), false).unwrap();
        let t = g.token().to_string();
        let q = format!("token={t}");
        assert_eq!(
            g.refusal(&headers(&[("host", "127.0.0.1:8080")]), Some(&q)),
            None
        );
        assert_eq!(
            g.refusal(
                &headers(&[("host", "localhost:8080"), (TOKEN_HEADER, &t)]),
                None
            ),
            None
        );
        assert_eq!(
            g.refusal(&headers(&[("host", "127.0.0.1:8080")]), None)
                .unwrap()
                .0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            g.refusal(&headers(&[("host", "127.0.0.1:8080")]), Some("token=nope"))
                .unwrap()
                .0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            g.refusal(&headers(&[("host", "evil.example:8080")]), Some(&q))
                .unwrap()
                .0,
            StatusCode::FORBIDDEN
        );
        let other = headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://evil.example"),
        ]);
        assert_eq!(
            g.refusal(&other, Some(&q)).unwrap().0,
            StatusCode::FORBIDDEN
        );
        let own = headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080"),
        ]);
        assert_eq!(g.refusal(&own, Some(&q)), None);
    }
}
