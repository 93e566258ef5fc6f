//! How the two agents of a copy talk: the options the controller gives each, and the
//! connections between them. The loader listens; each of the dumper's workers connects with
//! its own one-time key (so no two streams share an AES-GCM nonce sequence), says which key by
//! its index, and sends sealed records ([`Record`]) of chunks of `LOAD DATA` text.

use crate::files::sync::wire::{Direction, Get, OpenReader, Put, SealWriter, GREETING};
use serde::{Deserialize, Serialize};
use std::io::{BufReader, BufWriter, Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// How long a connection between the agents may carry nothing before the copy stops.
pub const STALL: Duration = Duration::from_secs(600);

/// A table created on the target before its rows arrive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrepareTable {
    /// Database.
    pub db: String,
    /// Table.
    pub name: String,
    /// `CREATE TABLE` without the keys built after the rows.
    pub create: String,
}

/// What `Prepare` creates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrepareOptions {
    /// Databases with their `CREATE DATABASE` statements (created when missing).
    pub databases: Vec<(String, String)>,
    /// Tables to (re)create: any table of that name is dropped first.
    pub tables: Vec<PrepareTable>,
}

/// A table as the loader sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadTable {
    /// Its index in the copy (chunks name tables by it).
    pub index: u32,
    /// Database.
    pub db: String,
    /// Table.
    pub name: String,
    /// The columns the rows carry, in order.
    pub columns: Vec<String>,
    /// `ADD KEY ...` clauses built once its rows are in.
    pub keys: Vec<String>,
}

/// What `Load` does.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadOptions {
    /// The address to listen on (the target host's address the source reaches).
    pub listen: String,
    /// The port (0: any free one).
    pub port: u16,
    /// One key per worker connection, hex.
    pub keys: Vec<String>,
    /// The tables to load.
    pub tables: Vec<LoadTable>,
    /// Seconds to wait for the dumper's connections.
    pub accept_timeout: u64,
}

/// A table as the dumper sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DumpTable {
    /// Its index in the copy.
    pub index: u32,
    /// Database.
    pub db: String,
    /// Table.
    pub name: String,
    /// The columns to read, in order.
    pub columns: Vec<String>,
    /// Its single integer primary-key column, which splits it into ranges.
    pub key: Option<String>,
    /// Estimated data bytes (for chunk sizes and scheduling).
    pub data_bytes: u64,
}

/// How the source's snapshot is made consistent across the workers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotLock {
    /// MariaDB 10.4+: `BACKUP STAGE BLOCK_COMMIT` (commits wait a moment; running statements
    /// go on).
    #[default]
    BackupStage,
    /// `FLUSH TABLES WITH READ LOCK` (MySQL; waits for running statements).
    GlobalReadLock,
}

/// What `Dump` does.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DumpOptions {
    /// `address:port` of the loader.
    pub connect: String,
    /// One key per worker; as many workers as keys.
    pub keys: Vec<String>,
    /// The tables to send.
    pub tables: Vec<DumpTable>,
    /// Rows of a table are sent in chunks of about this many bytes.
    pub chunk_bytes: u64,
    /// How the snapshot is taken.
    pub lock: SnapshotLock,
    /// Seconds the lock may wait for running commits or statements.
    pub lock_timeout: u64,
}

/// One record of a worker's stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A chunk of table `table` begins; the table has `chunks` chunks in all.
    Chunk {
        /// The table's index.
        table: u32,
        /// Chunks of that table in all.
        chunks: u32,
    },
    /// `LOAD DATA` text (whole rows).
    Data(Vec<u8>),
    /// The chunk ended after `rows` rows.
    End {
        /// Rows in the chunk.
        rows: u64,
    },
    /// The worker has nothing more to send.
    Done,
    /// The dumper failed; the loader stops.
    Failed(String),
}

const CHUNK: u8 = 1;
const DATA: u8 = 2;
const END: u8 = 3;
const DONE: u8 = 4;
const FAILED: u8 = 5;

/// Largest `Data` record accepted.
pub const MAX_DATA: usize = 16 << 20;

impl Record {
    /// Writes the record.
    pub fn write(&self, w: &mut impl Write) -> std::io::Result<()> {
        match self {
            Record::Chunk { table, chunks } => {
                w.u8(CHUNK)?;
                w.u32(*table)?;
                w.u32(*chunks)
            }
            Record::Data(b) => {
                w.u8(DATA)?;
                w.blob(b)
            }
            Record::End { rows } => {
                w.u8(END)?;
                w.u64(*rows)
            }
            Record::Done => w.u8(DONE),
            Record::Failed(m) => {
                w.u8(FAILED)?;
                w.blob(m.as_bytes())
            }
        }
    }

    /// Reads a record; anything out of shape is an error.
    pub fn read(r: &mut impl Read) -> std::io::Result<Record> {
        Ok(match r.u8()? {
            CHUNK => Record::Chunk {
                table: r.u32()?,
                chunks: r.u32()?,
            },
            DATA => Record::Data(r.blob_max(MAX_DATA)?),
            END => Record::End { rows: r.u64()? },
            DONE => Record::Done,
            FAILED => Record::Failed(String::from_utf8_lossy(&r.blob_max(64 << 10)?).into_owned()),
            other => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("the copy stream is out of shape (record type {other})"),
                ))
            }
        })
    }
}

