//! Digests of a server's keys, computed in the agent next to the data: every database is
//! scanned (`SCAN`, so the server is never blocked) while other connections read its keys
//! ([`super::fanout`], [`super::read`]); each key is folded into one of `2^buckets_log2`
//! buckets by a hash of its name. A bucket's digest is the order-free sum of its keys'
//! digests (servers scan in different orders, readers take batches in any order); only the
//! bucket digests travel. Where two servers' buckets differ, the controller asks for those
//! buckets' keys ([`keys`]), and for the elements of keys whose values differ ([`detail`]).
//!
//! `SCAN` may return a key twice (while the server resizes its table): a bucket then digests
//! differently on that side and is compared key by key, where the duplicate is dropped. It
//! can never make two different buckets digest alike.

use super::client::{text, Client, Failure};
use super::fanout::{read_database, Fold};
use super::protocol::{DbDigest, DigestOptions, Element, KeyEntry};
use super::read::{consumers, KeyRead};
use super::reply::{field, flatten, items};
use super::value::{group_summaries, score_bits, Sum};
use twox_hash::XxHash3_128;

/// A detail lists at most this many elements.
const DETAIL_MAX: usize = 10_000;

/// The bucket of `key`: the top `log2` bits of a hash of its name (XXH3: the choice only
/// needs to spread keys, and it is made for every key on both servers).
pub fn bucket_of(key: &[u8], log2: u8) -> u32 {
    if log2 == 0 {
        return 0;
    }
    let top = (XxHash3_128::oneshot(key) >> 96) as u32;
    top >> (32 - u32::from(log2.min(24)))
}

/// The digest of one key as it enters its bucket: name, type, value and expiry (rounded
/// down to the grid).
pub fn key_digest(key: &[u8], read: &KeyRead, grid_ms: u64) -> u128 {
    // A flag byte, then the expiry's grid slot when there is one: framed on the stack.
    let mut ttl = [0u8; 9];
    let ttl: &[u8] = match read.expire_ms {
        Some(at) => {
            let slot = at.div_euclid(grid_ms.max(1) as i64);
            ttl[0] = 1;
            ttl[1..].copy_from_slice(&slot.to_le_bytes());
            &ttl
        }
        None => &ttl[..1],
    };
    super::value::short(&[key, read.kind.as_bytes(), &read.value, ttl])
}

/// The databases holding keys, from `INFO keyspace` (`db3:keys=10,expires=2,...`).
pub fn databases(client: &mut Client) -> Result<Vec<u32>, Failure> {
    let info = client.info(Some("keyspace"))?;
    Ok(info
        .lines()
        .filter_map(|l| l.strip_prefix("db")?.split_once(':')?.0.parse().ok())
        .collect())
}

/// One database's digest state, as a reader folds its batches into it; readers' states add
/// up ([`DbSums::merge`]).
struct DbSums {
    sums: Vec<Sum>,
    keys: u64,
    expiring: u64,
    vanished: u64,
    opaque: u64,
}

impl DbSums {
    fn new(buckets_log2: u8) -> Self {
        DbSums {
            sums: vec![Sum::default(); 1usize << buckets_log2],
            keys: 0,
            expiring: 0,
            vanished: 0,
            opaque: 0,
        }
    }

    fn add(&mut self, batch: &[Vec<u8>], reads: Vec<Option<KeyRead>>, options: &DigestOptions) {
        for (key, read) in batch.iter().zip(reads) {
            let Some(read) = read else {
                self.vanished += 1;
                continue;
            };
            let b = bucket_of(key, options.buckets_log2) as usize;
            self.sums[b].0 = self.sums[b]
                .0
                .wrapping_add(key_digest(key, &read, options.grid_ms));
            self.keys += 1;
            self.expiring += u64::from(read.expire_ms.is_some());
            self.opaque += u64::from(!is_known(&read.kind));
        }
    }

    fn merge(mut self, other: DbSums) -> DbSums {
        for (a, b) in self.sums.iter_mut().zip(&other.sums) {
            a.0 = a.0.wrapping_add(b.0);
        }
        self.keys += other.keys;
        self.expiring += other.expiring;
        self.vanished += other.vanished;
        self.opaque += other.opaque;
        self
    }

