//! The proof that the target holds every key of every database the source holds, with the
//! same type, value and TTL (within a tolerance). Each agent digests its server's keys next
//! to the data, bucket by bucket ([`super::digest`]); only where two buckets differ do both
//! sides list those buckets' keys, streamed in the same order and merged here, so the
//! controller's memory stays flat whatever the number of keys. For values that differ, the
//! elements of both sides say where (up to [`VerifyOptions::details`] keys). Uses no `DEBUG`
//! command (disabled by default since Redis 7).

use super::compare::{compare_key, describe, DiffKind, Difference};
use super::error::RedisError;
use super::info::State;
use super::pair::{Pair, Progress};
use super::protocol::{
    DbDigest, DigestOptions, Element, KeyEntry, RedisReply, RedisRequest, TtlMode,
};
use super::read::now_ms;
use super::report::{DbSummary, SideReport, VerifyReport};
use super::session::Agent;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How a verification runs.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// TTLs this close are equal.
    pub ttl_tolerance: Duration,
    /// Differences named in the report (all are counted).
    pub limit: usize,
    /// Keys whose values differ that get their elements compared.
    pub details: usize,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            ttl_tolerance: Duration::from_secs(1),
            limit: 1000,
            details: 50,
        }
    }
}

/// Buckets per database for `keys` keys: about 32 keys a bucket, 16 to 65,536 buckets.
pub fn buckets_log2(keys: u64) -> u8 {
    let wanted = (keys / 32).max(1);
    (64 - wanted.leading_zeros()).clamp(4, 16) as u8
}

/// Differences found, the first `limit` kept.
struct Found {
    limit: usize,
    kept: Vec<Difference>,
    total: u64,
    by_kind: BTreeMap<String, u64>,
    by_db: BTreeMap<u32, u64>,
    /// Keys whose values differ, for the element comparison.
    values: Vec<(u32, String, String)>,
}

impl Found {
    fn add(&mut self, d: Difference, key_hex: &str, kind: &str) {
        self.total += 1;
        *self.by_kind.entry(d.kind.label().to_string()).or_default() += 1;
        *self.by_db.entry(d.db).or_default() += 1;
        if d.kind == DiffKind::Value {
            self.values
                .push((d.db, key_hex.to_string(), kind.to_string()));
        }
        if self.kept.len() < self.limit {
            self.kept.push(d);
        }
    }
}

