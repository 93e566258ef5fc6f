//! The target's side of a copy, run by the agent on the target's host: the tables created
//! without their secondary keys, each worker's stream loaded through `LOAD DATA LOCAL` fed
//! from memory (no file anywhere), and each table's keys built as soon as its last chunk is
//! in, by a pool of builders, while other tables still load. A value the target would store
//! differently (a warning) or a row it would skip stops the copy.

use super::wire::{self, Incoming, LoadOptions, LoadTable, PrepareOptions, Record};
use crate::agent::host::Out;
use crate::agent::protocol::Reply;
use crate::mysql::client::{self, fail, Failure};
use crate::mysql::protocol::{Conn, MysqlReply, TableLoaded};
use crate::mysql::sql::{ident, literal, qualified};
use mysql::prelude::Queryable;
use mysql::LocalInfileHandler;
use std::collections::HashMap;
use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Settings of every loading session: values stored as sent (no strict-mode refusals, whose
/// conversions show as warnings instead), no foreign key checks, not in the target's binary
/// log.
///
/// `unique_checks` stays on, on purpose. Turning it off gains nothing here: secondary keys
/// are built after the rows (the few a table keeps while loading are then checked as the
/// server always would). And with both checks off, MariaDB (10.6 on) loads the first
/// statement into an empty table in its bulk mode, which holds the table's exclusive lock
/// until that statement ends (the other workers' ranges of the table wait, and fail after
/// `innodb_lock_wait_timeout` on a slow target) and buffers and sorts rows that arrive in key
/// order already: 6-9% more CPU in the target's server for the bench's copy, the part of a
/// copy that bounds it.
const LOAD_SETUP: &[&str] = &[
    "SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION'",
    "SET SESSION foreign_key_checks = 0",
];

/// Creates the databases (when missing) and tables of a copy; returns the databases created.
pub fn prepare(server: &Conn, o: &PrepareOptions) -> Result<Vec<String>, Failure> {
    let mut c = client::connect(server, false)?;
    client::run(&mut c, server, "SET SESSION foreign_key_checks = 0")?;
    // Like the rows, the schema stays out of the target's binary log.
    let _ = c.query_drop("SET SESSION sql_log_bin = 0");
    let mut created = Vec::new();
    for (db, create) in &o.databases {
        let exists = client::value(
            &mut c,
            server,
            &format!(
                "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = {}",
                literal(db)
            ),
        )?;
        if exists.as_deref() == Some("0") {
            client::run(&mut c, server, create)?;
            created.push(db.clone());
        }
    }
    for t in &o.tables {
        client::run(&mut c, server, &format!("USE {}", ident(&t.db)))?;
        client::run(
            &mut c,
            server,
            &format!("DROP TABLE IF EXISTS {}", qualified(&t.db, &t.name)),
        )?;
        client::run(&mut c, server, &t.create)?;
    }
    Ok(created)
}

struct TableState {
    loaded: u32,
    rows: u64,
    bytes: u64,
    started: Option<Instant>,
}

struct Shared<'a> {
    server: &'a Conn,
    tables: HashMap<u32, &'a LoadTable>,
    state: Mutex<HashMap<u32, TableState>>,
    failed: AtomicBool,
    rows: AtomicU64,
    bytes: AtomicU64,
    sockets: Vec<TcpStream>,
    out: &'a Out,
    first: Mutex<Option<Failure>>,
}

impl Shared<'_> {
    /// Keeps the first failure (the cause: the others follow from the streams it stops) and
    /// stops every stream at once, so the other loaders and the dumper end fast.
    fn fail(&self, f: Failure) {
        if let Ok(mut first) = self.first.lock() {
            first.get_or_insert(f);
        }
        self.failed.store(true, Ordering::Relaxed);
        for s in &self.sockets {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }
}

fn reply(r: MysqlReply) -> Reply {
    Reply::Mysql { reply: r }
}

