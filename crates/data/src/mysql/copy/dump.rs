//! The source's side of a copy, run by the agent on the source's host: one consistent
//! snapshot shared by every worker (the mydumper technique: commits held for a moment while
//! each worker opens its `START TRANSACTION WITH CONSISTENT SNAPSHOT` and the binary log
//! position is read, then released), tables split into primary-key ranges, and each range
//! streamed as `LOAD DATA` text to the target's agent, one connection per worker.

use super::encode;
use super::wire::{self, DumpOptions, DumpTable, Outgoing, Record, SnapshotLock};
use crate::agent::host::Out;
use crate::agent::protocol::Reply;
use crate::mysql::client::{self, fail, Failure};
use crate::mysql::flavor::Flavor;
use crate::mysql::protocol::{Conn, MysqlReply, Position};
use crate::mysql::sql::{ident, qualified};
use mysql::prelude::Queryable;
use std::collections::VecDeque;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// `LOAD DATA` text is sent in pieces of about this size.
const PIECE: usize = 1 << 20;
/// At most this many chunks per table.
const MAX_CHUNKS: u64 = 4096;

/// One range of one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Work {
    /// The table's index.
    pub table: u32,
    /// Chunks of that table in all.
    pub chunks: u32,
    /// The `SELECT` reading it.
    pub sql: String,
    /// Estimated bytes of this range.
    pub cost: u64,
    /// Estimated bytes of its whole table (the schedule's order).
    pub table_bytes: u64,
}

struct Shared {
    queue: Mutex<VecDeque<Work>>,
    failed: AtomicBool,
    rows: AtomicU64,
    bytes: AtomicU64,
}

