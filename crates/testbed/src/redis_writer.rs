//! A client writing to a Redis server during sync and switch tests, logging every
//! acknowledged write so a test can prove none is missing on the new server afterwards.
//!
//! Each connection sets `PREFIX:C:N` to `N` for N = 1, 2, 3... one write at a time, and moves
//! to N + 1 only once the write is acknowledged (`+OK`): the acknowledged writes of a
//! connection are exactly 1..=acked. A refused write (`-READONLY` from a server that became a
//! replica, any error) is counted and tried again. The writer is switch-aware like a client
//! told of a failover: [`RedisWriter::repoint`] (or a line `ADDRESS:PORT` sent to its
//! [`control port`](RedisWriter::control_port), answered `moved` once every connection has
//! moved) makes each connection drop its current connection, even one waiting on a paused
//! server (its write was never acknowledged, so nothing is lost), and write on at the new
//! address.

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
        self.acked.iter().sum()
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
    threads: Vec<JoinHandle<u64>>,
    control: Option<(u16, JoinHandle<()>)>,
    started: Instant,
}

impl RedisWriter {
    /// Starts `connections` connections writing keys `PREFIX:C:N` at `address` with the
    /// default user's `password`.
    pub fn start(address: SocketAddr, password: &str, connections: usize, prefix: &str) -> Self {
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
                std::thread::spawn(move || write_loop(&shared, c, &password, &prefix))
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
        let acked = self
            .threads
            .drain(..)
            .map(|t| t.join().unwrap_or(0))
            .collect();
        if let Some((port, handle)) = self.control.take() {
            // Wake the accept loop so it sees the stop flag.
            let _ = TcpStream::connect(("127.0.0.1", port));
            let _ = handle.join();
        }
        WriterReport {
            acked,
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

/// One connection's loop; returns the last acknowledged N.
fn write_loop(shared: &Shared, c: usize, password: &str, prefix: &str) -> u64 {
    let mut acked = 0u64;
    let mut conn: Option<(u64, BufReader<TcpStream>)> = None;
    while !shared.stop.load(Ordering::Relaxed) {
        let (generation, address) = target(shared);
        if conn.as_ref().is_none_or(|(g, _)| *g != generation) {
            conn = connect(address, password).ok().map(|s| (generation, s));
            shared.moved[c].store(generation, Ordering::Relaxed);
            if conn.is_none() {
                shared.reconnects.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
                continue;
            }
        }
        let Some((_, stream)) = conn.as_mut() else {
            continue;
        };
        let n = acked + 1;
        let key = format!("{prefix}:{n}");
        let value = n.to_string();
        match send(stream, &[b"SET", key.as_bytes(), value.as_bytes()])
            .and_then(|_| reply(stream, shared, generation))
        {
            Ok(Reply::Ok) => acked = n,
            Ok(Reply::Error(e)) => {
                shared.refused.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut errors) = shared.errors.lock() {
                    if errors.len() < 10 {
                        errors.push(e);
                    }
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Ok(Reply::Moved) => conn = None,
            Err(_) => {
                shared.reconnects.fetch_add(1, Ordering::Relaxed);
                conn = None;
            }
        }
    }
    acked
}

enum Reply {
    Ok,
    Error(String),
    /// The writer was repointed while the write waited: it was never acknowledged.
    Moved,
}

fn connect(address: SocketAddr, password: &str) -> std::io::Result<BufReader<TcpStream>> {
    let stream = TcpStream::connect_timeout(&address, Duration::from_secs(2))?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_millis(2)))?;
    let mut s = BufReader::new(stream);
    send(&mut s, &[b"AUTH", password.as_bytes()])?;
    let mut line = String::new();
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match s.read_line(&mut line) {
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(_) if line.starts_with("+OK") => return Ok(s),
            Ok(_) => return Err(std::io::Error::other(line)),
            Err(e) if timed_out(&e) && Instant::now() < deadline => continue,
            Err(e) => return Err(e),
        }
    }
}

fn timed_out(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

fn send(s: &mut BufReader<TcpStream>, args: &[&[u8]]) -> std::io::Result<()> {
    s.get_mut().write_all(&crate::redis_data::resp(args))
}

/// Reads one reply line, giving up (`Moved`) when the writer is repointed meanwhile.
fn reply(s: &mut BufReader<TcpStream>, shared: &Shared, generation: u64) -> std::io::Result<Reply> {
    let mut line = Vec::new();
    loop {
        match s.read_until(b'\n', &mut line) {
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(_) if line.ends_with(b"\n") => break,
            Ok(_) => continue,
            Err(e) if timed_out(&e) => {
                if target(shared).0 != generation {
                    return Ok(Reply::Moved);
                }
                if shared.stop.load(Ordering::Relaxed) {
                    return Err(std::io::ErrorKind::Interrupted.into());
                }
            }
            Err(e) => return Err(e),
        }
    }
    let text = String::from_utf8_lossy(&line).trim().to_string();
    Ok(if text == "+OK" {
        Reply::Ok
    } else {
        Reply::Error(text)
    })
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
        let mut n = 1;
        while n <= last {
            let end = (n + 999).min(last);
            let keys: Vec<String> = (n..=end).map(|i| format!("{prefix}:{c}:{i}")).collect();
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
            n = end + 1;
        }
    }
    Ok(missing)
}
