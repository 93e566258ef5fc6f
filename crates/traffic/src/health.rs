//! The health gate in front of every proxy switch: a TCP connect and an HTTP GET to the new
//! upstream, expecting a 2xx or 3xx answer. Deliberately minimal and behind [`HealthGate`], so
//! the checks crate's probes (JSON assertions, TLS, retries) can replace it.

use async_trait::async_trait;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Decides whether an upstream may receive traffic.
#[async_trait]
pub trait HealthGate: Send + Sync {
    /// `Ok(what was seen)` when `upstream` (`address:port`) is healthy, else why not.
    async fn check(&self, upstream: &str) -> Result<String, String>;
}

/// `GET path` over plain HTTP/1.1, answered with 2xx or 3xx within `timeout`.
#[derive(Debug, Clone)]
pub struct HttpGet {
    /// The path to ask for (`/healthz`).
    pub path: String,
    /// The Host header (default: the upstream address).
    pub host: Option<String>,
    /// Connect + answer deadline.
    pub timeout: Duration,
    /// The host the request is sent from: the proxy's, which is what will connect to the
    /// upstream (`None`: this machine).
    pub from: Option<cutover_exec::FromHost>,
}

impl Default for HttpGet {
    fn default() -> Self {
        HttpGet {
            path: "/".into(),
            host: None,
            timeout: Duration::from_secs(3),
            from: None,
        }
    }
}

impl HttpGet {
    /// A connection to `upstream` from [`HttpGet::from`], else from here; with what to call
    /// the upstream in messages.
    async fn open(
        &self,
        upstream: &str,
    ) -> Result<(Box<dyn cutover_exec::ByteStream>, String), String> {
        if let Some(f) = &self.from {
            let seen = format!("{upstream} (from {})", f.host);
            match f.forward(upstream, Duration::ZERO).await {
                Ok(Some(s)) => return Ok((Box::new(s), seen)),
                Ok(None) => {} // the proxy runs on this machine
                Err(e) => return Err(format!("TCP connect to {seen} failed: {e}")),
            }
        }
        let s = TcpStream::connect(upstream)
            .await
            .map_err(|e| format!("TCP connect to {upstream} failed: {e}"))?;
        Ok((Box::new(s), upstream.to_string()))
    }
}

#[async_trait]
impl HealthGate for HttpGet {
    async fn check(&self, upstream: &str) -> Result<String, String> {
        let work = async {
            let (mut s, shown) = self.open(upstream).await?;
            let host = self.host.as_deref().unwrap_or(upstream);
            let upstream = shown.as_str();
            let req = format!(
                "GET {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: cutover-health\r\nConnection: close\r\n\r\n",
                self.path
            );
            s.write_all(req.as_bytes())
                .await
                .map_err(|e| format!("sending to {upstream} failed: {e}"))?;
            let mut head = vec![0u8; 1024];
            let mut n = 0;
            while n < head.len() && !head[..n].contains(&b'\n') {
                let m = s
                    .read(&mut head[n..])
                    .await
                    .map_err(|e| format!("reading from {upstream} failed: {e}"))?;
                if m == 0 {
                    break;
                }
                n += m;
            }
            let line = String::from_utf8_lossy(&head[..n])
                .lines()
                .next()
                .unwrap_or("")
                .to_string();
            let status: u16 = line
                .split_whitespace()
                .nth(1)
                .and_then(|c| c.parse().ok())
                .ok_or_else(|| format!("{upstream} did not answer HTTP (got {line:?})"))?;
            if (200..400).contains(&status) {
                Ok(format!("GET {} on {upstream}: {status}", self.path))
            } else {
                Err(format!(
                    "GET {} on {upstream} answered {status}: the new upstream is not healthy; traffic stays where it is",
                    self.path
                ))
            }
        };
        tokio::time::timeout(self.timeout, work)
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "GET {} on {upstream}: no answer within {:?}",
                    self.path, self.timeout
                ))
            })
    }
}