/// Runs a dump; answers `Snapshot`, progress, and returns rows and bytes sent.
pub fn run(server: &Conn, o: &DumpOptions, out: &Out) -> Result<(u64, u64), Failure> {
    let n = o.keys.len().max(1);
    // Every connection is open before the lock, so the lock lasts only the snapshots.
    let mut workers = (0..n)
        .map(|_| client::connect(server, true))
        .collect::<Result<Vec<_>, _>>()?;
    let mut control = client::connect(server, false)?;
    let flavor =
        Flavor::of(&client::value(&mut control, server, "SELECT VERSION()")?.unwrap_or_default());
    let (position, lock_ms) = snapshot(&mut control, &mut workers, server, flavor, o)?;
    drop(control);
    let _ = out.reply(&reply(MysqlReply::Snapshot { position, lock_ms }));
    let plan = plan(&mut workers[0], server, &o.tables, o.chunk_bytes)?;
    let streams = (0..n)
        .map(|i| {
            wire::connect(&o.connect, i, &o.keys[i]).map_err(|e| {
                Failure::new(
                    "mysql-stream",
                    format!("cannot connect to the target's agent at {}: {e}", o.connect),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let shared = Shared {
        queue: Mutex::new(plan.into()),
        failed: AtomicBool::new(false),
        rows: AtomicU64::new(0),
        bytes: AtomicU64::new(0),
    };
    let done = AtomicBool::new(false);
    let result = std::thread::scope(|scope| {
        let ticker = scope.spawn(|| progress(&shared, &done, out));
        let handles: Vec<_> = workers
            .iter_mut()
            .zip(streams)
            .map(|(c, s)| {
                let shared = &shared;
                scope.spawn(move || worker(c, s, shared, server))
            })
            .collect();
        let mut first = None;
        for h in handles {
            let r = h
                .join()
                .unwrap_or_else(|_| Err(Failure::new("mysql-io", "a dump worker panicked")));
            if let (Err(e), None) = (r, &first) {
                first = Some(e);
            }
        }
        done.store(true, Ordering::Relaxed);
        let _ = ticker.join();
        first
    });
    match result {
        Some(e) => Err(e),
        None => Ok((
            shared.rows.load(Ordering::Relaxed),
            shared.bytes.load(Ordering::Relaxed),
        )),
    }
}

fn reply(r: MysqlReply) -> Reply {
    Reply::Mysql { reply: r }
}

/// Holds commits, opens every worker's snapshot, reads the position, releases.
fn snapshot(
    control: &mut mysql::Conn,
    workers: &mut [mysql::Conn],
    server: &Conn,
    flavor: Flavor,
    o: &DumpOptions,
) -> Result<(Position, u64), Failure> {
    let run = |c: &mut mysql::Conn, sql: &str| client::run(c, server, sql);
    run(
        control,
        &format!("SET SESSION lock_wait_timeout = {}", o.lock_timeout.max(1)),
    )?;
    let (lock, unlock) = match (o.lock, flavor) {
        (SnapshotLock::BackupStage, Flavor::MariaDb) => (
            vec!["BACKUP STAGE START", "BACKUP STAGE BLOCK_COMMIT"],
            "BACKUP STAGE END",
        ),
        _ => (vec!["FLUSH TABLES WITH READ LOCK"], "UNLOCK TABLES"),
    };
    let started = Instant::now();
    for sql in &lock {
        run(control, sql).map_err(|f| lock_failure(f, o.lock_timeout))?;
    }
    let opened = (|| {
        for w in workers.iter_mut() {
            run(w, "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")?;
            run(w, "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")?;
        }
        position(control, server, flavor)
    })();
    let released = run(control, unlock);
    let lock_ms = started.elapsed().as_millis() as u64;
    let position = opened?;
    released?;
    Ok((position, lock_ms))
}

fn lock_failure(f: Failure, timeout: u64) -> Failure {
    if f.server_code() == Some(1205) {
        return Failure::new(
            "mysql-lock",
            format!(
                "the source's commits could not be held for the snapshot within {timeout}s (a long statement or transaction holds them): {}; run the copy again when it has ended, or raise `lock_timeout`",
                f.message
            ),
        );
    }
    f
}

/// The source's binary log position now.
pub fn position(c: &mut mysql::Conn, server: &Conn, flavor: Flavor) -> Result<Position, Failure> {
    let mut p = Position::default();
    let status = match client::rows(c, server, "SHOW MASTER STATUS") {
        Ok(r) => r,
        Err(f) if f.server_code() == Some(1064) => {
            client::rows(c, server, "SHOW BINARY LOG STATUS")?
        }
        Err(f) => return Err(f),
    };
    if let Some(r) = status.first() {
        p.file = r.first().cloned().flatten().unwrap_or_default();
        p.offset = r
            .get(1)
            .cloned()
            .flatten()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if flavor == Flavor::MySql {
            p.gtid = r
                .get(4)
                .cloned()
                .flatten()
                .unwrap_or_default()
                .replace('\n', "");
        }
    }
    if flavor == Flavor::MariaDb {
        p.gtid = client::value(c, server, "SELECT @@GLOBAL.gtid_binlog_pos")?.unwrap_or_default();
    }
    Ok(p)
}

/// The ranges to read, in [`schedule`] order, read inside the snapshot.
pub fn plan(
    c: &mut mysql::Conn,
    server: &Conn,
    tables: &[DumpTable],
    chunk_bytes: u64,
) -> Result<Vec<Work>, Failure> {
    let mut work = Vec::new();
    for t in tables {
        let table = qualified(&t.db, &t.name);
        let columns = t
            .columns
            .iter()
            .map(|c| ident(c))
            .collect::<Vec<_>>()
            .join(", ");
        let base = format!("SELECT {columns} FROM {table}");
        let wanted = (t.data_bytes / chunk_bytes.max(1)).clamp(1, MAX_CHUNKS);
        let bounds = match (&t.key, wanted) {
            (Some(k), n) if n > 1 => {
                let k = ident(k);
                let r = client::rows(
                    c,
                    server,
                    &format!("SELECT MIN({k}), MAX({k}) FROM {table}"),
                )?;
                let get = |i: usize| {
                    r.first()
                        .and_then(|row| row.get(i).cloned().flatten())
                        .and_then(|v| v.parse::<i128>().ok())
                };
                match (get(0), get(1)) {
                    (Some(lo), Some(hi)) => split(lo, hi, n),
                    _ => Vec::new(),
                }
            }
            _ => Vec::new(),
        };
        let chunks = bounds.len() as u32 + 1;
        let cost = t.data_bytes / u64::from(chunks);
        let key = t.key.as_deref().map(ident).unwrap_or_default();
        for i in 0..=bounds.len() {
            let filter = match (i.checked_sub(1).map(|j| bounds[j]), bounds.get(i)) {
                (None, None) => String::new(),
                (None, Some(hi)) => format!(" WHERE {key} < {hi}"),
                (Some(lo), Some(hi)) => format!(" WHERE {key} >= {lo} AND {key} < {hi}"),
                (Some(lo), None) => format!(" WHERE {key} >= {lo}"),
            };
            work.push(Work {
                table: t.index,
                chunks,
                sql: format!("{base}{filter}"),
                cost,
                table_bytes: t.data_bytes,
            });
        }
    }
    schedule(&mut work);
    Ok(work)
}

/// Orders the ranges table by table, the biggest table first, each table's ranges in key
/// order. A table's keys are built once its last range is in, by one thread: taking the
/// tables one after the other lets each table's key build run while the next tables load,
/// and leaves only the smallest table's build after the last row. (Biggest ranges first
/// across all tables finished every table near the end, so the biggest table's build, the
/// longest, ran alone after the rows.)
pub fn schedule(work: &mut [Work]) {
    work.sort_by_key(|w| (std::cmp::Reverse(w.table_bytes), w.table));
}

/// `n - 1` inner bounds splitting `lo..=hi` into `n` equal ranges (fewer when it is narrow).
pub fn split(lo: i128, hi: i128, n: u64) -> Vec<i128> {
    let span = hi - lo + 1;
    let n = i128::from(n).min(span).max(1);
    let step = (span + n - 1) / n;
    (1..n).map(|i| lo + i * step).filter(|b| *b <= hi).collect()
}

fn stream_failure(e: std::io::Error) -> Failure {
    Failure::new(
        "mysql-stream",
        format!("sending rows to the target's agent failed: {e} (did the target fail? its error says why)"),
    )
}

fn worker(
    c: &mut mysql::Conn,
    mut s: Outgoing,
    shared: &Shared,
    server: &Conn,
) -> Result<(), Failure> {
    let result = send_all(c, &mut s, shared, server);
    if let Err(f) = &result {
        shared.failed.store(true, Ordering::Relaxed);
        let _ = Record::Failed(f.message.clone()).write(&mut s);
        let _ = s.flush();
    }
    result
}

fn send_all(
    c: &mut mysql::Conn,
    s: &mut Outgoing,
    shared: &Shared,
    server: &Conn,
) -> Result<(), Failure> {
    let mut buf = Vec::with_capacity(PIECE + (64 << 10));
    loop {
        if shared.failed.load(Ordering::Relaxed) {
            return Err(Failure::new("mysql-stream", "another worker failed"));
        }
        let next = shared
            .queue
            .lock()
            .map_err(|_| Failure::new("mysql-io", "the work queue is poisoned"))?
            .pop_front();
        let Some(w) = next else {
            Record::Done.write(s).map_err(stream_failure)?;
            return s.flush().map_err(stream_failure);
        };
        Record::Chunk {
            table: w.table,
            chunks: w.chunks,
        }
        .write(s)
        .map_err(stream_failure)?;
        let mut rows = 0u64;
        let result = c
            .exec_iter(&w.sql, ())
            .map_err(|e| fail(server, "read rows", e))?;
        for row in result {
            let row = row.map_err(|e| fail(server, "read rows", e))?;
            encode::row(&mut buf, &row.unwrap());
            rows += 1;
            if buf.len() >= PIECE {
                send(s, &mut buf, shared)?;
                if shared.failed.load(Ordering::Relaxed) {
                    return Err(Failure::new("mysql-stream", "another worker failed"));
                }
            }
        }
        if !buf.is_empty() {
            send(s, &mut buf, shared)?;
        }
        Record::End { rows }.write(s).map_err(stream_failure)?;
        shared.rows.fetch_add(rows, Ordering::Relaxed);
    }
}

fn send(s: &mut Outgoing, buf: &mut Vec<u8>, shared: &Shared) -> Result<(), Failure> {
    let record = Record::Data(std::mem::take(buf));
    record.write(s).map_err(stream_failure)?;
    if let Record::Data(b) = record {
        shared.bytes.fetch_add(b.len() as u64, Ordering::Relaxed);
        *buf = b;
        buf.clear();
    }
    Ok(())
}

fn progress(shared: &Shared, done: &AtomicBool, out: &Out) {
    let mut last = Instant::now();
    while !done.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
        if last.elapsed() >= Duration::from_secs(1) {
            last = Instant::now();
            let _ = out.reply(&reply(MysqlReply::Progress {
                rows: shared.rows.load(Ordering::Relaxed),
                bytes: shared.bytes.load(Ordering::Relaxed),
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_scheduled_biggest_first_one_after_the_other() {
        let range = |table: u32, n: u32, table_bytes: u64| Work {
            table,
            chunks: 2,
            sql: format!("t{table} range {n}"),
            cost: table_bytes / 2,
            table_bytes,
        };
        let mut work = vec![
            range(0, 0, 100),
            range(0, 1, 100),
            range(1, 0, 500),
            range(1, 1, 500),
            range(2, 0, 300),
            range(2, 1, 300),
        ];
        schedule(&mut work);
        let order: Vec<&str> = work.iter().map(|w| w.sql.as_str()).collect();
        assert_eq!(
            order,
            [
                "t1 range 0",
                "t1 range 1",
                "t2 range 0",
                "t2 range 1",
                "t0 range 0",
                "t0 range 1"
            ]
        );
    }

    #[test]
    fn key_ranges_cover_everything_once() {
        assert_eq!(split(1, 100, 4), vec![26, 51, 76]);
        assert_eq!(split(5, 6, 10), vec![6]);
        assert_eq!(split(7, 7, 3), Vec::<i128>::new());
        let top = i128::from(u64::MAX);
        let b = split(0, top, 2);
        assert_eq!(b.len(), 1);
        assert!(b[0] > 0 && b[0] < top);
        assert_eq!(split(-10, 9, 2), vec![0]);
    }
}