/// Runs a load: answers `Listening`, then `TableLoaded` per table; returns rows and bytes.
pub fn run(server: &Conn, o: &LoadOptions, out: &Out) -> Result<(u64, u64), Failure> {
    let listener = wire::listen(&o.listen, o.port).map_err(|e| {
        Failure::new(
            "mysql-listen",
            format!(
                "cannot listen on `{}` port {} on the target ({e}); set the step's `address` to an address of the target host that the source host can reach",
                o.listen, o.port
            ),
        )
    })?;
    let port = listener
        .local_addr()
        .map_err(|e| Failure::new("mysql-listen", e.to_string()))?
        .port();
    let _ = out.reply(&reply(MysqlReply::Listening { port }));
    let n = o.keys.len().max(1);
    let mut conns = (0..n * 2)
        .map(|_| loader_session(server))
        .collect::<Result<Vec<_>, _>>()?;
    let builders = conns.split_off(n);
    let accepted = wire::accept(&listener, &o.keys, Duration::from_secs(o.accept_timeout.max(1)))
        .map_err(|e| {
            Failure::new(
                "mysql-stream",
                format!("the source's agent did not connect: {e}; can the source host reach the target at `{}` (the step's `address`)?", o.listen),
            )
        })?;
    let (streams, sockets): (Vec<Incoming>, Vec<TcpStream>) = accepted.into_iter().unzip();
    let shared = Shared {
        server,
        tables: o.tables.iter().map(|t| (t.index, t)).collect(),
        state: Mutex::new(HashMap::new()),
        failed: AtomicBool::new(false),
        rows: AtomicU64::new(0),
        bytes: AtomicU64::new(0),
        sockets,
        out,
        first: Mutex::new(None),
    };
    let (done_tx, done_rx) = mpsc::channel::<u32>();
    let done_rx = Mutex::new(done_rx);
    let finished = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let ticker = scope.spawn(|| progress(&shared, &finished));
        let build: Vec<_> = builders
            .into_iter()
            .map(|c| {
                let (shared, rx) = (&shared, &done_rx);
                scope.spawn(move || {
                    if let Err(f) = builder(c, rx, shared) {
                        shared.fail(f);
                    }
                })
            })
            .collect();
        let load: Vec<_> = conns
            .into_iter()
            .zip(streams)
            .map(|(c, s)| {
                let (shared, tx) = (&shared, done_tx.clone());
                scope.spawn(move || {
                    if let Err(f) = loader(c, s, shared, tx) {
                        shared.fail(f);
                    }
                })
            })
            .collect();
        drop(done_tx);
        for h in load.into_iter().chain(build) {
            if h.join().is_err() {
                shared.fail(Failure::new("mysql-io", "a loader panicked"));
            }
        }
        finished.store(true, Ordering::Relaxed);
        let _ = ticker.join();
    });
    if let Some(e) = shared.first.lock().ok().and_then(|mut f| f.take()) {
        return Err(e);
    }
    Ok((
        shared.rows.load(Ordering::Relaxed),
        shared.bytes.load(Ordering::Relaxed),
    ))
}

fn loader_session(server: &Conn) -> Result<mysql::Conn, Failure> {
    let mut c = client::connect(server, true)?;
    for sql in LOAD_SETUP {
        client::run(&mut c, server, sql)?;
    }
    // The copied rows stay out of the target's binary log (replicas of the target, or the
    // source replicating back after the switch, must not get them again); without the
    // privilege they are logged, which costs time but is correct.
    let _ = c.query_drop("SET SESSION sql_log_bin = 0");
    Ok(c)
}

fn stream_failure(e: std::io::Error) -> Failure {
    Failure::new(
        "mysql-stream",
        format!("receiving rows from the source's agent failed: {e}"),
    )
}

/// The `LOAD DATA` statement of a table.
pub fn load_sql(t: &LoadTable) -> String {
    let columns = t
        .columns
        .iter()
        .map(|c| ident(c))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "LOAD DATA LOCAL INFILE 'cutover-stream' INTO TABLE {} CHARACTER SET binary FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' ({columns})",
        qualified(&t.db, &t.name)
    )
}

/// What the `LOAD DATA` handler saw at the end of a chunk.
enum ChunkEnd {
    Rows(u64, u64),
    Failed(String),
}

fn loader(
    mut c: mysql::Conn,
    stream: Incoming,
    shared: &Shared<'_>,
    done: mpsc::Sender<u32>,
) -> Result<(), Failure> {
    let server = shared.server;
    let stream = Arc::new(Mutex::new(stream));
    let end: Arc<Mutex<Option<ChunkEnd>>> = Arc::new(Mutex::new(None));
    let (s, e) = (stream.clone(), end.clone());
    c.set_local_infile_handler(Some(LocalInfileHandler::new(move |_, w| {
        let mut r = s.lock().map_err(|_| std::io::Error::other("poisoned"))?;
        let mut bytes = 0u64;
        loop {
            match Record::read(&mut *r)? {
                Record::Data(b) => {
                    bytes += b.len() as u64;
                    w.write_all(&b)?;
                }
                Record::End { rows } => {
                    *e.lock().map_err(|_| std::io::Error::other("poisoned"))? =
                        Some(ChunkEnd::Rows(rows, bytes));
                    return Ok(());
                }
                Record::Failed(m) => {
                    *e.lock().map_err(|_| std::io::Error::other("poisoned"))? =
                        Some(ChunkEnd::Failed(m.clone()));
                    return Err(std::io::Error::other(m));
                }
                other => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("unexpected {other:?} inside a chunk"),
                    ))
                }
            }
        }
    })));
    loop {
        if shared.failed.load(Ordering::Relaxed) {
            return Ok(());
        }
        let record = {
            let mut r = stream
                .lock()
                .map_err(|_| Failure::new("mysql-io", "poisoned"))?;
            Record::read(&mut *r).map_err(stream_failure)?
        };
        let (index, chunks) = match record {
            Record::Chunk { table, chunks } => (table, chunks),
            Record::Done => return Ok(()),
            Record::Failed(m) => return Err(Failure::new("mysql-source", m)),
            other => {
                return Err(Failure::new(
                    "mysql-stream",
                    format!("the copy stream is out of shape: {other:?} outside a chunk"),
                ))
            }
        };
        let t = *shared.tables.get(&index).ok_or_else(|| {
            Failure::new(
                "mysql-stream",
                format!("the copy stream names table {index}, which is not being copied"),
            )
        })?;
        if let Ok(mut st) = shared.state.lock() {
            st.entry(index)
                .or_insert(TableState {
                    loaded: 0,
                    rows: 0,
                    bytes: 0,
                    started: None,
                })
                .started
                .get_or_insert_with(Instant::now);
        }
        let label = format!("{}.{}", t.db, t.name);
        let loaded = c.query_drop(load_sql(t));
        let seen = end.lock().ok().and_then(|mut e| e.take());
        let (rows, bytes) = match (loaded, seen) {
            (_, Some(ChunkEnd::Failed(m))) => return Err(Failure::new("mysql-source", m)),
            (Err(e), _) => return Err(fail(server, &format!("load rows into {label}"), e)),
            (Ok(()), Some(ChunkEnd::Rows(rows, bytes))) => (rows, bytes),
            (Ok(()), None) => {
                return Err(Failure::new(
                    "mysql-stream",
                    format!("a chunk of {label} ended without its row count"),
                ))
            }
        };
        check_loaded(&mut c, server, &label, rows)?;
        shared.rows.fetch_add(rows, Ordering::Relaxed);
        shared.bytes.fetch_add(bytes, Ordering::Relaxed);
        let complete = shared.state.lock().ok().is_some_and(|mut st| {
            st.get_mut(&index).is_some_and(|s| {
                s.loaded += 1;
                s.rows += rows;
                s.bytes += bytes;
                s.loaded == chunks
            })
        });
        if complete {
            let _ = done.send(index);
        }
    }
}

