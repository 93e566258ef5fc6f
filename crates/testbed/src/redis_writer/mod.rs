//! A client writing to a Redis server during sync and switch tests, logging every
//! acknowledged write so a test can prove none is missing on the new server afterwards.
//!
//! Each connection sets `PREFIX:C:N` to `N` for N = 1, 2, 3..., `depth` writes in flight at
//! a time (pipelined: one write at a time with depth 1), and logs each write acknowledged
//! (`+OK`): the acknowledged writes of a connection are exactly 1..=acked plus the few it
//! lists above that (acknowledged after a refused one in the same window). A refused write
//! (`-READONLY` from a server that became a replica, any error) is counted and tried again,
//! and so are the unacknowledged writes of a window cut short. The writer is switch-aware like a client
//! told of a failover: [`RedisWriter::repoint`] (or a line `ADDRESS:PORT` sent to its
//! [`control port`](RedisWriter::control_port), answered `moved` once every connection has
//! moved) makes each connection drop its current connection, even one waiting on a paused
//! server (its write was never acknowledged, so nothing is lost), and write on at the new
//! address.

mod connection;

use connection::{connect, write_loop, Log};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What a writer did.
#[derive(Debug, Clone, Default)]
pub struct WriterReport {
    /// Per connection: the last acknowledged N (writes 1..=N were acknowledged).
    pub acked: Vec<u64>,
    /// Per connection: writes acknowledged above its `acked` (a write refused inside a
    /// pipelined window, those after it acknowledged); mostly empty.
    pub beyond: Vec<Vec<u64>>,
    /// Writes the server refused with an error reply (each retry counted).
    pub refused: u64,
    /// Connections lost or refused (each reconnection counted).
    pub reconnects: u64,
    /// The first few error replies, for messages.
    pub errors: Vec<String>,
    /// How long it wrote.
    pub elapsed: Duration,
}

impl WriterReport {
    /// Acknowledged writes in all.
    pub fn total(&self) -> u64 {
        self.acked.iter().sum::<u64>() + self.beyond.iter().map(|b| b.len() as u64).sum::<u64>()
    }
}

struct Shared {
    stop: AtomicBool,
    target: Mutex<(u64, SocketAddr)>,
    moved: Vec<AtomicU64>,
    refused: AtomicU64,
    reconnects: AtomicU64,
    errors: Mutex<Vec<String>>,
}

/// A running writer; [`RedisWriter::stop`] ends it and returns its report.
pub struct RedisWriter {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<Log>>,
    control: Option<(u16, JoinHandle<()>)>,
    started: Instant,
}

impl RedisWriter {
    /// Starts `connections` connections writing keys `PREFIX:C:N` at `address` with the
    /// default user's `password`, one write at a time each.
    pub fn start(address: SocketAddr, password: &str, connections: usize, prefix: &str) -> Self {
        Self::pipelined(address, password, connections, 1, prefix)
    }

    /// Like [`RedisWriter::start`], each connection keeping `depth` writes in flight (as a
    /// pipelining client does: a job queue's producer, a cache filled in bulk).
    pub fn pipelined(
        address: SocketAddr,
        password: &str,
        connections: usize,
        depth: usize,
        prefix: &str,
    ) -> Self {
        let depth = depth.max(1);
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            target: Mutex::new((0, address)),
            moved: (0..connections).map(|_| AtomicU64::new(0)).collect(),
            refused: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            errors: Mutex::new(Vec::new()),
        });
        let threads = (0..connections)
            .map(|c| {
                let shared = shared.clone();
                let password = password.to_string();
                let prefix = format!("{prefix}:{c}");
                std::thread::spawn(move || write_loop(&shared, c, &password, &prefix, depth))
            })
            .collect();
        RedisWriter {
            shared,
            threads,
            control: None,
            started: Instant::now(),
        }
    }

    /// Moves every connection to `address`; returns once each has (at most 10 s).
    pub fn repoint(&self, address: SocketAddr) {
        repoint(&self.shared, address);
    }

    /// A TCP port on 127.0.0.1 that takes `ADDRESS:PORT` lines and answers `moved` once every
    /// connection writes there: a switch's clients command reaches the writer through it.
    pub fn control_port(&mut self) -> std::io::Result<u16> {
        if let Some((port, _)) = &self.control {
            return Ok(*port);
        }
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let shared = self.shared.clone();
        let handle = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if shared.stop.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(mut stream) = stream else { continue };
                let mut line = String::new();
                if BufReader::new(&stream).read_line(&mut line).is_err() {
                    continue;
                }
                if let Ok(address) = line.trim().parse::<SocketAddr>() {
                    repoint(&shared, address);
                    let _ = stream.write_all(b"moved\n");
                }
            }
        });
        self.control = Some((port, handle));
        Ok(port)
    }

    /// Stops writing and reports.
    pub fn stop(mut self) -> WriterReport {
        self.shared.stop.store(true, Ordering::Relaxed);
        let logs: Vec<Log> = self
            .threads
            .drain(..)
            .map(|t| t.join().unwrap_or_default())
            .collect();
        if let Some((port, handle)) = self.control.take() {
            // Wake the accept loop so it sees the stop flag.
            let _ = TcpStream::connect(("127.0.0.1", port));
            let _ = handle.join();
        }
        WriterReport {
            acked: logs.iter().map(|l| l.acked).collect(),
            beyond: logs
                .into_iter()
                .map(|l| l.beyond.into_iter().collect())
                .collect(),
            refused: self.shared.refused.load(Ordering::Relaxed),
            reconnects: self.shared.reconnects.load(Ordering::Relaxed),
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

fn repoint(shared: &Shared, address: SocketAddr) {
    let generation = {
        let Ok(mut t) = shared.target.lock() else {
            return;
        };
        t.0 += 1;
        t.1 = address;
        t.0
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline
        && shared
            .moved
            .iter()
            .any(|m| m.load(Ordering::Relaxed) < generation)
    {
        std::thread::sleep(Duration::from_micros(200));
    }
}

fn target(shared: &Shared) -> (u64, SocketAddr) {
    shared
        .target
        .lock()
        .map(|t| *t)
        .unwrap_or((0, SocketAddr::from(([127, 0, 0, 1], 0))))
}

/// How many of the writes `report` lists as acknowledged are missing at `address`.
pub fn missing_writes(
    report: &WriterReport,
    address: SocketAddr,
    password: &str,
    prefix: &str,
) -> std::io::Result<Vec<String>> {
    let mut s = connect(address, password)?;
    s.get_ref()
        .set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut missing = Vec::new();
    for (c, &last) in report.acked.iter().enumerate() {
        let beyond = report.beyond.get(c).map(Vec::as_slice).unwrap_or_default();
        let numbers: Vec<u64> = (1..=last).chain(beyond.iter().copied()).collect();
        for chunk in numbers.chunks(1000) {
            let keys: Vec<String> = chunk.iter().map(|i| format!("{prefix}:{c}:{i}")).collect();
            let mut batch = Vec::new();
            for k in &keys {
                batch.extend(crate::redis_data::resp(&[b"EXISTS", k.as_bytes()]));
            }
            s.get_mut().write_all(&batch)?;
            for k in &keys {
                let mut line = String::new();
                s.read_line(&mut line)?;
                if line.trim() != ":1" {
                    missing.push(k.clone());
                }
            }
        }
    }
    Ok(missing)
}

#[cfg(test)]
mod tests;
