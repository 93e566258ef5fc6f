//! Reading keys next to the data (in the agent) and digesting their *logical* values, so
//! that equal data digests alike on every server version: `DUMP` payloads differ between
//! versions and encodings (a listpack and a hash table holding the same fields), so each
//! type is read through its own commands instead.
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
//!
//! Keys are read a batch at a time in two pipelined round trips: types and expiry, then
//! each value whole when it is small (one command a key: a scan of a small hash, set or
//! sorted set returns it at once); larger ones are paged.

use super::client::{server_error, text, Batch, Client, Failure};
use super::protocol::TtlMode;
use redis::Value;

/// Collections up to this many elements are fetched in one command.
const WHOLE: u64 = 1000;
/// Page size for larger ones.
const PAGE: u64 = 1000;

/// One key as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRead {
    /// The key's type.
    pub kind: String,
    /// The digest of its logical value.
    pub value: [u8; 32],
    /// Elements (strings: bytes).
    pub len: u64,
    /// Absolute expiry (unix ms).
    pub expire_ms: Option<i64>,
}

/// A value's digest and its size (elements; bytes for strings).
type Digested = ([u8; 32], u64);

/// A 128-bit order-free sum of element digests.
#[derive(Default, Clone, Copy)]
pub struct Sum(pub u128);

impl Sum {
    /// Adds one element's digest.
    pub fn add(&mut self, parts: &[&[u8]]) {
        self.0 = self.0.wrapping_add(short(parts));
    }
}

/// The first 16 bytes of the BLAKE3 digest of length-prefixed `parts`.
pub fn short(parts: &[&[u8]]) -> u128 {
    let d = framed(parts);
    u128::from_le_bytes(d[..16].try_into().unwrap_or([0; 16]))
}

/// BLAKE3 of length-prefixed `parts` (no two part lists hash alike by concatenation).
pub fn framed(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    for p in parts {
        h.update(&(p.len() as u64).to_le_bytes());
        h.update(p);
    }
    *h.finalize().as_bytes()
}

/// A sorted-set score as its exact bits (-0 and 0 alike), from its text.
pub fn score_bits(text: &[u8]) -> [u8; 8] {
    let s = String::from_utf8_lossy(text);
    let f: f64 = s.trim().parse().unwrap_or(f64::NAN);
    let f = if f == 0.0 { 0.0 } else { f };
    f.to_bits().to_le_bytes()
}

fn bytes(v: &Value) -> Option<&[u8]> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.as_bytes()),
        _ => None,
    }
}

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        other => text(other).and_then(|t| t.parse().ok()),
    }
}

/// The items of an array reply (RESP2 arrays, RESP3 maps and sets flattened).
pub fn items(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(a) | Value::Set(a) => a.iter().collect(),
        Value::Map(m) => m.iter().flat_map(|(k, v)| [k, v]).collect(),
        _ => Vec::new(),
    }
}

/// Reads `keys` (of the selected database); `None` for a key that vanished meanwhile.
pub fn read_keys(
    client: &mut Client,
    keys: &[Vec<u8>],
    ttl: TtlMode,
) -> Result<Vec<Option<KeyRead>>, Failure> {
    let now = now_ms();
    // PEXPIRETIME is -2 for a missing key, -1 for one without expiry: one command does.
    let expiry_command: &[u8] = match ttl {
        TtlMode::Absolute => b"PEXPIRETIME",
        TtlMode::Relative => b"PTTL",
    };
    let mut first = Batch::default();
    for k in keys {
        first.push(&[b"TYPE", k]);
        first.push(&[expiry_command, k]);
    }
    let answers = client.pipeline(&first)?;
    let mut kinds = Vec::with_capacity(keys.len());
    let mut expiry = Vec::with_capacity(keys.len());
    for chunk in answers.chunks(2) {
        if let Some(f) = chunk
            .iter()
            .find_map(|v| server_error(&client.conn, "TYPE", v))
        {
            return Err(f);
        }
        let kind = text(&chunk[0]).unwrap_or_default();
        let n = int(&chunk[1]).unwrap_or(-2);
        let at = match ttl {
            TtlMode::Relative if n >= 0 => now + n,
            _ => n,
        };
        kinds.push((n != -2 && kind != "none").then_some(kind));
        expiry.push((at >= 0).then_some(at));
    }
    let values = read_values(client, keys, &kinds)?;
    Ok(values
        .into_iter()
        .zip(kinds)
        .zip(expiry)
        .map(|((v, kind), expire_ms)| {
            let (value, len) = v?;
            Some(KeyRead {
                kind: kind?,
                value,
                len,
                expire_ms,
            })
        })
        .collect())
}

