//! One connection of the writer: its pipelined write loop, its log of acknowledged writes,
//! and the RESP it speaks.

use super::{target, Shared};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// One connection's acknowledged writes: 1..=acked, and `beyond`.
#[derive(Default)]
pub(super) struct Log {
    pub(super) acked: u64,
    pub(super) beyond: std::collections::BTreeSet<u64>,
}

impl Log {
    fn ack(&mut self, n: u64) {
        self.beyond.insert(n);
        while self.beyond.remove(&(self.acked + 1)) {
            self.acked += 1;
        }
    }

    /// The next `depth` writes not yet acknowledged.
    fn window(&self, depth: usize) -> Vec<u64> {
        (self.acked + 1..)
            .filter(|n| !self.beyond.contains(n))
            .take(depth)
            .collect()
    }
}

/// One connection's loop; returns what it had acknowledged.
pub(super) fn write_loop(
    shared: &Shared,
    c: usize,
    password: &str,
    prefix: &str,
    depth: usize,
) -> Log {
    let mut log = Log::default();
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
        let window = log.window(depth);
        let mut batch = Vec::new();
        for n in &window {
            let (key, value) = (format!("{prefix}:{n}"), n.to_string());
            batch.extend(crate::redis_data::resp(&[
                b"SET",
                key.as_bytes(),
                value.as_bytes(),
            ]));
        }
        if stream.get_mut().write_all(&batch).is_err() {
            shared.reconnects.fetch_add(1, Ordering::Relaxed);
            conn = None;
            continue;
        }
        // Every reply of the window is read, so the connection stays in step; a window cut
        // short (repointed, connection lost) leaves its unread writes unacknowledged.
        let mut refused = false;
        for n in window {
            match reply(stream, shared, generation) {
                Ok(Reply::Ok) => log.ack(n),
                Ok(Reply::Error(e)) => {
                    refused = true;
                    shared.refused.fetch_add(1, Ordering::Relaxed);
                    if let Ok(mut errors) = shared.errors.lock() {
                        if errors.len() < 10 {
                            errors.push(e);
                        }
                    }
                }
                Ok(Reply::Moved) => {
                    conn = None;
                    break;
                }
                Err(_) => {
                    shared.reconnects.fetch_add(1, Ordering::Relaxed);
                    conn = None;
                    break;
                }
            }
        }
        if refused {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    log
}

enum Reply {
    Ok,
    Error(String),
    /// The writer was repointed while the write waited: it was never acknowledged.
    Moved,
}

pub(super) fn connect(
    address: SocketAddr,
    password: &str,
) -> std::io::Result<BufReader<TcpStream>> {
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
