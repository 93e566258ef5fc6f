//! Digests of *logical* values, so that equal data digests alike on every server version:
//! `DUMP` payloads differ between versions and encodings (a listpack and a hash table
//! holding the same fields), so each type is read through its own commands and digested
//! here:
//!
//! - string: its bytes;
//! - list: its elements in order;
//! - hash, set: order-free (a sum of per-element digests: servers return them in any order);
//! - sorted set: members with their scores as numbers (6.2 prints `0.10000000000000001`
//!   where 7.0 prints `0.1`);
//! - stream: every entry (id, fields, values) in order, the last generated id, and each
//!   consumer group's name, last delivered id and pending count, with its consumers' names
//!   and pending counts (idle times and delivery counts are not compared: they change by
//!   themselves);
//! - any other type (modules): its `DUMP` payload, equal only on the same version.

use super::reply::{bytes, field, flatten, items, member};
use redis::Value;
use twox_hash::XxHash3_128;

/// A 128-bit order-free sum of element digests.
#[derive(Default, Clone, Copy)]
pub struct Sum(pub u128);

impl Sum {
    /// Adds one element's digest.
    pub fn add(&mut self, parts: &[&[u8]]) {
        self.0 = self.0.wrapping_add(short(parts));
    }
}

/// XXH3-128 of length-prefixed `parts`: the digest summed per element and per key. A
/// non-cryptographic hash, as in the MariaDB proof: the proof detects copies that went
/// wrong, and an order-free sum is no defence against crafted collisions whatever it sums
/// (anyone who can craft them can also write the data). XXH3 costs a fraction of BLAKE3 on
/// the short inputs most elements are, and the agents' hashing is CPU the proof shares with
/// the servers it reads.
pub fn short(parts: &[&[u8]]) -> u128 {
    hash_framed(
        parts,
        XxHash3_128::oneshot,
        |h: &mut XxHash3_128, b| h.write(b),
        |h| h.finish_128(),
    )
}

/// BLAKE3 of length-prefixed `parts` (no two part lists hash alike by concatenation).
pub fn framed(parts: &[&[u8]]) -> [u8; 32] {
    hash_framed(
        parts,
        |b| *blake3::hash(b).as_bytes(),
        |h: &mut blake3::Hasher, b| {
            h.update(b);
        },
        |h| *h.finalize().as_bytes(),
    )
}

/// Inputs framed up to this many bytes are framed on the stack and hashed in one call,
/// which skips the incremental hashers' set-up (the same bytes, so the same digest).
const SMALL: usize = 256;

/// Length-prefixed `parts` hashed by one hash function: in one call on a stack copy when
/// they are short, else fed to its incremental hasher piece by piece (a value may be
/// hundreds of MiB: it is never copied).
fn hash_framed<H: Default, R>(
    parts: &[&[u8]],
    oneshot: impl FnOnce(&[u8]) -> R,
    write: impl Fn(&mut H, &[u8]),
    finish: impl FnOnce(H) -> R,
) -> R {
    let total: usize = parts.iter().map(|p| 8 + p.len()).sum();
    if total <= SMALL {
        let mut buf = [0u8; SMALL];
        let mut at = 0;
        for p in parts {
            buf[at..at + 8].copy_from_slice(&(p.len() as u64).to_le_bytes());
            buf[at + 8..at + 8 + p.len()].copy_from_slice(p);
            at += 8 + p.len();
        }
        return oneshot(&buf[..at]);
    }
    let mut h = H::default();
    for p in parts {
        write(&mut h, &(p.len() as u64).to_le_bytes());
        write(&mut h, p);
    }
    finish(h)
}

/// A sorted-set score as its exact bits (-0 and 0 alike), from its text.
pub fn score_bits(text: &[u8]) -> [u8; 8] {
    let s = String::from_utf8_lossy(text);
    let f: f64 = s.trim().parse().unwrap_or(f64::NAN);
    let f = if f == 0.0 { 0.0 } else { f };
    f.to_bits().to_le_bytes()
}

