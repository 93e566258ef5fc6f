//! Reading keys next to the data (in the agent): a batch at a time in two pipelined round
//! trips (types and expiry, then each value whole when it is small: one command a key, a
//! scan of a small hash, set or sorted set returning it at once); larger values are paged.
//! The values are digested by [`super::value`], straight from the connection's read
//! buffer ([`super::wire`]): no reply becomes an owned value but a stream's, or a page of a
//! large collection.

use super::client::{server_error, Batch, Failure};
use super::protocol::{Conn, TtlMode};
use super::reply::{bytes, items};
use super::resp::Reply;
use super::value::{framed, group_names, short, stream_digest, Collection};
use super::wire::{Commands, Wire};
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

/// Reads `keys` (of the selected database); `None` for a key that vanished meanwhile.
pub fn read_keys(
    wire: &mut Wire,
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
    wire.send(&first)?;
    let mut kinds = Vec::with_capacity(keys.len());
    let mut expiry = Vec::with_capacity(keys.len());
    // Every reply is taken before an error reply fails the batch: the connection stays
    // in step with its commands.
    let mut failure = None;
    for _ in keys {
        let (kind, e) = (wire.reply()?.to_kind(), wire.reply()?.to_int_or_error());
        let n = match (kind, e) {
            (Err(v), _) | (_, Err(v)) => {
                failure.get_or_insert_with(|| error_of(&wire.conn, "TYPE", &v));
                continue;
            }
            (Ok(kind), Ok(n)) => {
                kinds.push((n != -2 && kind != "none").then_some(kind));
                n
            }
        };
        let at = match ttl {
            TtlMode::Relative if n >= 0 => now + n,
            _ => n,
        };
        expiry.push((at >= 0).then_some(at));
    }
    if let Some(f) = failure {
        return Err(f);
    }
    let values = read_values(wire, keys, &kinds)?;
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

impl Reply<'_> {
    /// A `TYPE` reply's name, or the error reply as a value.
    fn to_kind(self) -> Result<String, Value> {
        match self {
            Reply::Error(_) => Err(self.to_value()),
            other => Ok(match other.bytes().unwrap_or_default() {
                b"string" => "string".into(),
                b"hash" => "hash".into(),
                b"list" => "list".into(),
                b"set" => "set".into(),
                b"zset" => "zset".into(),
                b"stream" => "stream".into(),
                b"none" => "none".into(),
                b => String::from_utf8_lossy(b).into_owned(),
            }),
        }
    }

    /// An integer reply (-2 when it is not one), or the error reply as a value.
    fn to_int_or_error(self) -> Result<i64, Value> {
        match self {
            Reply::Error(_) => Err(self.to_value()),
            other => Ok(other.int().unwrap_or(-2)),
        }
    }
}

