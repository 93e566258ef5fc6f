//! DNS: records, providers with declared capabilities, and corrections (the dnscontrol model).
//!
//! A provider reads the current record sets of a zone and applies a list of [`Correction`]s in
//! one atomic change per zone. What a step wants is a list of [`Desired`] record sets;
//! [`corrections`] compares them with what the provider reads, so `cutover plan` prints the
//! messages, `apply` applies them, and a second run finds nothing to do. Before any network
//! call, [`check_capabilities`] compares the wish with what the provider declares it can do.

pub mod authority;
pub mod cloudflare;
pub mod manual;
pub mod registry;
pub mod rfc2136;
pub mod tsig;
pub mod wire;

pub use registry::{build, capabilities, ProviderConfig, KINDS};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The record types the DNS steps read, switch, create and delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum RecordType {
    /// IPv4 address.
    A,
    /// IPv6 address.
    #[serde(rename = "AAAA")]
    Aaaa,
    /// Canonical name.
    #[serde(rename = "CNAME")]
    Cname,
    /// Text (one string per value; verification tokens, SPF).
    #[serde(rename = "TXT")]
    Txt,
    /// Mail exchanger: `PREFERENCE HOST` per value (`10 mx.example.com`).
    #[serde(rename = "MX")]
    Mx,
    /// Name server (a host name per value).
    #[serde(rename = "NS")]
    Ns,
}

impl RecordType {
    /// Every type, in the order messages list them.
    pub const ALL: [RecordType; 6] = [
        RecordType::A,
        RecordType::Aaaa,
        RecordType::Cname,
        RecordType::Txt,
        RecordType::Mx,
        RecordType::Ns,
    ];

    /// Parses `A`, `AAAA`, `CNAME`, `TXT`, `MX` or `NS` (any case).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.to_ascii_uppercase();
        Self::ALL.into_iter().find(|t| t.to_string() == s)
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RecordType::A => "A",
            RecordType::Aaaa => "AAAA",
            RecordType::Cname => "CNAME",
            RecordType::Txt => "TXT",
            RecordType::Mx => "MX",
            RecordType::Ns => "NS",
        })
    }
}

/// Which record set: a fully qualified name (lower case, no trailing dot) and a type.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RecordKey {
    /// `www.example.com`.
    pub name: String,
    /// The type.
    pub rtype: RecordType,
}

impl RecordKey {
    /// A key with `name` normalised (lower case, no trailing dot).
    pub fn new(name: &str, rtype: RecordType) -> Self {
        RecordKey {
            name: normalize(name),
            rtype,
        }
    }
}

impl fmt::Display for RecordKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.name, self.rtype)
    }
}

/// A record set as a provider holds it. In a [`Correction`], a set with no values stands for
/// a record set that does not exist (before a creation, after a deletion).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordSet {
    /// Name and type.
    pub key: RecordKey,
    /// Its TTL in seconds.
    pub ttl: u32,
    /// Its values, sorted (addresses; CNAME targets without trailing dot).
    pub values: Vec<String>,
    /// Cloudflare's proxied flag, where the provider has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxied: Option<bool>,
}

impl fmt::Display for RecordSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ttl {}", self.key, self.values.join(","), self.ttl)?;
        if let Some(p) = self.proxied {
            write!(f, " proxied={p}")?;
        }
        Ok(())
    }
}

/// What a step wants a record set to become; `None` fields keep the current value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    /// Name and type.
    pub key: RecordKey,
    /// New values.
    pub values: Option<Vec<String>>,
    /// New TTL.
    pub ttl: Option<u32>,
    /// New proxied flag (Cloudflare).
    pub proxied: Option<bool>,
}

/// One change to apply: the record set before (as read) and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Correction {
    /// What changes, for `cutover plan` and the journal.
    pub msg: String,
    /// The zone it belongs to.
    pub zone: String,
    /// The record set as read before the change.
    pub before: RecordSet,
    /// The record set after the change.
    pub after: RecordSet,
}

/// Things a provider may or may not be able to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// TTLs below 60 seconds.
    TtlBelow60,
    /// A CNAME at the zone's apex.
    CnameAtApex,
    /// AAAA records.
    Aaaa,
    /// The proxied flag (Cloudflare's orange cloud).
    Proxied,
    /// Several record sets changed in one atomic change per zone.
    AtomicZoneChange,
}

/// Whether a provider can do something: `Can`, or `Cannot` with the reason users read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// It can.
    Can,
    /// It cannot, and why.
    Cannot(&'static str),
}

