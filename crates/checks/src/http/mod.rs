//! HTTP(S) probes: the client (pinning, keep-alive, TLS session facts) and the probe that
//! judges a response.

pub mod cert;
pub mod client;
pub mod message;
pub mod pin;
pub mod tls;

pub mod probe;

pub use client::{Client, HttpError, Pin, Request, Response, TlsInfo};
pub use probe::HttpProbe;