/// An error reply as the failure of `what`.
fn error_of(conn: &Conn, what: &str, v: &Value) -> Failure {
    server_error(conn, what, v).unwrap_or_else(|| Failure::protocol(conn, what))
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

/// A small stream's three replies (`XRANGE`, `XINFO STREAM`, `XINFO GROUPS`), digested
/// once its groups' consumers are read.
type SmallStream = (usize, [Value; 3]);

/// Digests and sizes of each key's value.
fn read_values(
    wire: &mut Wire,
    keys: &[Vec<u8>],
    kinds: &[Option<String>],
) -> Result<Vec<Option<Digested>>, Failure> {
    let mut second = Batch::default();
    for (k, kind) in keys.iter().zip(kinds) {
        if let Some(kind) = kind {
            first_read(&mut second, kind, k);
        }
    }
    wire.send(&second)?;
    let mut out: Vec<Option<Digested>> = vec![None; keys.len()];
    let mut paged = Vec::new();
    let mut streams: Vec<SmallStream> = Vec::new();
    for (i, kind) in kinds.iter().enumerate() {
        let Some(kind) = kind.as_deref() else {
            continue;
        };
        if kind == "stream" {
            let replies = [
                wire.reply()?.to_value(),
                wire.reply()?.to_value(),
                wire.reply()?.to_value(),
            ];
            // Changed or gone meanwhile (a wrong type, nil): not counted this pass.
            if replies
                .iter()
                .any(|v| matches!(v, Value::ServerError(_) | Value::Nil))
            {
                continue;
            }
            if items(&replies[0]).len() as u64 > WHOLE {
                paged.push(i);
            } else {
                streams.push((i, replies));
            }
            continue;
        }
        let reply = wire.reply()?;
        if reply.is_error_or_nil() {
            continue;
        }
        match digest_whole(kind, reply) {
            Some(d) => out[i] = Some(d),
            None => paged.push(i),
        }
    }
    read_streams(wire, keys, &streams, &mut out)?;
    for i in paged {
        let kind = kinds[i].as_deref().unwrap_or_default();
        out[i] = paged_digest(wire, kind, &keys[i])?;
    }
    Ok(out)
}

/// The digest of a value read whole by [`first_read`] (not a stream), walked in place;
/// `None` when it is too large to have been read whole (it is read page by page).
fn digest_whole(kind: &str, reply: Reply<'_>) -> Option<Digested> {
    let collection = |list: super::resp::Items<'_>, per: usize| {
        let n = list.len() / per;
        let mut c = Collection::new(kind);
        c.feed_bytes(list.map(|e| e.bytes().unwrap_or_default()));
        (c.finish(), n as u64)
    };
    match kind {
        "string" => {
            let b = reply.bytes().unwrap_or_default();
            Some((framed(&[b"string", b]), b.len() as u64))
        }
        "list" => {
            let got = reply.items();
            ((got.len() as u64) < WHOLE).then(|| collection(got, 1))
        }
        "hash" | "set" | "zset" => {
            let mut parts = reply.items();
            let done = parts.next().and_then(|c| c.bytes()) == Some(b"0".as_slice());
            let list = parts.next()?;
            done.then(|| collection(list.items(), if kind == "set" { 1 } else { 2 }))
        }
        _ => {
            let b = reply.bytes().unwrap_or_default();
            Some((framed(&[b"other", kind.as_bytes(), b]), b.len() as u64))
        }
    }
}

/// Digests the small streams of a batch: every group's consumers of every stream read in
/// one more round trip (not one per group: a job queue's streams mostly have groups).
fn read_streams(
    client: &mut impl Commands,
    keys: &[Vec<u8>],
    streams: &[SmallStream],
    out: &mut [Option<Digested>],
) -> Result<(), Failure> {
    let mut third = Batch::default();
    let mut counts = Vec::with_capacity(streams.len());
    for (i, replies) in streams {
        let names = group_names(&replies[2]);
        for name in &names {
            third.push(&[b"XINFO", b"CONSUMERS", &keys[*i], name]);
        }
        counts.push(names.len());
    }
    let consumers = client.pipeline(&third)?;
    let mut at = 0;
    for ((i, [entries, info, groups]), n) in streams.iter().zip(counts) {
        let of_stream = &consumers[at..at + n];
        at += n;
        // A group destroyed meanwhile: the stream changed, not counted this pass.
        if of_stream.iter().any(|v| matches!(v, Value::ServerError(_))) {
            continue;
        }
        let entries = items(entries);
        let digest = stream_digest(&entries, info, groups, of_stream);
        out[*i] = Some((digest, entries.len() as u64));
    }
    Ok(())
}

/// Each group's `XINFO CONSUMERS` reply (in the order of `groups`), in one round trip.
pub fn consumers(
    client: &mut impl Commands,
    key: &[u8],
    groups: &Value,
) -> Result<Vec<Value>, Failure> {
    let mut batch = Batch::default();
    for name in group_names(groups) {
        batch.push(&[b"XINFO", b"CONSUMERS", key, &name]);
    }
    let replies = client.pipeline(&batch)?;
    match replies
        .iter()
        .find_map(|v| server_error(client.conn(), "XINFO CONSUMERS", v))
    {
        Some(f) => Err(f),
        None => Ok(replies),
    }
}

/// A large collection read page by page; `None` when it vanished meanwhile. Hash and set
/// scans may return an element twice while the server resizes its table: those are
/// counted once.
fn paged_digest(
    client: &mut impl Commands,
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
        let consumers = consumers(client, key, &groups)?;
        return Ok(Some((
            stream_digest(&refs, &info, &groups, &consumers),
            len,
        )));
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

/// Milliseconds since the epoch on this host.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
