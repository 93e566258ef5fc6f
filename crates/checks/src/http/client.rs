//! The HTTP client of probes: every connection is opened by us, to the address a pin names
//! (like `curl --resolve`: the URL's Host header and TLS server name stay those of the URL),
//! kept alive and reused per (address, name), and its TLS session inspected.

use super::cert::{self, CertFacts};
use super::tls::{self, Configs};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Uri};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// Largest body a probe reads; the rest is an error (a health endpoint is small).
const MAX_BODY: usize = 8 << 20;
/// Idle connections kept per (address, name).
const MAX_IDLE: usize = 64;

/// Sends the requests for `host:port` to another address, like `curl --resolve`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pin {
    /// Only requests to this host name are pinned; `None`: every request.
    pub host: Option<String>,
    /// Only requests to this port; `None`: any port.
    pub port: Option<u16>,
    /// The address (IP or name) to connect to instead.
    pub addr: String,
}

impl Pin {
    /// Parses `ADDR` (every request) or `HOST:PORT:ADDR` (curl's form); IPv6 addresses in
    /// brackets.
    pub fn parse(text: &str) -> Result<Pin, String> {
        let text = text.trim();
        let unbracket = |a: &str| a.trim_start_matches('[').trim_end_matches(']').to_string();
        let bad = || {
            format!("`{text}` is not a pin: write an address (`198.51.100.20`) or `HOST:PORT:ADDRESS` (`app.example.com:443:198.51.100.20`)")
        };
        if text.is_empty() {
            return Err(bad());
        }
        if text.starts_with('[') || text.parse::<std::net::IpAddr>().is_ok() || !text.contains(':')
        {
            return Ok(Pin {
                host: None,
                port: None,
                addr: unbracket(text),
            });
        }
        let mut parts = text.splitn(3, ':');
        let (Some(host), Some(port), Some(addr)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let port = match port {
            "" | "*" => None,
            p => Some(p.parse::<u16>().map_err(|_| bad())?),
        };
        if addr.is_empty() {
            return Err(bad());
        }
        Ok(Pin {
            host: (!host.is_empty() && host != "*").then(|| host.to_ascii_lowercase()),
            port,
            addr: unbracket(addr),
        })
    }

    fn applies(&self, host: &str, port: u16) -> bool {
        self.host
            .as_deref()
            .is_none_or(|h| h.eq_ignore_ascii_case(host))
            && self.port.is_none_or(|p| p == port)
    }
}

/// One request.
#[derive(Debug, Clone)]
pub struct Request {
    /// Method.
    pub method: Method,
    /// Absolute URL (`http://` or `https://`).
    pub uri: Uri,
    /// Headers besides Host.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Bytes,
    /// Where to connect instead of the URL's host.
    pub pins: Vec<Pin>,
    /// A PEM file of extra trusted CAs.
    pub ca_file: Option<PathBuf>,
    /// Deadline for the whole exchange.
    pub timeout: Duration,
}

impl Request {
    /// A GET of `uri` with a 10 s timeout.
    pub fn get(uri: Uri) -> Self {
        Request {
            method: Method::GET,
            uri,
            headers: Vec::new(),
            body: Bytes::new(),
            pins: Vec::new(),
            ca_file: None,
            timeout: Duration::from_secs(10),
        }
    }
}

/// The TLS session of a response's connection.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TlsInfo {
    /// "TLSv1.3"...
    pub version: String,
    /// Certificates the server sent (leaf first).
    pub chain_len: usize,
    /// The leaf certificate, when it could be read.
    pub leaf: Option<CertFacts>,
}

/// A received response.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The whole body.
    pub body: Bytes,
    /// From sending the request to the last body byte (connecting included when new).
    pub elapsed: Duration,
    /// The address the connection reached.
    pub peer: SocketAddr,
    /// The TLS session, for https.
    pub tls: Option<Arc<TlsInfo>>,
    /// True when a kept-alive connection carried it.
    pub reused: bool,
}

impl Response {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why a request got no response.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The URL cannot be used.
    #[error("bad URL `{url}`: {reason}")]
    Url {
        /// As given.
        url: String,
        /// Why.
        reason: String,
    },
    /// The name did not resolve.
    #[error("cannot resolve `{host}`: {reason}")]
    Resolve {
        /// The name.
        host: String,
        /// Why.
        reason: String,
    },
    /// TCP connect failed.
    #[error("cannot connect to {addr}: {reason}")]
    Connect {
        /// Where.
        addr: SocketAddr,
        /// Why.
        reason: String,
    },
    /// The TLS handshake failed.
    #[error("TLS with `{host}` at {addr}: {reason}")]
    Tls {
        /// The server name sent.
        host: String,
        /// Where.
        addr: SocketAddr,
        /// What was wrong, in words.
        reason: String,
    },
    /// No complete response in time.
    #[error("no response within {}", humantime::format_duration(*.after))]
    Timeout {
        /// The deadline.
        after: Duration,
    },
    /// The exchange broke (reset, closed, malformed).
    #[error("{0}")]
    Protocol(String),
}

