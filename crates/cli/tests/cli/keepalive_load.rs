//! A keep-alive HTTP client load for blue/green tests: a few connections, each sending
//! `GET /` again as soon as the previous answer is in, as wrk does. Every failure is kept
//! with its moment and kind (connect, write, read: closed or reset, bad answer), so that a
//! test can say which part of a release broke a connection under a client.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One connection's failure: when (since the load started), which connection, what.
#[derive(Debug, Clone)]
pub struct Failure {
    pub at: Duration,
    pub conn: usize,
    pub what: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?} in, connection {}: {}",
            self.at, self.conn, self.what
        )
    }
}

/// What the load saw.
#[derive(Debug, Default)]
pub struct Tally {
    /// Answers with a 2xx status.
    pub ok: u64,
    /// Socket errors and non-2xx answers, in the order each connection met them.
    pub failures: Vec<Failure>,
    /// For each body a 2xx answer had (trimmed, as `hello from old`), when the last such
    /// answer came: which upstream each connection still reached, and until when.
    pub last_answer: BTreeMap<String, Duration>,
}

impl Tally {
    /// When the last 2xx answer with body `body` came, if one did.
    pub fn last(&self, body: &str) -> Option<Duration> {
        self.last_answer.get(body).copied()
    }
}

/// Connections busy with keep-alive requests until [`KeepAliveLoad::stop`].
pub struct KeepAliveLoad {
    started: Instant,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<Tally>>,
}

impl KeepAliveLoad {
    /// `connections` clients of `addr`, each on one connection kept open between requests
    /// (a new one only after a failure).
    pub fn start(addr: &str, connections: usize) -> KeepAliveLoad {
        let started = Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..connections)
            .map(|conn| {
                let (addr, stop) = (addr.to_string(), stop.clone());
                std::thread::spawn(move || client(&addr, conn, started, &stop))
            })
            .collect();
        KeepAliveLoad {
            started,
            stop,
            threads,
        }
    }

    /// Time since the load started (the clock of [`Failure::at`]).
    pub fn now(&self) -> Duration {
        self.started.elapsed()
    }

    /// Stops every client; what they saw, together.
    pub fn stop(self) -> Tally {
        self.stop.store(true, Ordering::Relaxed);
        let mut all = Tally::default();
        for t in self.threads {
            let one = t.join().expect("load thread");
            all.ok += one.ok;
            all.failures.extend(one.failures);
            for (body, at) in one.last_answer {
                let last = all.last_answer.entry(body).or_default();
                *last = (*last).max(at);
            }
        }
        all.failures.sort_by_key(|f| f.at);
        all
    }
}

fn client(addr: &str, conn: usize, started: Instant, stop: &AtomicBool) -> Tally {
    let mut tally = Tally::default();
    let mut open: Option<BufReader<TcpStream>> = None;
    while !stop.load(Ordering::Relaxed) {
        let reader = match open.as_mut() {
            Some(r) => r,
            None => match TcpStream::connect(addr) {
                Ok(s) => {
                    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                    let _ = s.set_nodelay(true);
                    open.insert(BufReader::new(s))
                }
                Err(e) => {
                    tally.failures.push(Failure {
                        at: started.elapsed(),
                        conn,
                        what: format!("connect: {e}"),
                    });
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
            },
        };
        match request(reader) {
            Ok((200..=299, close, body)) => {
                tally.ok += 1;
                tally.last_answer.insert(body, started.elapsed());
                // The server said it closes: the next request goes on a new connection.
                if close {
                    open = None;
                }
            }
            outcome => {
                tally.failures.push(Failure {
                    at: started.elapsed(),
                    conn,
                    what: match outcome {
                        Ok((status, _, _)) => format!("status {status}"),
                        Err(e) => e,
                    },
                });
                open = None;
            }
        }
    }
    tally
}

/// One `GET /` on the connection: the answer's status, whether the server closes the
/// connection after it and its body (trimmed), or which socket operation failed.
fn request(reader: &mut BufReader<TcpStream>) -> Result<(u16, bool, String), String> {
    reader
        .get_mut()
        .write_all(b"GET / HTTP/1.1\r\nHost: app\r\n\r\n")
        .map_err(|e| format!("write: {e}"))?;
    let mut status_line = String::new();
    match reader.read_line(&mut status_line) {
        Ok(0) => return Err("read: closed before an answer".into()),
        Ok(_) => {}
        Err(e) => return Err(format!("read: {e}")),
    }
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("read: not an HTTP answer: {status_line:?}"))?;
    let (mut length, mut close) = (0, false);
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) => return Err("read: closed inside the headers".into()),
            Ok(_) => {}
            Err(e) => return Err(format!("read: {e}")),
        }
        if line.trim().is_empty() {
            break;
        }
        let line = line.to_ascii_lowercase();
        if let Some(v) = line.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        } else if let Some(v) = line.strip_prefix("connection:") {
            close = v.trim() == "close";
        }
    }
    let mut body = vec![0; length];
    reader
        .read_exact(&mut body)
        .map_err(|e| format!("read: body: {e}"))?;
    Ok((
        status,
        close,
        String::from_utf8_lossy(&body).trim().to_string(),
    ))
}
