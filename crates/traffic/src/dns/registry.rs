//! The provider registry: every provider kind, its configuration, and the capabilities it
//! declares (readable without building it, so `cutover check` needs no secret or network).

use super::cloudflare::{Cloudflare, CloudflareConfig};
use super::manual::{Manual, ManualConfig};
use super::rfc2136::{Rfc2136, Rfc2136Config};
use super::{Capability, DnsProvider, Support};

/// Every provider kind, as written in `[dns.NAME] provider = "..."`.
pub const KINDS: &[&str] = &["rfc2136", "cloudflare", "manual"];

/// A provider's configuration, by kind.
#[derive(Debug, Clone)]
pub enum ProviderConfig {
    /// RFC 2136 dynamic updates with TSIG.
    Rfc2136(Rfc2136Config),
    /// Cloudflare's API.
    Cloudflare(CloudflareConfig),
    /// Changes made by a person at the registrar, then verified by querying.
    Manual(ManualConfig),
}

/// Builds the provider for `cfg`.
pub fn build(cfg: ProviderConfig) -> Box<dyn DnsProvider> {
    match cfg {
        ProviderConfig::Rfc2136(c) => Box::new(Rfc2136::new(c)),
        ProviderConfig::Cloudflare(c) => Box::new(Cloudflare::new(c)),
        ProviderConfig::Manual(c) => Box::new(Manual::new(c)),
    }
}

/// What provider `kind` declares it cannot do (anything not listed, it can).
pub fn capabilities(kind: &str) -> &'static [(Capability, Support)] {
    match kind {
        "rfc2136" => &[(
            Capability::CnameAtApex,
            Support::Cannot("a CNAME cannot sit beside the apex's SOA and NS records (RFC 1034); use A/AAAA records at the apex"),
        )],
        "cloudflare" => &[
            (
                Capability::TtlBelow60,
                Support::Cannot("Cloudflare's smallest TTL is 60 s (30 s on Enterprise plans; 1 means automatic)"),
            ),
        ],
        "manual" => &[
            (
                Capability::AtomicZoneChange,
                Support::Cannot("a person edits the records one by one at the registrar"),
            ),
            (
                Capability::Proxied,
                Support::Cannot("the manual provider has no proxied flag"),
            ),
        ],
        _ => &[],
    }
}
