//! What the probe client sends and receives: a request with its pins, a response with its
//! TLS session facts, and why a request got no response.

use super::cert::CertFacts;
use super::pin::Pin;
use bytes::Bytes;
use hyper::{Method, Uri};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

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
    /// Open the connection from this plan host (`from = "new"`), not from this machine.
    pub from: Option<Box<cutover_exec::FromHost>>,
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
            from: None,
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
    /// The address the connection reached (`ADDRESS:PORT`, and `from HOST` when the
    /// connection was opened from a plan host).
    pub peer: String,
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
        addr: String,
        /// Why.
        reason: String,
    },
    /// The TLS handshake failed.
    #[error("TLS with `{host}` at {addr}: {reason}")]
    Tls {
        /// The server name sent.
        host: String,
        /// Where.
        addr: String,
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
