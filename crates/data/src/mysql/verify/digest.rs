//! Row digests computed by the agent next to each server: rows read in the binary protocol
//! (exact values: the float's bits, the stored bytes), each row hashed with XXH3-128 over a
//! tagged encoding of its values (so NULL, `''` and `'\0'` all differ, and no two column
//! splits of the same bytes collide), and each chunk of a table summed (wrapping 128-bit
//! addition, which no row order changes). Chunks are primary-key ranges, the same on both
//! servers, read by parallel sessions; narrowing a differing chunk lists its rows' hashes by
//! key.

use crate::mysql::client::{self, fail, Failure};
use crate::mysql::protocol::Conn;
use crate::mysql::sql::{ident, qualified};
use mysql::prelude::Queryable;
use mysql::Value;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use twox_hash::XxHash3_128;

/// A table and how it is cut into chunks, the same on both servers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableChunks {
    /// Database.
    pub db: String,
    /// Table.
    pub name: String,
    /// The columns hashed, in order (generated columns left out).
    pub columns: Vec<String>,
    /// The primary key's columns (empty: none; rows are then named by their first values).
    pub key: Vec<String>,
    /// The single integer key column the bounds cut.
    pub split_key: Option<String>,
    /// Inner bounds: chunk `i` holds keys in `[bounds[i-1], bounds[i])`.
    #[serde(with = "crate::mysql::protocol::bounds_text::one")]
    pub bounds: Vec<i128>,
}

impl TableChunks {
    /// Chunks in all.
    pub fn chunks(&self) -> usize {
        self.bounds.len() + 1
    }

    /// `db.name`.
    pub fn label(&self) -> String {
        format!("{}.{}", self.db, self.name)
    }

    /// The `WHERE` clause of chunk `i` (empty for a whole table).
    pub fn filter(&self, i: usize) -> String {
        let Some(k) = &self.split_key else {
            return String::new();
        };
        let k = ident(k);
        let lo = i.checked_sub(1).and_then(|j| self.bounds.get(j));
        match (lo, self.bounds.get(i)) {
            (None, None) => String::new(),
            (None, Some(hi)) => format!(" WHERE {k} < {hi}"),
            (Some(lo), Some(hi)) => format!(" WHERE {k} >= {lo} AND {k} < {hi}"),
            (Some(lo), None) => format!(" WHERE {k} >= {lo}"),
        }
    }

    /// The `SELECT` of chunk `i`: the hashed columns; `by_key` puts the key's columns first
    /// and sorts by them (to name rows).
    pub fn select(&self, i: usize, by_key: bool) -> String {
        let key: &[String] = if by_key { &self.key } else { &[] };
        let cols: Vec<String> = key.iter().chain(&self.columns).map(|c| ident(c)).collect();
        let order = if by_key && !self.key.is_empty() {
            format!(
                " ORDER BY {}",
                self.key
                    .iter()
                    .map(|c| ident(c))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        } else {
            String::new()
        };
        format!(
            "SELECT {} FROM {}{}{order}",
            cols.join(", "),
            qualified(&self.db, &self.name),
            self.filter(i)
        )
    }
}

/// What a digest covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestOptions {
    /// The tables and their chunks.
    pub tables: Vec<TableChunks>,
    /// Parallel sessions.
    pub workers: usize,
}

/// One chunk's figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkDigest {
    /// Index of the table in the request.
    pub table: usize,
    /// Index of the chunk in the table.
    pub chunk: usize,
    /// Rows.
    pub rows: u64,
    /// Wrapping sum of the rows' hashes.
    #[serde(with = "hex128")]
    pub sum: u128,
}

/// One row of a narrowed chunk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowHash {
    /// The key's values as text (without a primary key: the row's first values).
    pub key: Vec<Option<String>>,
    /// The row's hash.
    #[serde(with = "hex128")]
    pub hash: u128,
    /// One signature per hashed column ([`column_sig`]): which columns of a row that differs
    /// differ, and whether a side holds NULL or an empty value there, without its content.
    #[serde(default)]
    pub columns: Vec<u32>,
}

/// What a column's value is, kept in a signature's low two bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueClass {
    /// NULL.
    Null,
    /// An empty string or binary value.
    Empty,
    /// Anything else.
    Other,
}

