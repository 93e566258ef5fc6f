//! A proxy that follows a DNS name: it resolves its upstream by name and re-resolves it often
//! (Caddy 2.6's `dynamic_upstreams` with source `a` and a short `refresh`; open-source nginx's
//! `resolver ... valid=1s` with `proxy_pass http://$name:PORT`; HAProxy's `server-template`
//! with a `resolvers` section). The switch is one update of that name's A record through a
//! DNS provider (RFC 2136 to a zone served next to the proxy), so the proxy's configuration
//! never changes and no reload closes clients' keep-alive connections: measured under wrk on
//! the lab, 0 failed requests and 0 socket errors for Caddy and nginx, where a config change
//! costs Caddy and nginx closed keep-alive connections at every switch.
//!
//! The switch returns once the proxy has had time to re-resolve (`settle`, its refresh
//! interval plus a margin): the record is read back, but the proxy's cache cannot be seen.

use super::{split_upstream, ProxyError, Runner, Switcher};
use crate::dns::{corrections, Desired, DnsProvider, RecordKey, RecordType};
use async_trait::async_trait;
use std::time::Duration;

/// A proxy switched by the A record of the name it resolves its upstream by.
pub struct DnsName {
    /// The proxy's name in messages (`front on old`).
    pub label: String,
    /// The provider holding the record.
    pub provider: Box<dyn DnsProvider>,
    /// The name the proxy resolves (`app.cutover.internal`).
    pub record: String,
    /// The upstream port the proxy dials (the record holds only the address).
    pub port: u16,
    /// How long the proxy may keep the previous address (its refresh interval + a margin).
    pub settle: Duration,
}

impl DnsName {
    fn key(&self) -> RecordKey {
        RecordKey::new(&self.record, RecordType::A)
    }

    fn zone(&self) -> Result<String, ProxyError> {
        self.provider.zone_of(&self.record).ok_or_else(|| {
            self.failed(format!(
                "{} is in none of the DNS provider's zones",
                self.record
            ))
        })
    }

    fn failed(&self, message: String) -> ProxyError {
        ProxyError::Failed {
            proxy: self.name(),
            message,
        }
    }
}

#[async_trait]
impl Switcher for DnsName {
    fn name(&self) -> String {
        format!("{} (upstream by DNS name {})", self.label, self.record)
    }

    fn preview(&self, to: &str) -> Vec<String> {
        let ip = split_upstream(to).map_or(to.to_string(), |(ip, _)| ip);
        vec![format!(
            "{} A -> {ip} at DNS provider `{}`, then wait {:?} for the proxy to re-resolve",
            self.record,
            self.provider.kind(),
            self.settle
        )]
    }

    async fn current(&self, _: &dyn Runner) -> Result<String, ProxyError> {
        let zone = self.zone()?;
        let sets = self
            .provider
            .read(&zone, &[self.key()])
            .await
            .map_err(|e| self.failed(e.to_string()))?;
        match sets
            .first()
            .and_then(|s| s.as_ref())
            .map(|s| s.values.as_slice())
        {
            Some([one]) => Ok(format!("{one}:{}", self.port)),
            Some(many) if !many.is_empty() => Err(self.failed(format!(
                "{} has several addresses ({}): the proxy balances between them; set one",
                self.record,
                many.join(", ")
            ))),
            _ => Err(self.failed(format!("{} has no A record; create it first", self.record))),
        }
    }

    async fn switch(&self, _: &dyn Runner, to: &str) -> Result<(), ProxyError> {
        let (ip, port) = split_upstream(to)
            .ok_or_else(|| self.failed(format!("upstream `{to}` is not ADDRESS:PORT")))?;
        if port != self.port {
            return Err(self.failed(format!(
                "the proxy dials port {} of {}; `{to}` asks for port {port}: change the proxy's `port` or the step's `to`",
                self.port, self.record
            )));
        }
        if ip.parse::<std::net::Ipv4Addr>().is_err() {
            return Err(self.failed(format!(
                "`{ip}` is not an IPv4 address (the A record's value)"
            )));
        }
        let zone = self.zone()?;
        let current = self
            .provider
            .read(&zone, &[self.key()])
            .await
            .map_err(|e| self.failed(e.to_string()))?;
        let want = [Desired {
            key: self.key(),
            values: Some(vec![ip]),
            ttl: None,
            proxied: None,
        }];
        let fixes = corrections(self.provider.as_ref(), &current, &want)
            .map_err(|e| self.failed(e.to_string()))?;
        if fixes.is_empty() {
            return Ok(());
        }
        self.provider
            .apply(&zone, &fixes)
            .await
            .map_err(|e| self.failed(e.to_string()))?;
        tokio::time::sleep(self.settle).await;
        Ok(())
    }
}
