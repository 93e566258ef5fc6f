//! A client writing to a MariaDB server during sync and switch tests, logging every
//! acknowledged write so a test can prove none is missing on the new server afterwards.
//!
//! Each connection C inserts rows `(C, N)` into `DB.writes` for N = 1, 2, 3... one autocommit
//! insert at a time, and moves to N + 1 only once the server acknowledged it: the acknowledged
//! writes of a connection are exactly 1..=acked. A refused write (the server read-only, a lost
//! connection) is counted and tried again. [`MysqlWriter::repoint`] moves every connection to
//! another server, as a client told of the switch would.

use mysql::prelude::Queryable;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What a writer did.
#[derive(Debug, Clone, Default)]
pub struct MysqlWriterReport {
    /// Per connection: the last acknowledged N (writes 1..=N were acknowledged).
    pub acked: Vec<u64>,
    /// Writes the server refused or that failed (each retry counted).
    pub refused: u64,
    /// The first few errors, for messages.
    pub errors: Vec<String>,
    /// How long it wrote.
    pub elapsed: Duration,
    /// Writes counted as acknowledged because the server said the row was already there
    /// (committed, its acknowledgement lost with the connection).
    pub duplicates: u64,
    /// The longest any write waited, from its first attempt to its acknowledgement (its
    /// refusals, reconnections and retries included), as the client's clock saw it.
    pub longest_blocked: Duration,
    /// The same, over the writes acknowledged after a [`MysqlWriter::repoint`]: the write
    /// that waited out a switch, from its first refusal on the old server to its
    /// acknowledgement on the new one.
    pub longest_blocked_moved: Duration,
}

impl MysqlWriterReport {
    /// Acknowledged writes in all.
    pub fn total(&self) -> u64 {
        self.acked.iter().sum()
    }

    /// Acknowledged writes per second.
    pub fn rate(&self) -> f64 {
        self.total() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The acknowledged `(connection, n)` pairs missing from `present` (rows read back from
    /// a server as `(conn, n)`).
    pub fn lost(&self, present: &[(u64, u64)]) -> Vec<(u64, u64)> {
        let set: std::collections::HashSet<(u64, u64)> = present.iter().copied().collect();
        let mut lost = Vec::new();
        for (c, &acked) in self.acked.iter().enumerate() {
            for n in 1..=acked {
                if !set.contains(&(c as u64, n)) {
                    lost.push((c as u64, n));
                }
            }
        }
        lost
    }
}

struct Shared {
    stop: AtomicBool,
    target: Mutex<(u64, SocketAddr)>,
    moved: Vec<AtomicU64>,
    refused: AtomicU64,
    duplicates: AtomicU64,
    errors: Mutex<Vec<String>>,
}

/// A running writer; [`MysqlWriter::stop`] ends it and returns its report.
pub struct MysqlWriter {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<Connection>>,
    started: Instant,
}

/// The table the writer fills (create it on the source before the copy).
pub const WRITES_TABLE: &str = "CREATE TABLE IF NOT EXISTS writes (conn INT NOT NULL, n BIGINT NOT NULL, at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6), PRIMARY KEY (conn, n))";

impl MysqlWriter {
    /// Starts `connections` connections inserting into `db.writes` at `address` as `user`.
    pub fn start(
        address: SocketAddr,
        user: &str,
        password: &str,
        db: &str,
        connections: usize,
    ) -> Self {
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            target: Mutex::new((0, address)),
            moved: (0..connections).map(|_| AtomicU64::new(0)).collect(),
            refused: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            errors: Mutex::new(Vec::new()),
        });
        let threads = (0..connections)
            .map(|c| {
                let shared = shared.clone();
                let (user, password, db) = (user.to_string(), password.to_string(), db.to_string());
                std::thread::spawn(move || write_loop(&shared, c, &user, &password, &db))
            })
            .collect();
        MysqlWriter {
            shared,
            threads,
            started: Instant::now(),
        }
    }