    fn finish(self, db: u32) -> DbDigest {
        let mut hex = String::with_capacity(self.sums.len() * 32);
        let mut all = blake3::Hasher::new();
        all.update(&self.keys.to_le_bytes());
        for s in &self.sums {
            let b = s.0.to_le_bytes();
            all.update(&b);
            hex.push_str(&to_hex(&b));
        }
        DbDigest {
            db,
            keys: self.keys,
            expiring: self.expiring,
            vanished: self.vanished,
            opaque: self.opaque,
            digest: all.finalize().to_hex().to_string(),
            buckets: hex,
        }
    }
}

/// Every database's digests; `progress` is called with the keys read so far.
pub fn digest(
    client: &mut Client,
    options: &DigestOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<Vec<DbDigest>, Failure> {
    let mut out = Vec::new();
    let mut total = 0u64;
    for db in databases(client)? {
        let fold = Fold {
            keep: &|_| true,
            init: &|| DbSums::new(options.buckets_log2),
            fold: &|sums: &mut DbSums, batch, reads| sums.add(&batch, reads, options),
        };
        let before = total;
        let parts = read_database(client, db, options.ttl, &fold, &mut |n| {
            progress(before + n)
        })?;
        let sums = parts
            .into_iter()
            .reduce(DbSums::merge)
            .unwrap_or_else(|| DbSums::new(options.buckets_log2));
        total += sums.keys + sums.vanished;
        out.push(sums.finish(db));
    }
    Ok(out)
}

fn is_known(kind: &str) -> bool {
    matches!(kind, "string" | "list" | "hash" | "set" | "zset" | "stream")
}

/// A key found by the key-by-key pass: its bucket, name and what was read.
type Found = (u32, Vec<u8>, KeyRead);

/// The keys of `db` in `buckets` (every key when empty), sorted by (bucket, key), without
/// duplicates.
pub fn keys(
    client: &mut Client,
    db: u32,
    buckets: &[u32],
    options: &DigestOptions,
) -> Result<Vec<KeyEntry>, Failure> {
    let wanted: std::collections::HashSet<u32> = buckets.iter().copied().collect();
    let mut found: Vec<Found> = Vec::new();
    if databases(client)?.contains(&db) {
        let keep =
            |k: &[u8]| wanted.is_empty() || wanted.contains(&bucket_of(k, options.buckets_log2));
        let fold = Fold {
            keep: &keep,
            init: &Vec::new,
            fold: &|found: &mut Vec<Found>, batch, reads| {
                for (key, read) in batch.into_iter().zip(reads) {
                    if let Some(read) = read {
                        found.push((bucket_of(&key, options.buckets_log2), key, read));
                    }
                }
            },
        };
        for part in read_database(client, db, options.ttl, &fold, &mut |_| {})? {
            found.extend(part);
        }
    }
    found.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    found.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
    Ok(found
        .into_iter()
        .map(|(bucket, key, r)| KeyEntry {
            bucket,
            key: to_hex(&key),
            kind: r.kind.into_owned(),
            value: to_hex(&r.value),
            len: r.len,
            expire_ms: r.expire_ms,
        })
        .collect())
}

/// The elements of one key, each with a digest (scores as numbers), to name what differs
/// inside a value: `(kind, elements, truncated)`.
pub fn detail(
    client: &mut Client,
    db: u32,
    key: &[u8],
) -> Result<(String, Vec<Element>, bool), Failure> {
    client.cmd_str(&["SELECT", &db.to_string()])?;
    let kind = text(&client.cmd(&[b"TYPE", key])?).unwrap_or_default();
    let digest = |parts: &[&[u8]]| to_hex(&super::value::framed(parts));
    let el = |name: &[u8], value: String| Element {
        name: to_hex(name),
        value,
    };
    let limit = DETAIL_MAX.to_string();
    let mut elements = match kind.as_str() {
        "string" => {
            let v = client.cmd(&[b"GET", key])?;
            vec![el(b"", digest(&[&flatten(&v).concat()]))]
        }
        "list" => {
            let v = client.cmd(&[
                b"LRANGE",
                key,
                b"0",
                (DETAIL_MAX - 1).to_string().as_bytes(),
            ])?;
            flatten(&v)
                .iter()
                .enumerate()
                .map(|(i, e)| el(i.to_string().as_bytes(), digest(&[e])))
                .collect()
        }
        "hash" => {
            let v = client.cmd(&[b"HGETALL", key])?;
            flatten(&v)
                .chunks(2)
                .map(|p| {
                    el(
                        &p[0],
                        digest(&[p.get(1).map(Vec::as_slice).unwrap_or_default()]),
                    )
                })
                .collect()
        }
        "set" => {
            let v = client.cmd(&[b"SMEMBERS", key])?;
            flatten(&v).iter().map(|m| el(m, String::new())).collect()
        }
        "zset" => {
            let v = client.cmd(&[b"ZRANGE", key, b"0", b"-1", b"WITHSCORES"])?;
            flatten(&v)
                .chunks(2)
                .map(|p| {
                    let bits = score_bits(p.get(1).map(Vec::as_slice).unwrap_or_default());
                    el(&p[0], f64::from_bits(u64::from_le_bytes(bits)).to_string())
                })
                .collect()
        }
        "stream" => stream_detail(client, key, &limit)?,
        _ => Vec::new(),
    };
    let truncated = elements.len() > DETAIL_MAX;
    elements.truncate(DETAIL_MAX);
    if !matches!(kind.as_str(), "list" | "stream") {
        elements.sort_by(|a, b| a.name.cmp(&b.name));
    }
    Ok((kind, elements, truncated))
}

fn stream_detail(client: &mut Client, key: &[u8], limit: &str) -> Result<Vec<Element>, Failure> {
    let entries = client.cmd(&[b"XRANGE", key, b"-", b"+", b"COUNT", limit.as_bytes()])?;
    let mut out: Vec<Element> = items(&entries)
        .into_iter()
        .map(|e| {
            let parts = flatten(e);
            let id = parts.first().cloned().unwrap_or_default();
            let refs: Vec<&[u8]> = parts.iter().skip(1).map(Vec::as_slice).collect();
            Element {
                name: to_hex(&[b"entry ".as_slice(), &id].concat()),
                value: to_hex(&super::value::framed(&refs)),
            }
        })
        .collect();
    let info = client.cmd(&[b"XINFO", b"STREAM", key])?;
    let last = field(&info, "last-generated-id").unwrap_or_default();
    out.push(Element {
        name: to_hex(b"last generated id"),
        value: String::from_utf8_lossy(&last).into_owned(),
    });
    let groups = client.cmd(&[b"XINFO", b"GROUPS", key])?;
    let consumers = consumers(client, key, &groups)?;
    for g in group_summaries(&groups, &consumers) {
        let (name, rest) = match g.iter().position(|&b| b == b' ') {
            Some(i) => (g[..i].to_vec(), g[i + 1..].to_vec()),
            None => (g.clone(), Vec::new()),
        };
        out.push(Element {
            name: to_hex(&[b"group ".as_slice(), &name].concat()),
            value: String::from_utf8_lossy(&rest).into_owned(),
        });
    }
    Ok(out)
}

/// Lowercase hex.
pub fn to_hex(b: &[u8]) -> String {
    const D: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push(D[(x >> 4) as usize] as char);
        s.push(D[(x & 15) as usize] as char);
    }
    s
}

/// Bytes from lowercase or uppercase hex; `None` if it is not hex.
pub fn from_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_and_hex() {
        assert_eq!(bucket_of(b"anything", 0), 0);
        assert!(bucket_of(b"anything", 8) < 256);
        assert_eq!(
            from_hex(&to_hex(b"\x00a b\xff")).as_deref(),
            Some(&b"\x00a b\xff"[..])
        );
        assert_eq!(from_hex("zz"), None);
        let r = KeyRead {
            kind: "string".into(),
            value: [1; 32],
            len: 1,
            expire_ms: Some(10_500),
        };
        let later = KeyRead {
            expire_ms: Some(10_900),
            ..r.clone()
        };
        assert_eq!(key_digest(b"k", &r, 1000), key_digest(b"k", &later, 1000));
        let none = KeyRead {
            expire_ms: None,
            ..r.clone()
        };
        assert_ne!(key_digest(b"k", &r, 1000), key_digest(b"k", &none, 1000));
    }
}