/// Adds the commands reading a value whole if it is small, and returns how many: one per
/// type (a stream: its first entries, its info and its groups). A scan of a small hash, set
/// or sorted set returns everything at once (cursor 0); a longer one is read again page by
/// page.
fn first_read(batch: &mut Batch, kind: &str, key: &[u8]) -> usize {
    const W: &[u8] = b"1000";
    const LAST: &[u8] = b"999";
    const MORE: &[u8] = b"1001";
    debug_assert_eq!(W, WHOLE.to_string().as_bytes());
    match kind {
        "string" => batch.push(&[b"GET", key]),
        "list" => batch.push(&[b"LRANGE", key, b"0", LAST]),
        "hash" => batch.push(&[b"HSCAN", key, b"0", b"COUNT", W]),
        "set" => batch.push(&[b"SSCAN", key, b"0", b"COUNT", W]),
        "zset" => batch.push(&[b"ZSCAN", key, b"0", b"COUNT", W]),
        "stream" => {
            batch.push(&[b"XRANGE", key, b"-", b"+", b"COUNT", MORE]);
            batch.push(&[b"XINFO", b"STREAM", key]);
            batch.push(&[b"XINFO", b"GROUPS", key]);
            return 3;
        }
        _ => batch.push(&[b"DUMP", key]),
    }
    1
}

/// Digests and sizes of each key's value.
fn read_values(
    client: &mut Client,
    keys: &[Vec<u8>],
    kinds: &[Option<String>],
) -> Result<Vec<Option<Digested>>, Failure> {
    let mut second = Batch::default();
    let mut counts = Vec::with_capacity(keys.len());
    for (k, kind) in keys.iter().zip(kinds) {
        counts.push(
            kind.as_deref()
                .map_or(0, |kind| first_read(&mut second, kind, k)),
        );
    }
    let answers = client.pipeline(&second)?;
    let mut out: Vec<Option<Digested>> = vec![None; keys.len()];
    let mut paged = Vec::new();
    let mut at = 0;
    for (i, n) in counts.into_iter().enumerate() {
        let slice = &answers[at..at + n];
        at += n;
        let Some(kind) = kinds[i].as_deref() else {
            continue;
        };
        // Changed or gone meanwhile (a wrong type, nil): not counted this pass.
        if slice
            .iter()
            .any(|v| matches!(v, Value::ServerError(_) | Value::Nil))
        {
            continue;
        }
        match kind {
            "string" => {
                let b = bytes(&slice[0]).unwrap_or_default();
                out[i] = Some((framed(&[b"string", b]), b.len() as u64));
            }
            "list" => {
                let got = items(&slice[0]);
                if got.len() as u64 >= WHOLE {
                    paged.push(i);
                } else {
                    out[i] = Some((collection_digest(kind, &got), got.len() as u64));
                }
            }
            "hash" | "set" | "zset" => {
                let parts = items(&slice[0]);
                let done = parts.first().and_then(|c| bytes(c)) == Some(b"0".as_slice());
                match parts.get(1) {
                    Some(list) if done => {
                        let got = items(list);
                        let per = if kind == "set" { 1 } else { 2 };
                        out[i] = Some((collection_digest(kind, &got), (got.len() / per) as u64));
                    }
                    _ => paged.push(i),
                }
            }
            "stream" => {
                let entries = items(&slice[0]);
                if entries.len() as u64 > WHOLE {
                    paged.push(i);
                } else {
                    let digest = stream_digest(client, &keys[i], &entries, &slice[1], &slice[2])?;
                    out[i] = Some((digest, entries.len() as u64));
                }
            }
            _ => {
                let b = bytes(&slice[0]).unwrap_or_default();
                out[i] = Some((framed(&[b"other", kind.as_bytes(), b]), b.len() as u64));
            }
        }
    }
    for i in paged {
        let kind = kinds[i].as_deref().unwrap_or_default();
        out[i] = paged_digest(client, kind, &keys[i])?;
    }
    Ok(out)
}