/// Every row sent was stored, and stored as sent.
fn check_loaded(c: &mut mysql::Conn, server: &Conn, label: &str, sent: u64) -> Result<(), Failure> {
    let (stored, warnings) = (c.affected_rows(), c.warnings());
    if warnings == 0 && stored == sent {
        return Ok(());
    }
    let shown = client::rows(c, server, "SHOW WARNINGS LIMIT 5").unwrap_or_default();
    let lines: Vec<String> = shown
        .iter()
        .map(|r| {
            r.iter()
                .map(|v| v.clone().unwrap_or_default())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    Err(Failure::new(
        "mysql-load",
        format!(
            "the target stored {stored} of {sent} rows of a chunk of {label} with {warnings} warning(s){}{}",
            if lines.is_empty() { "" } else { ": " },
            lines.join("; ")
        ),
    ))
}

fn builder(
    mut c: mysql::Conn,
    rx: &Mutex<mpsc::Receiver<u32>>,
    shared: &Shared<'_>,
) -> Result<(), Failure> {
    loop {
        let next = match rx.lock() {
            Ok(r) => r.recv(),
            Err(_) => return Err(Failure::new("mysql-io", "poisoned")),
        };
        let Ok(index) = next else {
            return Ok(());
        };
        if shared.failed.load(Ordering::Relaxed) {
            return Ok(());
        }
        let Some(t) = shared.tables.get(&index) else {
            continue;
        };
        let keys_started = Instant::now();
        if !t.keys.is_empty() {
            let sql = format!(
                "ALTER TABLE {} {}",
                qualified(&t.db, &t.name),
                t.keys.join(", ")
            );
            client::run(&mut c, shared.server, &sql)?;
        }
        let (rows, bytes, seconds) = shared
            .state
            .lock()
            .ok()
            .and_then(|st| {
                st.get(&index).map(|s| {
                    (
                        s.rows,
                        s.bytes,
                        s.started.map_or(0.0, |i| i.elapsed().as_secs_f64()),
                    )
                })
            })
            .unwrap_or_default();
        let _ = shared
            .out
            .reply(&reply(MysqlReply::TableLoaded(TableLoaded {
                db: t.db.clone(),
                name: t.name.clone(),
                rows,
                bytes,
                seconds,
                keys_seconds: keys_started.elapsed().as_secs_f64(),
            })));
    }
}

fn progress(shared: &Shared<'_>, done: &AtomicBool) {
    let mut last = Instant::now();
    while !done.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
        if last.elapsed() >= Duration::from_secs(1) {
            last = Instant::now();
            let _ = shared.out.reply(&reply(MysqlReply::Progress {
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
    fn loading_sessions_leave_unique_checks_on_so_no_range_waits_for_a_bulk_load() {
        assert_eq!(
            LOAD_SETUP,
            [
                "SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION'",
                "SET SESSION foreign_key_checks = 0",
            ]
        );
    }

    #[test]
    fn load_statement_names_the_columns_and_the_format() {
        let t = LoadTable {
            index: 0,
            db: "shop".into(),
            name: "order`s".into(),
            columns: vec!["id".into(), "note".into()],
            keys: vec![],
        };
        assert_eq!(
            load_sql(&t),
            "LOAD DATA LOCAL INFILE 'cutover-stream' INTO TABLE `shop`.`order``s` CHARACTER SET binary FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' (`id`, `note`)"
        );
    }
}