/// A column value's signature: 30 bits of its hash and its [`ValueClass`].
pub fn column_sig(v: &Value) -> u32 {
    let class = match v {
        Value::NULL => 0,
        Value::Bytes(b) if b.is_empty() => 1,
        _ => 2,
    };
    let mut buf = Vec::with_capacity(32);
    encode(&mut buf, std::slice::from_ref(v));
    (XxHash3_128::oneshot(&buf) as u32 & !3) | class
}

/// The class a signature carries.
pub fn sig_class(sig: u32) -> ValueClass {
    match sig & 3 {
        0 => ValueClass::Null,
        1 => ValueClass::Empty,
        _ => ValueClass::Other,
    }
}

mod hex128 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{v:032x}"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        let s = String::deserialize(d)?;
        u128::from_str_radix(&s, 16).map_err(serde::de::Error::custom)
    }
}

/// The hash of a row's values.
pub fn row_hash(values: &[Value]) -> u128 {
    let mut buf = Vec::with_capacity(256);
    encode(&mut buf, values);
    XxHash3_128::oneshot(&buf)
}

/// The tagged encoding hashed: each value's type class, then its content (bytes with their
/// length), so equal rows encode equally on any server and different ones never do.
pub fn encode(out: &mut Vec<u8>, values: &[Value]) {
    for v in values {
        match v {
            Value::NULL => out.push(0),
            Value::Bytes(b) => {
                out.push(1);
                out.extend_from_slice(&(b.len() as u64).to_le_bytes());
                out.extend_from_slice(b);
            }
            Value::Int(i) => {
                out.push(2);
                out.extend_from_slice(&i.to_le_bytes());
            }
            // An unsigned value that fits is the same number as the signed one.
            Value::UInt(u) => match i64::try_from(*u) {
                Ok(i) => {
                    out.push(2);
                    out.extend_from_slice(&i.to_le_bytes());
                }
                Err(_) => {
                    out.push(3);
                    out.extend_from_slice(&u.to_le_bytes());
                }
            },
            Value::Float(f) => {
                out.push(4);
                out.extend_from_slice(&f64::from(*f).to_bits().to_le_bytes());
            }
            Value::Double(d) => {
                out.push(4);
                out.extend_from_slice(&d.to_bits().to_le_bytes());
            }
            Value::Date(y, mo, d, hh, mi, s, us) => {
                out.push(5);
                out.extend_from_slice(&y.to_le_bytes());
                out.extend_from_slice(&[*mo, *d, *hh, *mi, *s]);
                out.extend_from_slice(&us.to_le_bytes());
            }
            Value::Time(neg, days, hh, mi, s, us) => {
                out.extend_from_slice(&[6, u8::from(*neg)]);
                out.extend_from_slice(&days.to_le_bytes());
                out.extend_from_slice(&[*hh, *mi, *s]);
                out.extend_from_slice(&us.to_le_bytes());
            }
        }
    }
}

/// A value as text for naming a row (bytes shown lossily, long ones cut).
pub fn key_text(v: &Value) -> Option<String> {
    let text = client::text(v.clone())?;
    Some(match text.char_indices().nth(64) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    })
}

/// Opens a session reading one consistent snapshot.
fn session(server: &Conn) -> Result<mysql::Conn, Failure> {
    let mut c = client::connect(server, true)?;
    client::run(
        &mut c,
        server,
        "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
    )?;
    client::run(
        &mut c,
        server,
        "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY",
    )?;
    Ok(c)
}

/// Digests every chunk of every table, `workers` sessions in parallel; `progress` gets the
/// rows read so far.
pub fn digest(
    server: &Conn,
    o: &DigestOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Vec<ChunkDigest>, Failure> {
    let mut work: Vec<(usize, usize)> = o
        .tables
        .iter()
        .enumerate()
        .flat_map(|(t, tc)| (0..tc.chunks()).map(move |c| (t, c)))
        .collect();
    // Whole tables (the biggest work) are started first, then ranges.
    work.sort_by_key(|(t, _)| o.tables[*t].split_key.is_some());
    let queue = Mutex::new(VecDeque::from(work));
    let results = Mutex::new(Vec::new());
    let failed = AtomicBool::new(false);
    let rows = AtomicU64::new(0);
    let n = o.workers.clamp(1, 32);
    let errors: Vec<Failure> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .map(|_| {
                scope.spawn(|| -> Result<(), Failure> {
                    let mut c = session(server)?;
                    loop {
                        if failed.load(Ordering::Relaxed) {
                            return Ok(());
                        }
                        let next = queue.lock().ok().and_then(|mut q| q.pop_front());
                        let Some((t, i)) = next else {
                            return Ok(());
                        };
                        let d = chunk(&mut c, server, &o.tables[t], t, i, &rows, progress)
                            .inspect_err(|_| failed.store(true, Ordering::Relaxed))?;
                        if let Ok(mut r) = results.lock() {
                            r.push(d);
                        }
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Failure::new("mysql-io", "a digest worker panicked")))
                    .err()
            })
            .collect()
    });
    if let Some(e) = errors.into_iter().next() {
        return Err(e);
    }
    let mut r = results.into_inner().unwrap_or_default();
    r.sort_by_key(|d| (d.table, d.chunk));
    Ok(r)
}

