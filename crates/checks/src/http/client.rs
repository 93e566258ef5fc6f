//! The HTTP client of probes: every connection is opened by us, to the address a pin names
//! (like `curl --resolve`: the URL's Host header and TLS server name stay those of the URL),
//! kept alive and reused per (address, name), and its TLS session inspected.

use super::cert;
pub use super::message::{HttpError, Request, Response, TlsInfo};
pub use super::pin::Pin;
use super::tls::{self, Configs};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::SendRequest;

use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::net::TcpStream;

/// Largest body a probe reads; the rest is an error (a health endpoint is small).
const MAX_BODY: usize = 8 << 20;
/// Idle connections kept per (address, name).
const MAX_IDLE: usize = 64;

type Sender = SendRequest<Full<Bytes>>;

struct Conn {
    sender: Sender,
    peer: String,
    tls: Option<Arc<TlsInfo>>,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    https: bool,
    host: String,
    port: u16,
    connect: String,
    ca: Option<PathBuf>,
    /// The plan host the connection is opened from (`None`: this machine).
    from: Option<String>,
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

    /// Opens the stream for `key`: from the plan host the request names, else from here.
    async fn open(
        &self,
        key: &Key,
        req: &Request,
    ) -> Result<(Box<dyn cutover_exec::ByteStream>, String), HttpError> {
        if let Some(via) = &req.from {
            let target = match key.connect.contains(':') {
                true => format!("[{}]:{}", key.connect, key.port),
                false => format!("{}:{}", key.connect, key.port),
            };
            let peer = format!("{target} from {}", via.host);
            // No wait for a confirmation: the request itself fails on a refused connection.
            match via.forward(&target, std::time::Duration::ZERO).await {
                Ok(Some(f)) => return Ok((Box::new(f), peer)),
                Ok(None) => {} // the host is this machine
                Err(e) => {
                    return Err(HttpError::Connect {
                        addr: peer,
                        reason: e.to_string(),
                    })
                }
            }
        }
        let peer = resolve(&key.connect, key.port).await?;
        let tcp = TcpStream::connect(peer)
            .await
            .map_err(|e| HttpError::Connect {
                addr: peer.to_string(),
                reason: e.to_string(),
            })?;
        let _ = tcp.set_nodelay(true);
        Ok((Box::new(tcp), peer.to_string()))
    }

    async fn connect(&self, key: &Key, req: &Request) -> Result<Conn, HttpError> {
        let (tcp, peer) = self.open(key, req).await?;
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
                addr: peer.clone(),
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
                addr: peer.clone(),
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
        let (peer, tls) = (conn.peer.clone(), conn.tls.clone());
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
        from: req.from.as_ref().map(|v| v.host.clone()),
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