/// Running digest state of one collection, fed page by page.
pub(crate) struct Collection {
    kind: String,
    ordered: blake3::Hasher,
    sum: Sum,
    pub(crate) count: u64,
}

impl Collection {
    pub(crate) fn new(kind: &str) -> Self {
        let mut ordered = blake3::Hasher::new();
        ordered.update(kind.as_bytes());
        Collection {
            kind: kind.into(),
            ordered,
            sum: Sum::default(),
            count: 0,
        }
    }

    /// Feeds a reply's items: list elements, hash field/value pairs, set members, sorted
    /// set member/score pairs.
    pub(crate) fn feed(&mut self, items: &[&Value]) {
        self.feed_bytes(items.iter().map(|v| bytes(v).unwrap_or_default()));
    }

    /// Feeds items as their bytes (anything but a string as empty bytes), in reply order:
    /// read in place from the agent's buffer, or from values.
    pub(crate) fn feed_bytes<'a>(&mut self, mut items: impl Iterator<Item = &'a [u8]>) {
        match self.kind.as_str() {
            "list" => {
                for e in items {
                    self.ordered.update(&(e.len() as u64).to_le_bytes());
                    self.ordered.update(e);
                    self.count += 1;
                }
            }
            "hash" => {
                while let Some(name) = items.next() {
                    self.sum.add(&[name, items.next().unwrap_or_default()]);
                    self.count += 1;
                }
            }
            "zset" => {
                while let Some(member) = items.next() {
                    let score = score_bits(items.next().unwrap_or_default());
                    self.sum.add(&[member, &score]);
                    self.count += 1;
                }
            }
            _ => {
                for e in items {
                    self.sum.add(&[e]);
                    self.count += 1;
                }
            }
        }
    }

    pub(crate) fn finish(self) -> [u8; 32] {
        if self.kind == "list" {
            let mut h = self.ordered;
            h.update(&self.count.to_le_bytes());
            return *h.finalize().as_bytes();
        }
        framed(&[
            self.kind.as_bytes(),
            &self.count.to_le_bytes(),
            &self.sum.0.to_le_bytes(),
        ])
    }
}

#[cfg(test)]
pub(crate) fn collection_digest(kind: &str, items: &[&Value]) -> [u8; 32] {
    let mut c = Collection::new(kind);
    c.feed(items);
    c.finish()
}

/// A stream: its entries in order, its last generated id, its groups and their consumers
/// (`consumers`: one `XINFO CONSUMERS` reply per group, in the order of `groups`).
pub(crate) fn stream_digest(
    entries: &[&Value],
    info: &Value,
    groups: &Value,
    consumers: &[Value],
) -> [u8; 32] {
    let last = field(info, "last-generated-id").unwrap_or_default();
    digest_stream(entries, &last, group_summaries(groups, consumers))
}

/// A stream from one `XINFO STREAM key FULL` reply: its digest, equal to
/// [`stream_digest`]'s over the four commands it replaces (FULL names a group's and a
/// consumer's pending count `pel-count`), and its entries; `None` when it holds more than
/// `whole` entries (read page by page instead).
pub(crate) fn full_stream_digest(full: &Value, whole: u64) -> Option<([u8; 32], u64)> {
    let entries = member(full, "entries").map(items).unwrap_or_default();
    if entries.len() as u64 > whole {
        return None;
    }
    let last = field(full, "last-generated-id").unwrap_or_default();
    let groups = member(full, "groups").map(items).unwrap_or_default();
    let mut summaries: Vec<Vec<u8>> = groups
        .into_iter()
        .map(|g| {
            let consumers = member(g, "consumers").map(items).unwrap_or_default();
            summary(g, &consumers, "pel-count")
        })
        .collect();
    summaries.sort();
    Some((
        digest_stream(&entries, &last, summaries),
        entries.len() as u64,
    ))
}

