//! Values too large to be read whole, read page by page, and a stream's consumers: the
//! less travelled paths of [`super::read`], on either kind of connection ([`Commands`]).

use super::client::{server_error, Batch, Failure};
use super::reply::{bytes, items};
use super::value::{group_names, short, stream_digest, Collection};
use super::wire::Commands;
use redis::Value;

/// Page size.
const PAGE: u64 = 1000;

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
pub(crate) fn paged_digest(
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