fn chunk(
    c: &mut mysql::Conn,
    server: &Conn,
    t: &TableChunks,
    table: usize,
    i: usize,
    rows: &AtomicU64,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<ChunkDigest, Failure> {
    let what = format!("read {}", t.label());
    let mut d = ChunkDigest {
        table,
        chunk: i,
        rows: 0,
        sum: 0,
    };
    let result = c
        .exec_iter(t.select(i, false), ())
        .map_err(|e| fail(server, &what, e))?;
    for row in result {
        let values = row.map_err(|e| fail(server, &what, e))?.unwrap();
        d.sum = d.sum.wrapping_add(row_hash(&values));
        d.rows += 1;
        if d.rows.is_multiple_of(65536) {
            progress(rows.fetch_add(65536, Ordering::Relaxed) + 65536);
        }
    }
    rows.fetch_add(d.rows % 65536, Ordering::Relaxed);
    Ok(d)
}

/// The rows of chunk `i` of `t` with their hashes, in key order (at most `limit`).
pub fn row_hashes(
    server: &Conn,
    t: &TableChunks,
    i: usize,
    limit: usize,
) -> Result<Vec<RowHash>, Failure> {
    let mut c = client::connect(server, true)?;
    let what = format!("read {}", t.label());
    let skip = t.key.len();
    let mut out = Vec::new();
    let result = c
        .exec_iter(t.select(i, true), ())
        .map_err(|e| fail(server, &what, e))?;
    for row in result {
        let values = row.map_err(|e| fail(server, &what, e))?.unwrap();
        let hashed = &values[skip.min(values.len())..];
        let hash = row_hash(hashed);
        let columns = hashed.iter().map(column_sig).collect();
        let key = if skip > 0 {
            values[..skip].iter().map(key_text).collect()
        } else {
            values.iter().take(3).map(key_text).collect()
        };
        out.push(RowHash { key, hash, columns });
        if out.len() >= limit {
            break;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_tell_null_empty_and_splits_apart() {
        let null = row_hash(&[Value::NULL]);
        let empty = row_hash(&[Value::Bytes(vec![])]);
        let zero = row_hash(&[Value::Bytes(vec![0])]);
        assert!(null != empty && empty != zero && null != zero);
        assert_ne!(
            row_hash(&[Value::Bytes(b"ab".to_vec()), Value::Bytes(b"c".to_vec())]),
            row_hash(&[Value::Bytes(b"a".to_vec()), Value::Bytes(b"bc".to_vec())])
        );
        assert_eq!(row_hash(&[Value::Int(5)]), row_hash(&[Value::UInt(5)]));
        assert_eq!(
            row_hash(&[Value::Float(0.5)]),
            row_hash(&[Value::Double(0.5)])
        );
    }

    #[test]
    fn chunks_cover_the_key_range() {
        let t = TableChunks {
            db: "shop".into(),
            name: "orders".into(),
            columns: vec!["id".into(), "total".into()],
            key: vec!["id".into()],
            split_key: Some("id".into()),
            bounds: vec![100, 200],
        };
        assert_eq!(t.chunks(), 3);
        assert_eq!(
            t.select(0, false),
            "SELECT `id`, `total` FROM `shop`.`orders` WHERE `id` < 100"
        );
        assert_eq!(t.filter(1), " WHERE `id` >= 100 AND `id` < 200");
        assert_eq!(
            t.select(2, true),
            "SELECT `id`, `id`, `total` FROM `shop`.`orders` WHERE `id` >= 200 ORDER BY `id`"
        );
    }
}
