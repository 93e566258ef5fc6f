//! The connection a proof's readers use: the agent's own socket and read buffer, replies
//! walked in place as they complete ([`super::resp`]) instead of trees of owned values.
//! It authenticates as [`super::client::connect`] does (the password in `AUTH`, never on a
//! command line) and classifies failures alike. [`Commands`] lets code shared with the
//! `redis` crate's connection (streams, paged collections) run on either.

use super::client::{server_error, Batch, Client, Failure};
use super::protocol::Conn;
use super::resp::{frame_len, Reply, MAX_BULK};
use redis::Value;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// Bytes asked of the socket per read: a batch's replies arrive in a few reads.
const READ_SIZE: usize = 256 << 10;
/// Replies wait at most this long, as on the `redis` crate's connection.
const REPLY_TIMEOUT: Duration = Duration::from_secs(300);

/// Commands as both connections run them: one at a time (an error reply fails it) or
/// pipelined (error replies returned in place).
pub trait Commands {
    /// Runs one command (its first word names it in errors).
    fn cmd(&mut self, args: &[&[u8]]) -> Result<Value, Failure>;
    /// Sends the batch in one round trip.
    fn pipeline(&mut self, batch: &Batch) -> Result<Vec<Value>, Failure>;
    /// The server.
    fn conn(&self) -> &Conn;
}

impl Commands for Client {
    fn cmd(&mut self, args: &[&[u8]]) -> Result<Value, Failure> {
        Client::cmd(self, args)
    }
    fn pipeline(&mut self, batch: &Batch) -> Result<Vec<Value>, Failure> {
        Client::pipeline(self, batch)
    }
    fn conn(&self) -> &Conn {
        &self.conn
    }
}

enum Socket {
    Tcp(TcpStream),
    Unix(UnixStream),
}

/// An open connection with its read buffer.
pub struct Wire {
    socket: Socket,
    buf: Vec<u8>,
    /// The unread bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    /// The server reached.
    pub conn: Conn,
}

/// Connects (within `timeout`) and authenticates.
pub fn connect(conn: &Conn, timeout: Duration) -> Result<Wire, Failure> {
    let unreachable = |e: std::io::Error| Failure {
        code: "redis-unreachable",
        message: format!(
            "cannot reach the Redis server at {} (connect): {e}",
            conn.describe()
        ),
    };
    let socket = if conn.address.starts_with('/') {
        let s = UnixStream::connect(&conn.address).map_err(unreachable)?;
        s.set_read_timeout(Some(REPLY_TIMEOUT))
            .map_err(unreachable)?;
        Socket::Unix(s)
    } else {
        let mut last = std::io::Error::other("the address resolves to nothing");
        let mut found = None;
        for a in (conn.address.as_str(), conn.port)
            .to_socket_addrs()
            .map_err(unreachable)?
        {
            match TcpStream::connect_timeout(&a, timeout) {
                Ok(s) => {
                    found = Some(s);
                    break;
                }
                Err(e) => last = e,
            }
        }
        let s = found.ok_or(last).map_err(unreachable)?;
        s.set_read_timeout(Some(REPLY_TIMEOUT))
            .map_err(unreachable)?;
        let _ = s.set_nodelay(true);
        Socket::Tcp(s)
    };
    let mut wire = Wire {
        socket,
        buf: vec![0; READ_SIZE],
        start: 0,
        end: 0,
        conn: conn.clone(),
    };
    if let Some(password) = &conn.password {
        let mut args: Vec<&[u8]> = vec![b"AUTH"];
        if let Some(user) = &conn.user {
            args.push(user.as_bytes());
        }
        args.push(password.as_bytes());
        wire.cmd(&args)?;
    }
    Ok(wire)
}

impl Wire {
    /// A connection over an already connected local socket (tests speak to a fake server
    /// through it).
    #[cfg(test)]
    pub(crate) fn over(socket: UnixStream, conn: Conn) -> Wire {
        Wire {
            socket: Socket::Unix(socket),
            buf: vec![0; 8],
            start: 0,
            end: 0,
            conn,
        }
    }

    /// Writes the batch's commands; their replies are then taken with [`Wire::reply`].
    pub fn send(&mut self, batch: &Batch) -> Result<(), Failure> {
        let result = match &mut self.socket {
            Socket::Tcp(s) => s.write_all(batch.bytes()),
            Socket::Unix(s) => s.write_all(batch.bytes()),
        };
        result.map_err(|e| self.io("a pipeline", e))
    }

