//! The proof a Redis verification produces: both sides' key counts and digests per database
//! side by side, how the comparison ran, and every difference named (capped, with counts per
//! kind). Serialisable for `--json` and the journal; rendered as text for people.

use super::compare::Difference;
use super::protocol::{DbDigest, TtlMode};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;

/// One database on one side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DbSummary {
    /// The database number.
    pub db: u32,
    /// Keys read.
    pub keys: u64,
    /// Of which with a TTL.
    pub expiring: u64,
    /// Keys of module types, compared by their `DUMP` payload.
    pub opaque: u64,
    /// The digest of the database.
    pub digest: String,
}

impl From<&DbDigest> for DbSummary {
    fn from(d: &DbDigest) -> Self {
        DbSummary {
            db: d.db,
            keys: d.keys,
            expiring: d.expiring,
            opaque: d.opaque,
            digest: d.digest.clone(),
        }
    }
}

/// One server as verified.
#[derive(Debug, Clone, Serialize)]
pub struct SideReport {
    /// `address:port (from host ...)`.
    pub endpoint: String,
    /// `Redis 7.0.15`.
    pub version: String,
    /// Per database holding keys.
    pub dbs: Vec<DbSummary>,
}

impl SideReport {
    /// Keys in every database.
    pub fn keys(&self) -> u64 {
        self.dbs.iter().map(|d| d.keys).sum()
    }
}

/// The whole proof.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// The source.
    pub source: SideReport,
    /// The target.
    pub target: SideReport,
    /// How expiry times were read.
    pub ttl_mode: TtlMode,
    /// TTLs within this many milliseconds of each other are equal.
    pub ttl_tolerance_ms: u64,
    /// Buckets per database.
    pub buckets: u32,
    /// Buckets whose digests differed, compared key by key.
    pub buckets_compared: u64,
    /// Keys compared key by key (both sides).
    pub keys_compared: u64,
    /// The differences named (at most the limit).
    pub differences: Vec<Difference>,
    /// Differences found in all.
    pub total_differences: u64,
    /// Differences per kind.
    pub by_kind: BTreeMap<String, u64>,
    /// Differences per database.
    pub by_db: BTreeMap<u32, u64>,
    /// Wall-clock seconds.
    pub seconds: f64,
}

impl VerifyReport {
    /// True when nothing differs.
    pub fn matches(&self) -> bool {
        self.total_differences == 0
    }

    /// One line for the step's summary.
    pub fn summary(&self) -> String {
        format!(
            "{} keys in {} database(s) identical on both servers ({} vs {}), TTLs within {} ms; {:.2}s",
            self.source.keys(),
            self.source.dbs.len(),
            self.source.version,
            self.target.version,
            self.ttl_tolerance_ms,
            self.seconds
        )
    }

    /// The report as text: per database both sides side by side, then the differences.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "source: {} ({})",
            self.source.endpoint, self.source.version
        );
        let _ = writeln!(
            s,
            "target: {} ({})",
            self.target.endpoint, self.target.version
        );
        let _ = writeln!(
            s,
            "\n{:<4} {:>10} {:>10} {:>10} {:>10}  {:<16} {:<16} status",
            "db", "keys src", "keys tgt", "ttl src", "ttl tgt", "digest src", "digest tgt"
        );
        let mut dbs: Vec<u32> = self
            .source
            .dbs
            .iter()
            .chain(&self.target.dbs)
            .map(|d| d.db)
            .collect();
        dbs.sort_unstable();
        dbs.dedup();
        for db in dbs {
            let find = |side: &SideReport| side.dbs.iter().find(|d| d.db == db).cloned();
            let (a, b) = (find(&self.source), find(&self.target));
            let n = |d: &Option<DbSummary>, f: fn(&DbSummary) -> u64| {
                d.as_ref().map_or("-".into(), |d| f(d).to_string())
            };
            let dg = |d: &Option<DbSummary>| {
                d.as_ref().map_or("-".into(), |d| {
                    d.digest[..16.min(d.digest.len())].to_string()
                })
            };
            let status = match (&a, &b) {
                (Some(x), Some(y)) if x.digest == y.digest => "ok",
                _ if self.by_db.get(&db).is_some_and(|n| *n > 0) => "differs",
                _ => "ok (key by key)",
            };
            let _ = writeln!(
                s,
                "{db:<4} {:>10} {:>10} {:>10} {:>10}  {:<16} {:<16} {status}",
                n(&a, |d| d.keys),
                n(&b, |d| d.keys),
                n(&a, |d| d.expiring),
                n(&b, |d| d.expiring),
                dg(&a),
                dg(&b)
            );
        }
        let mode = match self.ttl_mode {
            TtlMode::Absolute => "stored expiry times (PEXPIRETIME)",
            TtlMode::Relative => "each host's clock + PTTL (a server older than 7.0)",
        };
        let _ = writeln!(
            s,
            "\nTTLs compared by {mode}, within {} ms; {} bucket(s) of {} per database compared key by key ({} keys)",
            self.ttl_tolerance_ms, self.buckets_compared, self.buckets, self.keys_compared
        );
        let opaque: u64 = self.source.dbs.iter().map(|d| d.opaque).sum();
        if opaque > 0 {
            let _ = writeln!(s, "{opaque} key(s) of module types compared by their DUMP payload (equal only between servers of the same version)");
        }
        if self.matches() {
            let _ = writeln!(s, "\nverdict: identical");
            return s;
        }
        let kinds: Vec<String> = self
            .by_kind
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect();
        let _ = writeln!(
            s,
            "\nverdict: {} difference(s): {}",
            self.total_differences,
            kinds.join(", ")
        );
        for d in &self.differences {
            let _ = writeln!(s, "  ✗ {d}");
        }
        let more = self
            .total_differences
            .saturating_sub(self.differences.len() as u64);
        if more > 0 {
            let _ = writeln!(s, "  … and {more} more");
        }
        s
    }
}
