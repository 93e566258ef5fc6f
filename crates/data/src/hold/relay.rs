//! The hold relay, run by cutover's agent on a proxy's host: a TCP listener the proxy's
//! upstream is pointed at while a coordinated switch runs. While it holds, every connection
//! the proxy opens is accepted and kept waiting (the client sees latency, not an error);
//! once released, each held and each new connection is carried byte for byte to the new
//! upstream. A connection held longer than `max_hold` is closed (the proxy answers it with
//! its own error): a switch that overruns never holds clients without end.
//!
//! If the controller goes away while the relay holds (its SSH session closed), the relay
//! releases to the fallback (the previous upstream) and keeps forwarding there until the
//! proxy no longer sends it anything, so that the proxy never points at a closed port: a
//! resumed run or a rollback then points the proxy back by itself.

use serde::{Deserialize, Serialize};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How long to wait for the upstream to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// The most connections held or carried at once (more are closed and counted as failed).
const MAX_OPEN: u64 = 4096;
/// How long a relay left alone by its controller keeps forwarding after its last connection.
const UNATTENDED_IDLE: Duration = Duration::from_secs(30);
/// The longest a relay left alone by its controller runs.
const UNATTENDED_MAX: Duration = Duration::from_secs(3600);

/// What the relay did, as the controller journals it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RelayStats {
    /// Connections accepted.
    pub connections: u64,
    /// Connections that waited for the release.
    pub held: u64,
    /// The longest any connection waited (ms).
    pub longest_held_ms: u64,
    /// Connections closed without being carried (held past `max_hold`, the upstream
    /// unreachable, too many at once).
    pub failed: u64,
    /// Connections still open.
    pub open: u64,
    /// Of those held, the ones whose first request writes (an HTTP method other than GET,
    /// HEAD, OPTIONS or TRACE): the relay reads only the first bytes of a held connection,
    /// the request it held.
    #[serde(default)]
    pub held_writes: u64,
    /// The longest any write waited (ms).
    #[serde(default)]
    pub longest_write_ms: u64,
    /// Of those failed, the ones whose first request writes.
    #[serde(default)]
    pub failed_writes: u64,
}

enum Mode {
    Holding,
    Forward(SocketAddr),
    Stopped,
}

struct Shared {
    mode: Mutex<Mode>,
    released: Condvar,
    connections: AtomicU64,
    held: AtomicU64,
    longest_held_ms: AtomicU64,
    failed: AtomicU64,
    open: AtomicU64,
    held_writes: AtomicU64,
    longest_write_ms: AtomicU64,
    failed_writes: AtomicU64,
    last_activity: Mutex<Instant>,
    stop: AtomicBool,
}

/// A running relay.
pub struct Relay {
    shared: Arc<Shared>,
    port: u16,
    alt_port: u16,
    fallback: String,
}

fn resolve(addr: &str) -> std::io::Result<SocketAddr> {
    addr.to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other(format!("`{addr}` resolves to no address")))
}

impl Relay {
    /// Listens on `listen` (port 0: any free one), and on a second port of the same address,
    /// and starts holding.
    pub fn start(listen: &str, max_hold: Duration, fallback: &str) -> std::io::Result<Relay> {
        let at = resolve(listen)?;
        let listener = TcpListener::bind(at)?;
        let port = listener.local_addr()?.port();
        let alt = TcpListener::bind(SocketAddr::new(at.ip(), 0))?;
        let alt_port = alt.local_addr()?.port();
        let shared = Arc::new(Shared {
            mode: Mutex::new(Mode::Holding),
            released: Condvar::new(),
            connections: AtomicU64::new(0),
            held: AtomicU64::new(0),
            longest_held_ms: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            open: AtomicU64::new(0),
            held_writes: AtomicU64::new(0),
            longest_write_ms: AtomicU64::new(0),
            failed_writes: AtomicU64::new(0),
            last_activity: Mutex::new(Instant::now()),
            stop: AtomicBool::new(false),
        });
        for l in [listener, alt] {
            let s = shared.clone();
            std::thread::Builder::new()
                .name("hold-accept".into())
                .spawn(move || accept_loop(l, s, max_hold))?;
        }
        Ok(Relay {
            shared,
            port,
            alt_port,
            fallback: fallback.to_string(),
        })
    }