    /// Moves every connection to `address`; returns once each has (at most 10 s).
    pub fn repoint(&self, address: SocketAddr) {
        let generation = {
            let Ok(mut t) = self.shared.target.lock() else {
                return;
            };
            t.0 += 1;
            t.1 = address;
            t.0
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline
            && self
                .shared
                .moved
                .iter()
                .any(|m| m.load(Ordering::Relaxed) < generation)
        {
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    /// Stops writing and reports.
    pub fn stop(mut self) -> MysqlWriterReport {
        self.shared.stop.store(true, Ordering::Relaxed);
        let connections: Vec<Connection> = self
            .threads
            .drain(..)
            .map(|t| t.join().unwrap_or_default())
            .collect();
        MysqlWriterReport {
            acked: connections.iter().map(|c| c.acked).collect(),
            duplicates: self.shared.duplicates.load(Ordering::Relaxed),
            longest_blocked: connections
                .iter()
                .map(|c| c.longest_blocked)
                .max()
                .unwrap_or_default(),
            longest_blocked_moved: connections
                .iter()
                .map(|c| c.longest_blocked_moved)
                .max()
                .unwrap_or_default(),
            refused: self.shared.refused.load(Ordering::Relaxed),
            errors: self
                .shared
                .errors
                .lock()
                .map(|e| e.clone())
                .unwrap_or_default(),
            elapsed: self.started.elapsed(),
        }
    }
}

fn target(shared: &Shared) -> (u64, SocketAddr) {
    shared
        .target
        .lock()
        .map(|t| *t)
        .unwrap_or((0, SocketAddr::from(([127, 0, 0, 1], 0))))
}

fn connect(
    address: SocketAddr,
    user: &str,
    password: &str,
    db: &str,
) -> Result<mysql::Conn, mysql::Error> {
    let opts = mysql::OptsBuilder::new()
        .ip_or_hostname(Some(address.ip().to_string()))
        .tcp_port(address.port())
        .user(Some(user))
        .pass(Some(password))
        .db_name(Some(db))
        .tcp_connect_timeout(Some(Duration::from_secs(2)))
        .read_timeout(Some(Duration::from_secs(30)))
        .write_timeout(Some(Duration::from_secs(30)));
    mysql::Conn::new(opts)
}

fn note(shared: &Shared, e: &mysql::Error) {
    shared.refused.fetch_add(1, Ordering::Relaxed);
    if let Ok(mut errors) = shared.errors.lock() {
        if errors.len() < 10 {
            errors.push(e.to_string());
        }
    }
}

/// What one connection did.
#[derive(Debug, Default)]
struct Connection {
    /// The last acknowledged N.
    acked: u64,
    /// Its longest wait for one write, and the longest after a repoint.
    longest_blocked: Duration,
    longest_blocked_moved: Duration,
}

impl Connection {
    /// Write N + 1 is acknowledged, first tried at `since`, in generation `generation`.
    fn ack(&mut self, since: Instant, generation: u64) {
        self.acked += 1;
        let waited = since.elapsed();
        self.longest_blocked = self.longest_blocked.max(waited);
        if generation > 0 {
            self.longest_blocked_moved = self.longest_blocked_moved.max(waited);
        }
    }
}

/// One connection's loop.
fn write_loop(shared: &Shared, c: usize, user: &str, password: &str, db: &str) -> Connection {
    let mut done = Connection::default();
    let mut conn: Option<(u64, mysql::Conn)> = None;
    // When the pending write was first tried.
    let mut since: Option<Instant> = None;
    while !shared.stop.load(Ordering::Relaxed) {
        let first_try = *since.get_or_insert_with(Instant::now);
        let (generation, address) = target(shared);
        if conn.as_ref().is_none_or(|(g, _)| *g != generation) {
            conn = None;
            shared.moved[c].store(generation, Ordering::Relaxed);
            match connect(address, user, password, db) {
                Ok(k) => conn = Some((generation, k)),
                Err(e) => {
                    note(shared, &e);
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                }
            }
        }
        let Some((generation, k)) = conn.as_mut() else {
            continue;
        };
        let n = done.acked + 1;
        match k.exec_drop("INSERT INTO writes (conn, n) VALUES (?, ?)", (c as u64, n)) {
            Ok(()) => {
                done.ack(first_try, *generation);
                since = None;
            }
            Err(e) => {
                // A duplicate means the insert committed but its acknowledgement was lost
                // (a dropped connection): it is there, and counts.
                if matches!(&e, mysql::Error::MySqlError(m) if m.code == 1062) {
                    shared.duplicates.fetch_add(1, Ordering::Relaxed);
                    done.ack(first_try, *generation);
                    since = None;
                    continue;
                }
                note(shared, &e);
                if !matches!(e, mysql::Error::MySqlError(_)) {
                    conn = None;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }
    done
}
