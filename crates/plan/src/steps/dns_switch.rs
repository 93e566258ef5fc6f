//! `kind = "dns.switch"`: point records at the new host, one atomic change per zone. It
//! refuses to run before the old TTLs lowered by earlier `dns.lower_ttl` steps have expired
//! everywhere, and journals the previous values so rollback restores them.

use crate::limits;
use crate::problem::Problems;
use crate::read::{Fields, Spanned};
use crate::steps::kind::Validate;
use crate::traffic::DnsRecord;
use std::time::Duration;

/// Changes `records` at `provider` to their `value`s.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct DnsSwitchStep {
    /// The DNS provider (a name from `[dns]`).
    pub provider: Spanned<String>,
    /// The record sets and their new values:
    /// `{ name = "www.example.com", type = "A", value = "{{ hosts.new.address }}" }`.
    pub records: Vec<DnsRecord>,
    /// A TTL to set with the switch (default: keep the current one).
    #[schemars(with = "Option<String>")]
    pub ttl: Option<Duration>,
}

impl DnsSwitchStep {
    /// The fields a `dns.switch` step accepts.
    pub const FIELDS: &'static [&'static str] =
        &["id", "kind", "description", "provider", "records", "ttl"];

    pub(crate) fn read(f: &mut Fields<'_>, p: &mut Problems) -> Option<Self> {
        let provider = f.required("provider", p);
        let records = f.required("records", p);
        let ttl = f.duration("ttl", &limits::DNS_TTL, p);
        Some(DnsSwitchStep {
            provider: provider?,
            records: records?,
            ttl,
        })
    }
}

/// Checked with the traffic sections they name (`crate::traffic::validate`).
impl Validate for DnsSwitchStep {}