impl Pair {
    /// Proves the target holds what the source holds.
    pub async fn verify(
        &mut self,
        options: &VerifyOptions,
        progress: Progress<'_>,
    ) -> Result<VerifyReport, RedisError> {
        let started = Instant::now();
        let (s, t) = self.states(&[], &[]).await?;
        let ttl = match (s.version, t.version) {
            (Some(a), Some(b)) if a.has_expire_time() && b.has_expire_time() => TtlMode::Absolute,
            _ => TtlMode::Relative,
        };
        let digest_options = DigestOptions {
            buckets_log2: buckets_log2(s.keys().max(t.keys())),
            ttl,
            grid_ms: options.ttl_tolerance.as_millis().max(1) as u64,
        };
        let (a, b) = self.digests(&digest_options, progress).await?;
        let mut found = Found {
            limit: options.limit,
            kept: Vec::new(),
            total: 0,
            by_kind: BTreeMap::new(),
            by_db: BTreeMap::new(),
            values: Vec::new(),
        };
        let (mut buckets_compared, mut keys_compared) = (0u64, 0u64);
        let mut dbs: Vec<u32> = a.iter().chain(&b).map(|d| d.db).collect();
        dbs.sort_unstable();
        dbs.dedup();
        let tolerance = options.ttl_tolerance.as_millis() as i64;
        for db in dbs {
            let (x, y) = (a.iter().find(|d| d.db == db), b.iter().find(|d| d.db == db));
            let buckets = match (x, y) {
                (Some(x), Some(y)) if x.digest == y.digest => continue,
                (Some(x), Some(y)) => differing_buckets(x, y),
                _ => Vec::new(),
            };
            buckets_compared += if buckets.is_empty() {
                1u64 << digest_options.buckets_log2
            } else {
                buckets.len() as u64
            };
            progress(format!(
                "database {db}: comparing {} bucket(s) key by key",
                if buckets.is_empty() {
                    "all".to_string()
                } else {
                    buckets.len().to_string()
                }
            ));
            keys_compared += self
                .merge_keys(db, &buckets, &digest_options, tolerance, &mut found)
                .await?;
        }
        let details: Vec<(u32, String, String)> =
            found.values.iter().take(options.details).cloned().collect();
        for (db, key, kind) in details {
            let text = self.detail(db, &key, &kind).await?;
            if let Some(d) = found.kept.iter_mut().find(|d| {
                d.db == db && d.kind == DiffKind::Value && d.key == super::compare::show(&key)
            }) {
                d.detail = format!("{}: {text}", d.detail);
            }
        }
        Ok(VerifyReport {
            source: side(&self.source, &s, &a),
            target: side(&self.target, &t, &b),
            ttl_mode: ttl,
            ttl_tolerance_ms: tolerance as u64,
            buckets: 1 << digest_options.buckets_log2,
            buckets_compared,
            keys_compared,
            differences: found.kept,
            total_differences: found.total,
            by_kind: found.by_kind,
            by_db: found.by_db,
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// Both sides' digests, computed at once.
    async fn digests(
        &mut self,
        options: &DigestOptions,
        progress: Progress<'_>,
    ) -> Result<(Vec<DbDigest>, Vec<DbDigest>), RedisError> {
        let counts = std::sync::Mutex::new((0u64, 0u64));
        let show = |source: Option<u64>, target: Option<u64>| {
            if let Ok(mut c) = counts.lock() {
                if let Some(n) = source {
                    c.0 = n;
                }
                if let Some(n) = target {
                    c.1 = n;
                }
                progress(format!(
                    "digesting: {} keys read on the source, {} on the target",
                    c.0, c.1
                ));
            }
        };
        let (mut on_source, mut on_target) = (|n| show(Some(n), None), |n| show(None, Some(n)));
        let (ra, rb) = tokio::join!(
            self.source.call(
                RedisRequest::Digest {
                    server: self.source.conn(),
                    options: *options
                },
                &mut on_source
            ),
            self.target.call(
                RedisRequest::Digest {
                    server: self.target.conn(),
                    options: *options
                },
                &mut on_target
            )
        );
        let dbs = |agent: &Agent, r: RedisReply| match r {
            RedisReply::Digests { dbs } => Ok(dbs),
            other => Err(agent.unexpected(&other)),
        };
        Ok((dbs(&self.source, ra?)?, dbs(&self.target, rb?)?))
    }

    /// Streams both sides' keys of `buckets` of `db` in order and compares them; returns the
    /// keys seen.
    async fn merge_keys(
        &mut self,
        db: u32,
        buckets: &[u32],
        options: &DigestOptions,
        tolerance: i64,
        found: &mut Found,
    ) -> Result<u64, RedisError> {
        for agent in [&mut self.source, &mut self.target] {
            let server = agent.conn();
            agent
                .send(RedisRequest::Keys {
                    server,
                    db,
                    buckets: buckets.to_vec(),
                    options: *options,
                })
                .await?;
        }
        let now = now_ms();
        let mut a = next_key(&mut self.source).await?;
        let mut b = next_key(&mut self.target).await?;
        let mut seen = 0u64;
        loop {
            let order = match (&a, &b) {
                (None, None) => return Ok(seen),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some(x), Some(y)) => (x.bucket, &x.key).cmp(&(y.bucket, &y.key)),
            };
            let (x, y) = match order {
                std::cmp::Ordering::Less => (a.take(), None),
                std::cmp::Ordering::Greater => (None, b.take()),
                std::cmp::Ordering::Equal => (a.take(), b.take()),
            };
            seen += u64::from(x.is_some()) + u64::from(y.is_some());
            let entry = x
                .as_ref()
                .or(y.as_ref())
                .map(|e| (e.key.clone(), e.kind.clone()))
                .unwrap_or_default();
            for d in compare_key(db, x.as_ref(), y.as_ref(), tolerance, now) {
                found.add(d, &entry.0, &entry.1);
            }
            if a.is_none() && x.is_some() {
                a = next_key(&mut self.source).await?;
            }
            if b.is_none() && y.is_some() {
                b = next_key(&mut self.target).await?;
            }
        }
    }

    /// Where the value of `key` (hex) differs, from both sides' elements.
    async fn detail(&mut self, db: u32, key: &str, kind: &str) -> Result<String, RedisError> {
        let ask = |agent: &Agent| RedisRequest::Detail {
            server: agent.conn(),
            db,
            key: key.to_string(),
        };
        let (ra, rb) = (ask(&self.source), ask(&self.target));
        let (x, y) = tokio::join!(self.source.ask(ra), self.target.ask(rb));
        let elements = |agent: &Agent, r: RedisReply| match r {
            RedisReply::Detail {
                elements,
                truncated,
                ..
            } => Ok((elements, truncated)),
            other => Err(agent.unexpected(&other)),
        };
        let ((ea, ta), (eb, tb)): ((Vec<Element>, bool), (Vec<Element>, bool)) =
            (elements(&self.source, x?)?, elements(&self.target, y?)?);
        let mut text = describe(kind, &ea, &eb);
        if ta || tb {
            text.push_str(" (among the first 10,000 elements)");
        }
        Ok(text)
    }
}

async fn next_key(agent: &mut Agent) -> Result<Option<KeyEntry>, RedisError> {
    match agent.recv().await? {
        RedisReply::Key(k) => Ok(Some(k)),
        RedisReply::End => Ok(None),
        other => Err(agent.unexpected(&other)),
    }
}

/// The buckets whose digests differ.
fn differing_buckets(a: &DbDigest, b: &DbDigest) -> Vec<u32> {
    let (x, y) = (a.buckets.as_bytes(), b.buckets.as_bytes());
    if x.len() != y.len() {
        return Vec::new();
    }
    x.chunks(32)
        .zip(y.chunks(32))
        .enumerate()
        .filter(|(_, (p, q))| p != q)
        .map(|(i, _)| i as u32)
        .collect()
}

fn side(agent: &Agent, state: &State, dbs: &[DbDigest]) -> SideReport {
    SideReport {
        endpoint: agent.endpoint.describe(),
        version: state.version_text(),
        dbs: dbs.iter().map(DbSummary::from).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_counts_grow_with_the_keys() {
        assert_eq!(buckets_log2(0), 4);
        assert_eq!(buckets_log2(1_000_000), 15);
        assert_eq!(buckets_log2(u64::MAX), 16);
    }
}
