//! `kind = "dns.lower_ttl"` and `kind = "dns.raise_ttl"`: set the TTL of named records.
//! Lowering reads each record's current TTL from every authoritative server and journals when
//! the old TTL has expired everywhere; `dns.switch` waits for that. Raising puts long TTLs
//! back once the new host is settled.

use crate::limits;
use crate::problem::Problems;
use crate::read::{Fields, Spanned};
use crate::steps::kind::Validate;
use crate::traffic::DnsRecord;
use std::time::Duration;

/// Sets the TTL of `records` at `provider`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct DnsTtlStep {
    /// The DNS provider (a name from `[dns]`).
    pub provider: Spanned<String>,
    /// The record sets: `{ name = "www.example.com", type = "A" }`.
    pub records: Vec<DnsRecord>,
    /// The new TTL (e.g. "60s" to lower before a switch, "1h" to raise after).
    #[schemars(with = "String")]
    pub ttl: Duration,
}

impl DnsTtlStep {
    /// The fields a TTL step accepts.
    pub const FIELDS: &'static [&'static str] =
        &["id", "kind", "description", "provider", "records", "ttl"];

    pub(crate) fn read(f: &mut Fields<'_>, p: &mut Problems) -> Option<Self> {
        let provider = f.required("provider", p);
        let records = f.required("records", p);
        let ttl = f.required_duration("ttl", &limits::DNS_TTL, p);
        Some(DnsTtlStep {
            provider: provider?,
            records: records?,
            ttl: ttl?,
        })
    }
}

/// Checked with the traffic sections they name (`crate::traffic::validate`).
impl Validate for DnsTtlStep {}