/// The digest of a stream's entries, last generated id and sorted group summaries.
fn digest_stream(entries: &[&Value], last: &[u8], summaries: Vec<Vec<u8>>) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(b"stream");
    for e in entries {
        for part in flatten(e) {
            h.update(&(part.len() as u64).to_le_bytes());
            h.update(&part);
        }
    }
    h.update(&(last.len() as u64).to_le_bytes());
    h.update(last);
    for g in summaries {
        h.update(&(g.len() as u64).to_le_bytes());
        h.update(&g);
    }
    *h.finalize().as_bytes()
}

/// A group as `name last-delivered-id pending [consumer pending]...` (consumers sorted),
/// the group's and each consumer's pending count read from their field `pending`.
fn summary(group: &Value, consumers: &[&Value], pending: &str) -> Vec<u8> {
    let mut s = field(group, "name").unwrap_or_default();
    for f in ["last-delivered-id", pending] {
        s.push(b' ');
        s.extend(field(group, f).unwrap_or_default());
    }
    let mut cs: Vec<Vec<u8>> = consumers
        .iter()
        .map(|c| {
            let mut t = field(c, "name").unwrap_or_default();
            t.push(b' ');
            t.extend(field(c, pending).unwrap_or_default());
            t
        })
        .collect();
    cs.sort();
    for c in cs {
        s.push(b' ');
        s.extend(c);
    }
    s
}

/// The names of the groups of an `XINFO GROUPS` reply, in its order.
pub fn group_names(groups: &Value) -> Vec<Vec<u8>> {
    items(groups)
        .into_iter()
        .map(|g| field(g, "name").unwrap_or_default())
        .collect()
}

/// Each group as `name last-delivered-id pending [consumer pending]...`, sorted, from
/// `XINFO GROUPS` and each group's `XINFO CONSUMERS` reply (in the same order).
pub fn group_summaries(groups: &Value, consumers: &[Value]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = items(groups)
        .into_iter()
        .enumerate()
        .map(|(i, g)| {
            let of_group = consumers.get(i).map(items).unwrap_or_default();
            summary(g, &of_group, "pending")
        })
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_compare_as_numbers_and_sums_ignore_order() {
        assert_eq!(score_bits(b"0.1"), score_bits(b"0.10000000000000001"));
        assert_eq!(score_bits(b"-0"), score_bits(b"0"));
        assert_eq!(score_bits(b"inf"), f64::INFINITY.to_bits().to_le_bytes());
        assert_ne!(score_bits(b"1.5"), score_bits(b"2.5"));
        let a = [
            Value::BulkString(b"x".to_vec()),
            Value::BulkString(b"y".to_vec()),
        ];
        let b = [
            Value::BulkString(b"y".to_vec()),
            Value::BulkString(b"x".to_vec()),
        ];
        let (ra, rb): (Vec<&Value>, Vec<&Value>) = (a.iter().collect(), b.iter().collect());
        assert_eq!(collection_digest("set", &ra), collection_digest("set", &rb));
        assert_ne!(
            collection_digest("list", &ra),
            collection_digest("list", &rb)
        );
        assert_ne!(
            collection_digest("set", &ra),
            collection_digest("list", &ra)
        );
        assert_ne!(framed(&[b"ab", b"c"]), framed(&[b"a", b"bc"]));
        // Short and long inputs frame alike whichever way they are hashed.
        for len in [0, 1, 230, 240, 247, 248, 249, 300] {
            let long = vec![7u8; len];
            let mut h = blake3::Hasher::new();
            for p in [&b"ab"[..], &long] {
                h.update(&(p.len() as u64).to_le_bytes());
                h.update(p);
            }
            assert_eq!(framed(&[b"ab", &long]), *h.finalize().as_bytes(), "{len}");
            let mut x = XxHash3_128::new();
            for p in [&b"ab"[..], &long] {
                x.write(&(p.len() as u64).to_le_bytes());
                x.write(p);
            }
            assert_eq!(short(&[b"ab", &long]), x.finish_128(), "{len}");
        }
        assert_ne!(short(&[b"ab", b"c"]), short(&[b"a", b"bc"]));
    }
}