/// Why a DNS operation failed. Messages name the server or API, the zone and what to do.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    /// The provider cannot do what the plan asks (found before any network call).
    #[error("provider `{provider}` cannot do this: {reason}")]
    Unsupported {
        /// The provider kind.
        provider: String,
        /// Why, and what to do instead.
        reason: String,
    },
    /// The server or API could not be reached or did not answer in time.
    #[error("{server}: {message}")]
    Unreachable {
        /// The server or API.
        server: String,
        /// What happened.
        message: String,
    },
    /// The server refused the request (key, zone, policy).
    #[error("{server}: {message}")]
    Refused {
        /// The server or API.
        server: String,
        /// What happened and what to do.
        message: String,
    },
    /// An update was sent but its outcome is unknown (no answer): re-read before going on.
    #[error("{server}: the update of zone {zone} was sent but no answer came ({message}); it may or may not have been applied")]
    Unknown {
        /// The server.
        server: String,
        /// The zone.
        zone: String,
        /// What happened.
        message: String,
    },
    /// A record the step names does not exist.
    #[error(
        "record {key} does not exist in zone {zone}; create it first or fix its name in the plan"
    )]
    Absent {
        /// The record.
        key: RecordKey,
        /// The zone.
        zone: String,
    },
    /// The plan or configuration is wrong.
    #[error("{0}")]
    Invalid(String),
}

/// A DNS provider: reads record sets and applies corrections, one atomic change per zone where
/// it declares [`Capability::AtomicZoneChange`].
#[async_trait]
pub trait DnsProvider: Send + Sync {
    /// The provider's kind (`rfc2136`, `cloudflare`, `manual`).
    fn kind(&self) -> &'static str;

    /// The zone `name` belongs to, from the provider's configured zones.
    fn zone_of(&self, name: &str) -> Option<String>;

    /// The server to ask for a zone's NS records (authoritative discovery); `None` uses the
    /// system resolver.
    fn bootstrap(&self) -> Option<std::net::SocketAddr> {
        None
    }

    /// The current record sets for `keys` of `zone` (`None` where absent).
    async fn read(
        &self,
        zone: &str,
        keys: &[RecordKey],
    ) -> Result<Vec<Option<RecordSet>>, DnsError>;

    /// Applies `changes` (all in `zone`) as one change.
    async fn apply(&self, zone: &str, changes: &[Correction]) -> Result<(), DnsError>;

    /// Adjusts a wished record set to what the provider will store (e.g. Cloudflare keeps
    /// proxied records at the automatic TTL), so a second run finds nothing to correct.
    fn normalize(&self, _set: &mut RecordSet) {}

    /// The seconds resolvers may cache a record whose TTL the provider reports as `ttl`
    /// (Cloudflare's 1 means "automatic", which is 300 s).
    fn effective_ttl(&self, ttl: u32) -> u32 {
        ttl
    }
}