type Sender = SendRequest<Full<Bytes>>;

struct Conn {
    sender: Sender,
    peer: SocketAddr,
    tls: Option<Arc<TlsInfo>>,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    https: bool,
    host: String,
    port: u16,
    connect: String,
    ca: Option<PathBuf>,
}

/// A probe HTTP client; cheap to clone (clones share connections).
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    idle: Mutex<HashMap<Key, Vec<Conn>>>,
    tls: Configs,
    keep_alive: bool,
}

impl Default for Client {
    fn default() -> Self {
        Client::new(true)
    }
}

impl Client {
    /// A client; with `keep_alive` false every request opens its own connection.
    pub fn new(keep_alive: bool) -> Self {
        Client {
            inner: Arc::new(Inner {
                idle: Mutex::new(HashMap::new()),
                tls: Configs::default(),
                keep_alive,
            }),
        }
    }

    /// Sends `req` and reads the whole response within its timeout.
    pub async fn send(&self, req: &Request) -> Result<Response, HttpError> {
        let timeout = req.timeout;
        match tokio::time::timeout(timeout, self.exchange(req)).await {
            Ok(r) => r,
            Err(_) => Err(HttpError::Timeout { after: timeout }),
        }
    }

    async fn exchange(&self, req: &Request) -> Result<Response, HttpError> {
        let key = key(req)?;
        let started = Instant::now();
        // A kept-alive connection may have been closed by the server meanwhile: a request that
        // fails on one before any response is sent again on a fresh connection, as browsers do.
        if let Some(conn) = self.take_idle(&key) {
            match self.request_on(conn, &key, req, started, true).await {
                Ok(r) => return Ok(r),
                Err(Retry::Yes(_)) => {}
                Err(Retry::No(e)) => return Err(e),
            }
        }
        let conn = self.connect(&key, req).await?;
        match self.request_on(conn, &key, req, started, false).await {
            Ok(r) => Ok(r),
            Err(Retry::Yes(e) | Retry::No(e)) => Err(e),
        }
    }

    fn take_idle(&self, key: &Key) -> Option<Conn> {
        if !self.inner.keep_alive {
            return None;
        }
        let mut idle = self.inner.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = idle.get_mut(key)?;
        while let Some(c) = list.pop() {
            if c.sender.is_ready() {
                return Some(c);
            }
        }
        None
    }

    fn put_idle(&self, key: &Key, conn: Conn) {
        let mut idle = self.inner.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = idle.entry(key.clone()).or_default();
        if list.len() < MAX_IDLE {
            list.push(conn);
        }
    }