    /// The port the proxy is pointed at.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A second port to the same relay: pointing a proxy there after the first makes it drop
    /// the server connections it kept from before (see `Hold::alt_upstream`).
    pub fn alt_port(&self) -> u16 {
        self.alt_port
    }

    /// Carries every held and every new connection to `to` from now on.
    pub fn release(&self, to: &str) -> std::io::Result<RelayStats> {
        let addr = resolve(to)?;
        if let Ok(mut m) = self.shared.mode.lock() {
            *m = Mode::Forward(addr);
        }
        self.shared.released.notify_all();
        Ok(self.stats())
    }

    /// The figures so far.
    pub fn stats(&self) -> RelayStats {
        let s = &self.shared;
        RelayStats {
            connections: s.connections.load(Ordering::Relaxed),
            held: s.held.load(Ordering::Relaxed),
            longest_held_ms: s.longest_held_ms.load(Ordering::Relaxed),
            failed: s.failed.load(Ordering::Relaxed),
            open: s.open.load(Ordering::Relaxed),
            held_writes: s.held_writes.load(Ordering::Relaxed),
            longest_write_ms: s.longest_write_ms.load(Ordering::Relaxed),
            failed_writes: s.failed_writes.load(Ordering::Relaxed),
        }
    }

    /// Stops accepting; open connections finish on their own.
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Ok(mut m) = self.shared.mode.lock() {
            if matches!(*m, Mode::Holding) {
                *m = Mode::Stopped;
            }
        }
        self.shared.released.notify_all();
        // Wake the accept loops so that they see the stop.
        for port in [self.port, self.alt_port] {
            let _ = TcpStream::connect_timeout(
                &SocketAddr::from(([127, 0, 0, 1], port)),
                Duration::from_millis(200),
            );
        }
    }

    /// True once told to stop accepting.
    pub fn is_stopped(&self) -> bool {
        self.shared.stop.load(Ordering::SeqCst)
    }

    /// Waits (up to `max`) for the connections it still carries to end: the proxy may keep
    /// reusing a connection it opened to the relay for a while after it was pointed away.
    pub fn wait_closed(&self, max: Duration) {
        let started = Instant::now();
        while self.shared.open.load(Ordering::SeqCst) > 0 && started.elapsed() < max {
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The controller went away: a relay still holding releases to the fallback (the
    /// previous upstream), then forwards until the proxy has sent it nothing for a while.
    pub fn run_unattended(&self) {
        let holding = self
            .shared
            .mode
            .lock()
            .map(|m| matches!(*m, Mode::Holding))
            .unwrap_or(false);
        if holding {
            let _ = self.release(&self.fallback);
        }
        let started = Instant::now();
        loop {
            std::thread::sleep(Duration::from_millis(200));
            let idle = self
                .shared
                .last_activity
                .lock()
                .map(|t| t.elapsed())
                .unwrap_or_default();
            let open = self.shared.open.load(Ordering::Relaxed);
            if (open == 0 && idle > UNATTENDED_IDLE) || started.elapsed() > UNATTENDED_MAX {
                break;
            }
        }
        self.stop();
    }
}

fn accept_loop(listener: TcpListener, s: Arc<Shared>, max_hold: Duration) {
    for conn in listener.incoming() {
        if s.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = conn else {
            continue;
        };
        s.connections.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut t) = s.last_activity.lock() {
            *t = Instant::now();
        }
        if s.open.fetch_add(1, Ordering::SeqCst) >= MAX_OPEN {
            s.open.fetch_sub(1, Ordering::SeqCst);
            s.failed.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let s2 = s.clone();
        let spawned = std::thread::Builder::new()
            .name("hold-conn".into())
            .spawn(move || {
                serve(client, &s2, max_hold);
                s2.open.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            s.open.fetch_sub(1, Ordering::SeqCst);
            s.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Waits for the release (up to `max_hold`), then carries the connection to the upstream.
fn serve(client: TcpStream, s: &Shared, max_hold: Duration) {
    let arrived = Instant::now();
    let to = {
        let Ok(mut m) = s.mode.lock() else {
            return;
        };
        let mut waited = false;
        loop {
            match &*m {
                Mode::Forward(addr) => break Some(*addr),
                Mode::Stopped => break None,
                Mode::Holding => {}
            }
            waited = true;
            let left = max_hold.saturating_sub(arrived.elapsed());
            if left.is_zero() {
                break None;
            }
            m = match s.released.wait_timeout(m, left) {
                Ok((m, _)) => m,
                Err(_) => return,
            };
        }
        .map(|to| (to, waited))
    };
    // Only a held or failed connection is looked into (once): the request users waited for.
    let Some((to, waited)) = to else {
        s.fail(first_request_writes(&client));
        return;
    };
    let write = waited && first_request_writes(&client);
    if waited {
        s.held.fetch_add(1, Ordering::Relaxed);
        let ms = arrived.elapsed().as_millis() as u64;
        s.longest_held_ms.fetch_max(ms, Ordering::Relaxed);
        if write {
            s.held_writes.fetch_add(1, Ordering::Relaxed);
            s.longest_write_ms.fetch_max(ms, Ordering::Relaxed);
        }
    }
    let upstream = match TcpStream::connect_timeout(&to, CONNECT_TIMEOUT) {
        Ok(u) => u,
        Err(_) => {
            s.fail(write || (!waited && first_request_writes(&client)));
            return;
        }
    };
    let _ = upstream.set_nodelay(true);
    let _ = client.set_nodelay(true);
    let (Ok(c2), Ok(u2)) = (client.try_clone(), upstream.try_clone()) else {
        s.fail(write);
        return;
    };
    let back = std::thread::Builder::new()
        .name("hold-back".into())
        .spawn(move || pipe(u2, c2));
    pipe(client, upstream);
    if let Ok(b) = back {
        let _ = b.join();
    }
    if let Ok(mut t) = s.last_activity.lock() {
        *t = Instant::now();
    }
}

impl Shared {
    fn fail(&self, write: bool) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        if write {
            self.failed_writes.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Whether the connection's first request (peeked at, left in place for the upstream) is an
/// HTTP request with a method that may write. A connection that sent nothing within a moment,
/// or not HTTP, counts as a read.
fn first_request_writes(client: &TcpStream) -> bool {
    let mut head = [0u8; 8];
    let _ = client.set_read_timeout(Some(Duration::from_millis(50)));
    let n = client.peek(&mut head).unwrap_or(0);
    let _ = client.set_read_timeout(None);
    let method = head[..n].split(|b| *b == b' ').next().unwrap_or_default();
    let is_token = !method.is_empty() && method.iter().all(u8::is_ascii_uppercase);
    // A method cut off by the 8 bytes is longer than any safe one: it writes.
    is_token
        && !matches!(method, b"GET" | b"HEAD" | b"OPTIONS" | b"TRACE")
        && (n > method.len() || method.len() == head.len())
}

/// Copies `from` into `to` until `from` ends, then ends `to`'s writing side.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let _ = std::io::copy(&mut from, &mut to);
    let _ = to.shutdown(std::net::Shutdown::Write);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn echo_server() -> (u16, std::thread::JoinHandle<()>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let h = std::thread::spawn(move || {
            for c in l.incoming().take(3) {
                let mut c = c.unwrap();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 64];
                    let n = c.read(&mut buf).unwrap_or(0);
                    let _ = c.write_all(&buf[..n]);
                });
            }
        });
        (port, h)
    }

    #[test]
    fn held_connections_wait_for_the_release_then_reach_the_new_upstream() {
        let (port, _h) = echo_server();
        let relay = Relay::start("127.0.0.1:0", Duration::from_secs(5), "127.0.0.1:1").unwrap();
        let rp = relay.port();
        let client = std::thread::spawn(move || {
            let mut c = TcpStream::connect(("127.0.0.1", rp)).unwrap();
            c.write_all(b"ping").unwrap();
            let mut buf = [0u8; 4];
            c.read_exact(&mut buf).unwrap();
            buf
        });
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(relay.stats().open, 1, "held");
        relay.release(&format!("127.0.0.1:{port}")).unwrap();
        assert_eq!(&client.join().unwrap(), b"ping");
        let s = relay.stats();
        assert_eq!((s.connections, s.held, s.failed), (1, 1, 0));
        assert!(s.longest_held_ms >= 250, "{s:?}");
        relay.stop();
    }

    #[test]
    fn a_connection_held_past_max_hold_is_closed_and_counted() {
        let relay = Relay::start("127.0.0.1:0", Duration::from_millis(200), "127.0.0.1:1").unwrap();
        let mut c = TcpStream::connect(("127.0.0.1", relay.port())).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut buf = [0u8; 1];
        assert_eq!(c.read(&mut buf).unwrap_or(0), 0, "closed");
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(relay.stats().failed, 1);
        relay.stop();
    }

    #[test]
    fn held_requests_are_told_apart_by_method_and_reach_the_upstream_whole() {
        let (port, _h) = echo_server();
        let relay = Relay::start("127.0.0.1:0", Duration::from_secs(5), "127.0.0.1:1").unwrap();
        let rp = relay.port();
        let send = |request: &'static [u8]| {
            std::thread::spawn(move || {
                let mut c = TcpStream::connect(("127.0.0.1", rp)).unwrap();
                c.write_all(request).unwrap();
                let mut buf = vec![0u8; request.len()];
                c.read_exact(&mut buf).unwrap();
                buf
            })
        };
        let post = send(b"POST /orders HTTP/1.1\r\n\r\n");
        let get = send(b"GET / HTTP/1.1\r\n\r\n");
        let delete = send(b"DELETE /orders/1 HTTP/1.1\r\n\r\n");
        std::thread::sleep(Duration::from_millis(300));
        relay.release(&format!("127.0.0.1:{port}")).unwrap();
        assert_eq!(post.join().unwrap(), b"POST /orders HTTP/1.1\r\n\r\n");
        assert_eq!(get.join().unwrap(), b"GET / HTTP/1.1\r\n\r\n");
        assert_eq!(delete.join().unwrap(), b"DELETE /orders/1 HTTP/1.1\r\n\r\n");
        let s = relay.stats();
        assert_eq!((s.held, s.held_writes, s.failed), (3, 2, 0), "{s:?}");
        assert!(s.longest_write_ms >= 250, "{s:?}");
        relay.stop();
    }

    #[test]
    fn a_write_held_past_max_hold_is_counted_as_a_failed_write() {
        let relay = Relay::start("127.0.0.1:0", Duration::from_millis(200), "127.0.0.1:1").unwrap();
        let mut c = TcpStream::connect(("127.0.0.1", relay.port())).unwrap();
        c.write_all(b"PUT /x HTTP/1.1\r\n\r\n").unwrap();
        c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut buf = [0u8; 1];
        assert_eq!(c.read(&mut buf).unwrap_or(0), 0, "closed");
        std::thread::sleep(Duration::from_millis(100));
        let s = relay.stats();
        assert_eq!((s.failed, s.failed_writes), (1, 1), "{s:?}");
        relay.stop();
    }
}