    /// The next reply, read in place (valid until the next call).
    pub fn reply(&mut self) -> Result<Reply<'_>, Failure> {
        loop {
            match frame_len(&self.buf[self.start..self.end]) {
                Ok(Some(n)) => {
                    let at = self.start;
                    self.start += n;
                    return Ok(Reply::parse(&self.buf[at..at + n]));
                }
                Ok(None) => self.fill()?,
                Err(e) => {
                    return Err(Failure {
                        code: "redis-protocol",
                        message: format!(
                            "unreadable answer from {}: {}",
                            self.conn.describe(),
                            e.0
                        ),
                    })
                }
            }
        }
    }

    /// Reads more bytes behind the unread ones, room made first (the buffer never holds
    /// more than one incomplete reply, itself bounded by [`frame_len`]).
    fn fill(&mut self) -> Result<(), Failure> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() - self.end < READ_SIZE {
            let wanted = (self.buf.len() * 2).max(self.end + READ_SIZE);
            self.buf.resize(wanted.min(MAX_BULK + 2 * READ_SIZE), 0);
        }
        if self.end == self.buf.len() {
            return Err(Failure {
                code: "redis-protocol",
                message: format!(
                    "unreadable answer from {}: a reply over {} bytes",
                    self.conn.describe(),
                    self.buf.len()
                ),
            });
        }
        let room = &mut self.buf[self.end..];
        let read = match &mut self.socket {
            Socket::Tcp(s) => s.read(room),
            Socket::Unix(s) => s.read(room),
        };
        match read {
            Ok(0) => Err(self.io(
                "a reply",
                std::io::Error::from(std::io::ErrorKind::UnexpectedEof),
            )),
            Ok(n) => {
                self.end += n;
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Ok(()),
            Err(e) => Err(self.io("a reply", e)),
        }
    }

    fn io(&self, what: &str, e: std::io::Error) -> Failure {
        Failure {
            code: "redis-unreachable",
            message: format!(
                "cannot reach the Redis server at {} ({what}): {e}",
                self.conn.describe()
            ),
        }
    }
}

impl Commands for Wire {
    fn cmd(&mut self, args: &[&[u8]]) -> Result<Value, Failure> {
        let mut batch = Batch::default();
        batch.push(args);
        self.send(&batch)?;
        let value = self.reply()?.to_value();
        let what = String::from_utf8_lossy(args.first().copied().unwrap_or_default());
        match server_error(&self.conn, &what, &value) {
            Some(f) => Err(f),
            None => Ok(value),
        }
    }

    fn pipeline(&mut self, batch: &Batch) -> Result<Vec<Value>, Failure> {
        self.send(batch)?;
        let mut out = Vec::with_capacity(batch.len());
        for _ in 0..batch.len() {
            out.push(self.reply()?.to_value());
        }
        Ok(out)
    }

    fn conn(&self) -> &Conn {
        &self.conn
    }
}

/// `SELECT db` on a connection of either kind.
pub fn select(c: &mut impl Commands, db: u32) -> Result<(), Failure> {
    c.cmd(&[b"SELECT", db.to_string().as_bytes()]).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn over(socket: UnixStream) -> Wire {
        let conn = Conn {
            address: "/test.sock".into(),
            port: 0,
            user: None,
            password: None,
        };
        Wire::over(socket, conn)
    }

    #[test]
    fn replies_arriving_a_byte_at_a_time_are_read_whole() {
        let (mut server, client) = UnixStream::pair().expect("pair");
        let replies: Vec<u8> = [
            &b"*2\r\n$1\r\n0\r\n*2\r\n$5\r\nfield\r\n$5\r\nvalue\r\n"[..],
            &b":-1\r\n"[..],
            &format!("${}\r\n{}\r\n", 3000, "x".repeat(3000)).into_bytes(),
            &b"-ERR gone\r\n"[..],
        ]
        .concat();
        let writer = std::thread::spawn(move || {
            for b in replies {
                server.write_all(&[b]).expect("write");
            }
        });
        let mut wire = over(client);
        let first: Vec<Vec<u8>> = wire
            .reply()
            .expect("first")
            .items()
            .nth(1)
            .expect("list")
            .items()
            .map(|e| e.bytes().unwrap_or_default().to_vec())
            .collect();
        assert_eq!(first, [b"field".to_vec(), b"value".to_vec()]);
        assert_eq!(wire.reply().expect("int").int(), Some(-1));
        assert_eq!(
            wire.reply().expect("bulk").bytes().map(<[u8]>::len),
            Some(3000)
        );
        assert!(matches!(
            wire.reply().expect("error"),
            Reply::Error(b"-ERR gone\r\n")
        ));
        writer.join().expect("writer");
        let e = wire.reply().expect_err("the server closed");
        assert_eq!(e.code, "redis-unreachable");
        assert!(
            e.message
                .starts_with("cannot reach the Redis server at /test.sock (a reply)"),
            "{}",
            e.message
        );
    }
}
