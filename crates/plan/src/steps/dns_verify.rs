//! `kind = "dns.verify"`: poll every authoritative server of the records' zones (found from
//! the NS records) and the listed resolvers until all answer the new values; journals each
//! server's time to consistency and fails after `timeout`.

use crate::limits;
use crate::problem::Problems;
use crate::read::{Fields, Spanned};
use crate::steps::kind::Validate;
use crate::traffic::DnsRecord;
use std::time::Duration;

/// Waits until `records` answer their `value`s everywhere.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct DnsVerifyStep {
    /// The DNS provider (a name from `[dns]`) whose zones hold the records.
    pub provider: Spanned<String>,
    /// The record sets and the values they must answer.
    pub records: Vec<DnsRecord>,
    /// Resolvers to check as well (`address[:port]`); they answer from their cache, so the
    /// deadline must cover the old TTL.
    #[serde(default)]
    pub resolvers: Vec<String>,
    /// Give up after this long (default "2m").
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Duration>,
    /// Time between polls of one server (default "20ms").
    #[schemars(with = "Option<String>")]
    pub interval: Option<Duration>,
}

impl DnsVerifyStep {
    /// The fields a `dns.verify` step accepts.
    pub const FIELDS: &'static [&'static str] = &[
        "id",
        "kind",
        "description",
        "provider",
        "records",
        "resolvers",
        "timeout",
        "interval",
    ];

    pub(crate) fn read(f: &mut Fields<'_>, p: &mut Problems) -> Option<Self> {
        let provider = f.required("provider", p);
        let records = f.required("records", p);
        let resolvers = f.optional("resolvers", p).unwrap_or_default();
        let timeout = f.duration("timeout", &limits::STEP_TIMEOUT, p);
        let interval = f.duration("interval", &limits::INTERVAL, p);
        Some(DnsVerifyStep {
            provider: provider?,
            records: records?,
            resolvers,
            timeout,
            interval,
        })
    }
}

/// Checked with the traffic sections they name (`crate::traffic::validate`).
impl Validate for DnsVerifyStep {}