/// A worker's stream as the loader reads it.
pub type Incoming = OpenReader<BufReader<TcpStream>>;

/// A worker's stream as the dumper writes it.
pub type Outgoing = SealWriter<BufWriter<TcpStream>>;

/// Binds the loader's listener on `listen`:`port`.
pub fn listen(listen: &str, port: u16) -> std::io::Result<TcpListener> {
    let host = listen.trim_matches(|c| c == '[' || c == ']');
    let addrs: Vec<_> = (host, port).to_socket_addrs()?.collect();
    let mut last = None;
    for a in addrs {
        match TcpListener::bind(a) {
            Ok(l) => return Ok(l),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other(format!("`{listen}` resolves to no address"))))
}

/// Accepts one connection per key within `timeout`; a connection that does not present a
/// key it was given (a port scan, someone else's client) is dropped. Each stream comes with
/// its socket, to shut it down when the copy fails.
pub fn accept(
    listener: &TcpListener,
    keys: &[String],
    timeout: Duration,
) -> std::io::Result<Vec<(Incoming, TcpStream)>> {
    let deadline = Instant::now() + timeout;
    listener.set_nonblocking(true)?;
    let mut got: Vec<Option<(Incoming, TcpStream)>> = keys.iter().map(|_| None).collect();
    while got.iter().any(Option::is_none) {
        match listener.accept() {
            Ok((s, _)) => {
                if let Some((i, r)) = handshake(s, keys) {
                    if got[i].is_none() {
                        got[i] = Some(r);
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() > deadline {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!(
                            "{} of the source's {} connections arrived within {}s",
                            got.iter().filter(|g| g.is_some()).count(),
                            keys.len(),
                            timeout.as_secs()
                        ),
                    ));
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(got.into_iter().flatten().collect())
}

/// Reads the key index and the sealed greeting within 10 s.
fn handshake(s: TcpStream, keys: &[String]) -> Option<(usize, (Incoming, TcpStream))> {
    s.set_nonblocking(false).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let socket = s.try_clone().ok()?;
    let mut reader = BufReader::with_capacity(1 << 20, s);
    let index = reader.u32().ok()? as usize;
    let key = keys.get(index)?;
    let mut r = OpenReader::new(reader, key, Direction::Forward).ok()?;
    let mut g = vec![0u8; GREETING.len()];
    r.read_exact(&mut g).ok()?;
    if g != GREETING {
        return None;
    }
    // From here on a link cut between the hosts ends the copy instead of hanging it.
    socket.set_read_timeout(Some(STALL)).ok()?;
    Some((index, (r, socket)))
}

/// Connects worker `index` to the loader at `address` (tried for up to 10 s).
pub fn connect(address: &str, index: usize, key: &str) -> std::io::Result<Outgoing> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let addrs: Vec<_> = address.to_socket_addrs()?.collect();
    let mut last = std::io::Error::other(format!("`{address}` resolves to no address"));
    loop {
        for a in &addrs {
            match TcpStream::connect_timeout(a, Duration::from_secs(10)) {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    s.set_write_timeout(Some(STALL))?;
                    let mut w = BufWriter::with_capacity(1 << 20, s);
                    w.u32(index as u32)?;
                    let mut sealed = SealWriter::new(w, key, Direction::Forward)?;
                    sealed.write_all(GREETING)?;
                    sealed.flush()?;
                    return Ok(sealed);
                }
                Err(e) => last = e,
            }
        }
        if Instant::now() > deadline {
            return Err(last);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_damage_is_refused() {
        let records = vec![
            Record::Chunk {
                table: 3,
                chunks: 7,
            },
            Record::Data(b"1\ta\n".to_vec()),
            Record::End { rows: 1 },
            Record::Failed("boom".into()),
            Record::Done,
        ];
        let mut buf = Vec::new();
        for r in &records {
            r.write(&mut buf).unwrap();
        }
        let mut cursor = &buf[..];
        for r in &records {
            assert_eq!(&Record::read(&mut cursor).unwrap(), r);
        }
        let e = Record::read(&mut &[9u8][..]).unwrap_err();
        assert!(e.to_string().contains("out of shape"), "{e}");
    }

    #[test]
    fn workers_connect_with_their_own_keys() {
        let keys: Vec<String> = (0..2)
            .map(|_| crate::files::sync::wire::new_key().unwrap())
            .collect();
        let listener = listen("127.0.0.1", 0).unwrap();
        let port = listener.local_addr().unwrap().port();
        let k = keys.clone();
        let sender = std::thread::spawn(move || {
            // A stranger first: refused without disturbing the others.
            let _ = TcpStream::connect(("127.0.0.1", port))
                .map(|mut s| s.write_all(b"\x00\x00\x00\x00junk"));
            for (i, key) in k.iter().enumerate().rev() {
                let mut w = connect(&format!("127.0.0.1:{port}"), i, key).unwrap();
                Record::Data(vec![i as u8]).write(&mut w).unwrap();
                w.flush().unwrap();
            }
        });
        let mut incoming = accept(&listener, &keys, Duration::from_secs(20)).unwrap();
        sender.join().unwrap();
        for (i, (r, _)) in incoming.iter_mut().enumerate() {
            assert_eq!(Record::read(r).unwrap(), Record::Data(vec![i as u8]));
        }
    }
}
