//! The manual provider: for registrars without an API. It reads records by querying the
//! zone's name servers, prints exactly what to change, waits for the operator to make the
//! change, and verifies it by querying until every name server answers the new values.

use super::authority::{self, Server};
use super::{Correction, DnsError, DnsProvider, RecordKey, RecordSet};
use async_trait::async_trait;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Configuration of a manual provider.
#[derive(Debug, Clone)]
pub struct ManualConfig {
    /// The zones the plan changes.
    pub zones: Vec<String>,
    /// Name servers to read and verify at (`address:port`); empty: found from NS records
    /// through the system resolver.
    pub nameservers: Vec<SocketAddr>,
    /// How long to wait for the operator.
    pub wait: Duration,
    /// Per-query timeout.
    pub timeout: Duration,
}

/// The provider.
pub struct Manual {
    cfg: ManualConfig,
}

impl Manual {
    /// A provider for `cfg`.
    pub fn new(cfg: ManualConfig) -> Self {
        Manual { cfg }
    }

    async fn servers(&self, zone: &str) -> Result<Vec<Server>, DnsError> {
        if self.cfg.nameservers.is_empty() {
            authority::servers(zone, None, self.cfg.timeout).await
        } else {
            Ok(self
                .cfg
                .nameservers
                .iter()
                .map(|a| Server {
                    name: a.ip().to_string(),
                    addr: *a,
                })
                .collect())
        }
    }
}

/// The lines an operator follows to make `changes` at the registrar.
pub fn instructions(changes: &[Correction]) -> Vec<String> {
    let mut lines = vec!["make these changes at your DNS provider's control panel:".to_string()];
    for c in changes {
        lines.push(format!(
            "  {} {}: set the value(s) to {} and the TTL to {} s (now: {}, TTL {} s)",
            c.after.key.name,
            c.after.key.rtype,
            c.after.values.join(", "),
            c.after.ttl,
            c.before.values.join(", "),
            c.before.ttl
        ));
    }
    lines.push("cutover checks the name servers until they answer the new values".into());
    lines
}

#[async_trait]
impl DnsProvider for Manual {
    fn kind(&self) -> &'static str {
        "manual"
    }

    fn zone_of(&self, name: &str) -> Option<String> {
        super::zone_containing(&self.cfg.zones, name)
    }

    fn bootstrap(&self) -> Option<SocketAddr> {
        self.cfg.nameservers.first().copied()
    }

    async fn read(
        &self,
        zone: &str,
        keys: &[RecordKey],
    ) -> Result<Vec<Option<RecordSet>>, DnsError> {
        let servers = self.servers(zone).await?;
        let first = servers
            .first()
            .ok_or_else(|| DnsError::Invalid(format!("no name server for zone {zone}")))?;
        let mut out = Vec::new();
        for key in keys {
            let seen = authority::ask(first, key, self.cfg.timeout).await?;
            out.push(seen.ttl.map(|ttl| RecordSet {
                key: key.clone(),
                ttl,
                values: seen.values,
                proxied: None,
            }));
        }
        Ok(out)
    }

    /// Waits until every name server answers the new values (the operator's change).
    async fn apply(&self, zone: &str, changes: &[Correction]) -> Result<(), DnsError> {
        let servers = self.servers(zone).await?;
        let want: Vec<_> = changes
            .iter()
            .map(|c| (c.after.key.clone(), c.after.values.clone()))
            .collect();
        let started = Instant::now();
        let seen = authority::wait_consistent(
            &servers,
            &want,
            started,
            Duration::from_secs(2),
            started + self.cfg.wait,
        )
        .await;
        let missing: Vec<String> = seen
            .iter()
            .filter_map(|c| c.after.as_ref().err().map(|e| format!("{}: {e}", c.server)))
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(DnsError::Unreachable {
                server: format!("zone {zone}"),
                message: format!(
                    "the manual change did not appear within {:?} at: {}; make the change, then run `cutover apply` again",
                    self.cfg.wait,
                    missing.join("; ")
                ),
            })
        }
    }
}