/// The lower-case, dot-less form of a DNS name.
pub fn normalize(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// The longest of `zones` that contains `name`.
pub fn zone_containing(zones: &[String], name: &str) -> Option<String> {
    let name = normalize(name);
    zones
        .iter()
        .map(|z| normalize(z))
        .filter(|z| name == *z || name.ends_with(&format!(".{z}")))
        .max_by_key(|z| z.len())
}

/// The corrections turning `current` into `desired` (same order); empty when already in place.
/// A desired record set that does not exist is an error: steps switch records, they do not
/// invent them.
pub fn corrections(
    provider: &dyn DnsProvider,
    current: &[Option<RecordSet>],
    desired: &[Desired],
) -> Result<Vec<Correction>, DnsError> {
    let mut out = Vec::new();
    for (want, have) in desired.iter().zip(current) {
        let zone = provider
            .zone_of(&want.key.name)
            .ok_or_else(|| no_zone(&want.key))?;
        let Some(have) = have else {
            return Err(DnsError::Absent {
                key: want.key.clone(),
                zone,
            });
        };
        let mut after = have.clone();
        if let Some(v) = &want.values {
            let mut v: Vec<String> = v
                .iter()
                .map(|x| normalize_value(want.key.rtype, x))
                .collect();
            v.sort();
            v.dedup();
            after.values = v;
        }
        if let Some(t) = want.ttl {
            after.ttl = t;
        }
        if want.proxied.is_some() {
            after.proxied = want.proxied;
        }
        provider.normalize(&mut after);
        if after != *have {
            out.push(Correction {
                msg: describe(have, &after),
                zone,
                before: have.clone(),
                after,
            });
        }
    }
    Ok(out)
}

fn describe(before: &RecordSet, after: &RecordSet) -> String {
    let mut parts = Vec::new();
    if before.values != after.values {
        parts.push(format!(
            "{} -> {}",
            before.values.join(","),
            after.values.join(",")
        ));
    }
    if before.ttl != after.ttl {
        parts.push(format!("ttl {} -> {}", before.ttl, after.ttl));
    }
    if before.proxied != after.proxied {
        parts.push(format!(
            "proxied {} -> {}",
            before.proxied.unwrap_or(false),
            after.proxied.unwrap_or(false)
        ));
    }
    format!("{}: {}", before.key, parts.join(", "))
}

/// A record value in the form providers compare: host names (CNAME, NS and MX targets) lower
/// case without the dot, an MX as `PREFERENCE HOST`, TXT as written.
pub fn normalize_value(rtype: RecordType, v: &str) -> String {
    match rtype {
        RecordType::Cname | RecordType::Ns => normalize(v),
        RecordType::Mx => match v.split_whitespace().collect::<Vec<_>>()[..] {
            [pref, host] => format!("{pref} {}", normalize(host)),
            _ => v.trim().to_string(),
        },
        RecordType::Txt => v.to_string(),
        RecordType::A | RecordType::Aaaa => v.trim().to_string(),
    }
}

/// The preference and host of an MX value (`10 mx.example.com`).
pub fn mx_parts(v: &str) -> Option<(u16, String)> {
    match v.split_whitespace().collect::<Vec<_>>()[..] {
        [pref, host] => Some((pref.parse().ok()?, normalize(host))),
        _ => None,
    }
}

/// The corrections that make each of `desired` exist with exactly its values (`values:
/// None` or empty: make it absent), for `dns.record`; empty when all are in place. Unlike
/// [`corrections`], a record set may be created or deleted, and a created one takes `ttl`
/// from the wish (else `default_ttl`).
pub fn record_corrections(
    provider: &dyn DnsProvider,
    current: &[Option<RecordSet>],
    desired: &[Desired],
    default_ttl: u32,
) -> Result<Vec<Correction>, DnsError> {
    let mut out = Vec::new();
    for (want, have) in desired.iter().zip(current) {
        let zone = provider
            .zone_of(&want.key.name)
            .ok_or_else(|| no_zone(&want.key))?;
        let before = have.clone().unwrap_or_else(|| RecordSet {
            key: want.key.clone(),
            ttl: 0,
            values: Vec::new(),
            proxied: None,
        });
        let mut values: Vec<String> = want
            .values
            .iter()
            .flatten()
            .map(|x| normalize_value(want.key.rtype, x))
            .collect();
        values.sort();
        values.dedup();
        let mut after = RecordSet {
            key: want.key.clone(),
            ttl: want.ttl.unwrap_or(if before.values.is_empty() {
                default_ttl
            } else {
                before.ttl
            }),
            proxied: want.proxied.or(before.proxied),
            values,
        };
        if after.values.is_empty() {
            after.ttl = 0;
            after.proxied = None;
        } else {
            provider.normalize(&mut after);
        }
        let same = if after.values.is_empty() {
            before.values.is_empty()
        } else {
            after == before
        };
        if !same {
            out.push(Correction {
                msg: describe_record(&before, &after),
                zone,
                before,
                after,
            });
        }
    }
    Ok(out)
}

fn describe_record(before: &RecordSet, after: &RecordSet) -> String {
    match (before.values.is_empty(), after.values.is_empty()) {
        (true, _) => format!(
            "{}: created ({} ttl {})",
            after.key,
            after.values.join(","),
            after.ttl
        ),
        (_, true) => format!("{}: deleted (was {})", before.key, before.values.join(",")),
        _ => describe(before, after),
    }
}

pub(crate) fn no_zone(key: &RecordKey) -> DnsError {
    DnsError::Invalid(format!(
        "{key} is in none of the provider's zones; add its zone to the provider's `zones`"
    ))
}

/// Problems of `desired` against what the provider `kind` declares, found before any network
/// call (`cutover check` and the start of every DNS step).
pub fn check_capabilities(kind: &str, zones: &[String], desired: &[Desired]) -> Vec<String> {
    let caps = capabilities(kind);
    let support = |c: Capability| {
        caps.iter()
            .find(|(k, _)| *k == c)
            .map_or(Support::Can, |(_, s)| *s)
    };
    let mut problems = Vec::new();
    let mut push = |c: Capability, what: String| {
        if let Support::Cannot(why) = support(c) {
            problems.push(format!("{what}: provider `{kind}` cannot: {why}"));
        }
    };
    for d in desired {
        if d.ttl.is_some_and(|t| t < 60) {
            push(
                Capability::TtlBelow60,
                format!("{} with ttl {}", d.key, d.ttl.unwrap_or(0)),
            );
        }
        if d.key.rtype == RecordType::Aaaa {
            push(Capability::Aaaa, format!("{}", d.key));
        }
        if d.proxied.is_some() {
            push(Capability::Proxied, format!("{} proxied flag", d.key));
        }
        if d.key.rtype == RecordType::Cname && zones.iter().any(|z| normalize(z) == d.key.name) {
            push(
                Capability::CnameAtApex,
                format!("{} at the zone apex", d.key),
            );
        }
    }
    problems
}