    async fn connect(&self, key: &Key, req: &Request) -> Result<Conn, HttpError> {
        let peer = resolve(&key.connect, key.port).await?;
        let tcp = TcpStream::connect(peer)
            .await
            .map_err(|e| HttpError::Connect {
                addr: peer,
                reason: e.to_string(),
            })?;
        let _ = tcp.set_nodelay(true);
        if !key.https {
            let sender = handshake(TokioIo::new(tcp)).await?;
            return Ok(Conn {
                sender,
                peer,
                tls: None,
            });
        }
        let config = self
            .inner
            .tls
            .get(req.ca_file.as_deref())
            .map_err(|reason| HttpError::Tls {
                host: key.host.clone(),
                addr: peer,
                reason,
            })?;
        let name = ServerName::try_from(key.host.clone()).map_err(|e| HttpError::Url {
            url: req.uri.to_string(),
            reason: format!("`{}` cannot be a TLS server name: {e}", key.host),
        })?;
        let stream = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|e| HttpError::Tls {
                host: key.host.clone(),
                addr: peer,
                reason: tls::explain(&e, &key.host).unwrap_or_else(|| e.to_string()),
            })?;
        let session = stream.get_ref().1;
        let chain = session.peer_certificates().unwrap_or_default();
        let info = TlsInfo {
            version: session
                .protocol_version()
                .and_then(|v| v.as_str())
                .unwrap_or("TLS")
                .replace('_', "."),
            chain_len: chain.len(),
            leaf: chain.first().and_then(|c| cert::parse(c)),
        };
        let sender = handshake(TokioIo::new(stream)).await?;
        Ok(Conn {
            sender,
            peer,
            tls: Some(Arc::new(info)),
        })
    }

    async fn request_on(
        &self,
        mut conn: Conn,
        key: &Key,
        req: &Request,
        started: Instant,
        reused: bool,
    ) -> Result<Response, Retry> {
        let default_port = if key.https { 443 } else { 80 };
        let host_header = match (key.port == default_port, key.host.contains(':')) {
            (true, false) => key.host.clone(),
            (true, true) => format!("[{}]", key.host),
            (false, false) => format!("{}:{}", key.host, key.port),
            (false, true) => format!("[{}]:{}", key.host, key.port),
        };
        let path = req.uri.path_and_query().map_or("/", |p| p.as_str());
        let mut builder = hyper::Request::builder()
            .method(req.method.clone())
            .uri(path)
            .header(hyper::header::HOST, host_header)
            .header(
                hyper::header::USER_AGENT,
                concat!("cutover-probe/", env!("CARGO_PKG_VERSION")),
            );
        for (k, v) in &req.headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        let request = builder.body(Full::new(req.body.clone())).map_err(|e| {
            Retry::No(HttpError::Protocol(format!(
                "cannot build the request: {e}"
            )))
        })?;
        let response = match conn.sender.send_request(request).await {
            Ok(r) => r,
            Err(e) if reused && (e.is_canceled() || e.is_closed() || e.is_incomplete_message()) => {
                return Err(Retry::Yes(HttpError::Protocol(e.to_string())))
            }
            Err(e) => return Err(Retry::No(HttpError::Protocol(describe(&e)))),
        };
        let status = response.status().as_u16();
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = Limited::new(response.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| Retry::No(HttpError::Protocol(format!("reading the body: {e}"))))?
            .to_bytes();
        let elapsed = started.elapsed();
        let close = headers
            .iter()
            .any(|(k, v)| k == "connection" && v.eq_ignore_ascii_case("close"));
        let (peer, tls) = (conn.peer, conn.tls.clone());
        if self.inner.keep_alive && !close {
            self.put_idle(key, conn);
        }
        Ok(Response {
            status,
            headers,
            body,
            elapsed,
            peer,
            tls,
            reused,
        })
    }
}

enum Retry {
    Yes(HttpError),
    No(HttpError),
}

/// hyper's error with its cause (it displays only the outer layer).
fn describe(e: &hyper::Error) -> String {
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

async fn handshake<T>(io: TokioIo<T>) -> Result<Sender, HttpError>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| HttpError::Protocol(describe(&e)))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

fn key(req: &Request) -> Result<Key, HttpError> {
    let bad = |reason: &str| HttpError::Url {
        url: req.uri.to_string(),
        reason: reason.into(),
    };
    let https = match req.uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err(bad("only http:// and https:// URLs are supported")),
    };
    let host = req
        .uri
        .host()
        .ok_or_else(|| bad("it has no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    let port = req.uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let connect = req
        .pins
        .iter()
        .find(|p| p.applies(&host, port))
        .map_or_else(|| host.clone(), |p| p.addr.clone());
    Ok(Key {
        https,
        host,
        port,
        connect,
        ca: req.ca_file.clone(),
    })
}

async fn resolve(host: &str, port: u16) -> Result<SocketAddr, HttpError> {
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let mut found =
        tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| HttpError::Resolve {
                host: host.into(),
                reason: e.to_string(),
            })?;
    found.next().ok_or_else(|| HttpError::Resolve {
        host: host.into(),
        reason: "no address".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_in_both_forms() {
        let p = Pin::parse("198.51.100.20").unwrap();
        assert_eq!(
            (p.host, p.port, p.addr.as_str()),
            (None, None, "198.51.100.20")
        );
        let p = Pin::parse("App.Example.com:443:198.51.100.20").unwrap();
        assert_eq!(p.host.as_deref(), Some("app.example.com"));
        assert_eq!(p.port, Some(443));
        assert!(p.applies("app.example.com", 443) && !p.applies("app.example.com", 80));
        let p = Pin::parse("app.example.com:443:[2001:db8::1]").unwrap();
        assert_eq!(p.addr, "2001:db8::1");
        assert_eq!(Pin::parse("[::1]").unwrap().addr, "::1");
        assert!(Pin::parse("app:x:1.2.3.4").is_err());
        assert!(Pin::parse("app:443:").is_err());
    }

    #[test]
    fn key_takes_the_pinned_address_but_keeps_the_name() {
        let mut r = Request::get("https://app.example.com/healthz".parse().unwrap());
        r.pins = vec![Pin::parse("app.example.com:443:198.51.100.20").unwrap()];
        let k = key(&r).unwrap();
        assert_eq!(
            (k.host.as_str(), k.port, k.connect.as_str()),
            ("app.example.com", 443, "198.51.100.20")
        );
        r.uri = "http://other.example.com:8080/".parse().unwrap();
        assert_eq!(key(&r).unwrap().connect, "other.example.com");
    }
}