/// Running digest state of one collection, fed page by page.
struct Collection {
    kind: String,
    ordered: blake3::Hasher,
    sum: Sum,
    count: u64,
}

impl Collection {
    fn new(kind: &str) -> Self {
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
    fn feed(&mut self, items: &[&Value]) {
        fn b(v: &Value) -> &[u8] {
            bytes(v).unwrap_or_default()
        }
        fn second<'a>(pair: &[&'a Value]) -> &'a [u8] {
            pair.get(1).map(|v| b(v)).unwrap_or_default()
        }
        match self.kind.as_str() {
            "list" => {
                for v in items {
                    let e = b(v);
                    self.ordered.update(&(e.len() as u64).to_le_bytes());
                    self.ordered.update(e);
                    self.count += 1;
                }
            }
            "hash" => {
                for pair in items.chunks(2) {
                    self.sum.add(&[b(pair[0]), second(pair)]);
                    self.count += 1;
                }
            }
            "zset" => {
                for pair in items.chunks(2) {
                    self.sum.add(&[b(pair[0]), &score_bits(second(pair))]);
                    self.count += 1;
                }
            }
            _ => {
                for v in items {
                    self.sum.add(&[b(v)]);
                    self.count += 1;
                }
            }
        }
    }

    fn finish(self) -> [u8; 32] {
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

fn collection_digest(kind: &str, items: &[&Value]) -> [u8; 32] {
    let mut c = Collection::new(kind);
    c.feed(items);
    c.finish()
}

/// A large collection read page by page; `None` when it vanished meanwhile. Hash and set
/// scans may return an element twice while the server resizes its table: those are
/// counted once.
fn paged_digest(
    client: &mut Client,
    kind: &str,
    key: &[u8],
) -> Result<Option<([u8; 32], u64)>, Failure> {
    if kind == "stream" {
        let info = client.cmd(&[b"XINFO", b"STREAM", key]);
        let groups = client.cmd(&[b"XINFO", b"GROUPS", key]);
        let (Ok(info), Ok(groups)) = (info, groups) else {
            return Ok(None);
        };
        let mut entries = Vec::new();
        let mut start = b"-".to_vec();
        loop {
            let page = client.cmd(&[
                b"XRANGE",
                key,
                &start,
                b"+",
                b"COUNT",
                PAGE.to_string().as_bytes(),
            ])?;
            let page: Vec<Value> = items(&page).into_iter().cloned().collect();
            let last = page.last().and_then(|e| {
                items(e)
                    .first()
                    .and_then(|id| bytes(id))
                    .map(<[u8]>::to_vec)
            });
            let n = page.len() as u64;
            entries.extend(page);
            match last {
                Some(id) if n == PAGE => start = [b"(".as_slice(), &id].concat(),
                _ => break,
            }
        }
        let refs: Vec<&Value> = entries.iter().collect();
        let len = refs.len() as u64;
        return stream_digest(client, key, &refs, &info, &groups).map(|d| Some((d, len)));
    }
    let mut c = Collection::new(kind);
    if kind == "list" || kind == "zset" {
        let mut from = 0u64;
        loop {
            let (a, b) = (from.to_string(), (from + PAGE - 1).to_string());
            let page = if kind == "list" {
                client.cmd(&[b"LRANGE", key, a.as_bytes(), b.as_bytes()])?
            } else {
                client.cmd(&[b"ZRANGE", key, a.as_bytes(), b.as_bytes(), b"WITHSCORES"])?
            };
            let got = items(&page);
            let per = if kind == "zset" { 2 } else { 1 };
            c.feed(&got);
            if (got.len() / per) < PAGE as usize {
                break;
            }
            from += PAGE;
        }
        let len = c.count;
        return Ok(Some((c.finish(), len)));
    }
    let scan: &[u8] = if kind == "hash" { b"HSCAN" } else { b"SSCAN" };
    let mut seen = std::collections::HashSet::new();
    let mut cursor = b"0".to_vec();
    loop {
        let page = client.cmd(&[scan, key, &cursor, b"COUNT", PAGE.to_string().as_bytes()])?;
        let parts = items(&page);
        let (Some(next), Some(list)) = (parts.first().and_then(|v| bytes(v)), parts.get(1)) else {
            return Ok(None);
        };
        let list = items(list);
        let per = if kind == "hash" { 2 } else { 1 };
        for group in list.chunks(per) {
            let name = bytes(group[0]).unwrap_or_default();
            if seen.insert(short(&[name])) {
                c.feed(group);
            }
        }
        if next == b"0" {
            break;
        }
        cursor = next.to_vec();
    }
    let len = c.count;
    Ok(Some((c.finish(), len)))
}

/// A stream: its entries in order, its last generated id, its groups and their consumers.
fn stream_digest(
    client: &mut Client,
    key: &[u8],
    entries: &[&Value],
    info: &Value,
    groups: &Value,
) -> Result<[u8; 32], Failure> {
    let mut h = blake3::Hasher::new();
    h.update(b"stream");
    for e in entries {
        for part in flatten(e) {
            h.update(&(part.len() as u64).to_le_bytes());
            h.update(&part);
        }
    }
    let last = field(info, "last-generated-id").unwrap_or_default();
    h.update(&(last.len() as u64).to_le_bytes());
    h.update(&last);
    for g in group_summaries(client, key, groups)? {
        h.update(&(g.len() as u64).to_le_bytes());
        h.update(&g);
    }
    Ok(*h.finalize().as_bytes())
}

/// Each group as `name last-delivered-id pending [consumer pending]...`, sorted by name.
pub fn group_summaries(
    client: &mut Client,
    key: &[u8],
    groups: &Value,
) -> Result<Vec<Vec<u8>>, Failure> {
    let mut out = Vec::new();
    for g in items(groups) {
        let name = field(g, "name").unwrap_or_default();
        let mut s = name.clone();
        for f in ["last-delivered-id", "pending"] {
            s.push(b' ');
            s.extend(field(g, f).unwrap_or_default());
        }
        let consumers = client.cmd(&[b"XINFO", b"CONSUMERS", key, &name])?;
        let mut cs: Vec<Vec<u8>> = items(&consumers)
            .into_iter()
            .map(|c| {
                let mut t = field(c, "name").unwrap_or_default();
                t.push(b' ');
                t.extend(field(c, "pending").unwrap_or_default());
                t
            })
            .collect();
        cs.sort();
        for c in cs {
            s.push(b' ');
            s.extend(c);
        }
        out.push(s);
    }
    out.sort();
    Ok(out)
}

/// A field of a reply shaped as alternating names and values (RESP2) or a map (RESP3).
pub fn field(v: &Value, name: &str) -> Option<Vec<u8>> {
    let list = items(v);
    list.chunks(2).find_map(|pair| {
        (bytes(pair[0]) == Some(name.as_bytes())).then(|| match pair.get(1) {
            Some(Value::Int(i)) => i.to_string().into_bytes(),
            Some(other) => bytes(other).map(<[u8]>::to_vec).unwrap_or_default(),
            None => Vec::new(),
        })
    })
}

/// Every string of a nested reply, depth first.
pub fn flatten(v: &Value) -> Vec<Vec<u8>> {
    match v {
        Value::Array(_) | Value::Map(_) | Value::Set(_) => {
            items(v).into_iter().flat_map(flatten).collect()
        }
        Value::Int(i) => vec![i.to_string().into_bytes()],
        other => vec![bytes(other).map(<[u8]>::to_vec).unwrap_or_default()],
    }
}

/// Milliseconds since the epoch on this host.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
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
    }
}
