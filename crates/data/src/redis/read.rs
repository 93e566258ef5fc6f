//! Reading keys next to the data (in the agent): a batch at a time, pipelined. A key whose
//! type is guessed from its shape ([`super::guess`]) is read in one round trip (expiry and
//! value); any other key, or one guessed wrong, has its `TYPE` read first and its value in
//! a second round trip. A value is read whole when it is small (one command a key, a scan
//! of a small hash, set or sorted set returning it at once); larger values are paged
//! ([`super::paged`]).
//! The values are digested by [`super::value`], straight from the connection's read
//! buffer ([`super::wire`]): no reply becomes an owned value but a stream's, or a page of a
//! large collection.

use super::client::{server_error, Batch, Failure};
use super::guess::Guesses;
use super::paged::paged_digest;
use super::protocol::{Conn, TtlMode};
use super::resp::Reply;
use super::value::{framed, full_stream_digest, Collection};
use super::wire::Wire;
use redis::Value;
use std::borrow::Cow;

pub use super::paged::consumers;

/// Collections up to this many elements are fetched in one command.
const WHOLE: u64 = 1000;

/// One key as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRead {
    /// The key's type (borrowed for the types every server has: no allocation per key).
    pub kind: Kind,
    /// The digest of its logical value.
    pub value: [u8; 32],
    /// Elements (strings: bytes).
    pub len: u64,
    /// Absolute expiry (unix ms).
    pub expire_ms: Option<i64>,
}

/// A key's type name.
pub type Kind = Cow<'static, str>;

/// A value's digest and its size (elements; bytes for strings).
type Digested = ([u8; 32], u64);

/// Reads `keys` (of the selected database); `None` for a key that vanished meanwhile.
/// `guesses` names the type to try for a key ([`super::guess`]) and learns from what is
/// read: a key whose guess holds costs one round trip and two commands (expiry, value), any
/// other its `TYPE` first.
pub fn read_keys(
    wire: &mut Wire,
    keys: &[Vec<u8>],
    ttl: TtlMode,
    guesses: &mut Guesses,
) -> Result<Vec<Option<KeyRead>>, Failure> {
    let now = now_ms();
    // PEXPIRETIME is -2 for a missing key, -1 for one without expiry: one command does.
    let expiry_command: &[u8] = match ttl {
        TtlMode::Absolute => b"PEXPIRETIME",
        TtlMode::Relative => b"PTTL",
    };
    let guessed: Vec<Option<&'static str>> = keys.iter().map(|k| guesses.guess(k)).collect();
    let mut first = Batch::default();
    for (k, guess) in keys.iter().zip(&guessed) {
        match guess {
            Some(kind) => {
                first.push(&[expiry_command, k]);
                first_read(&mut first, kind, k);
            }
            None => {
                first.push(&[b"TYPE", k]);
                first.push(&[expiry_command, k]);
            }
        }
    }
    wire.send(&first)?;
    let mut reads = Reads::new(keys.len());
    let mut expiry = Vec::with_capacity(keys.len());
    let mut wrong_guesses = Vec::new();
    // Every reply is taken before an error reply fails the batch: the connection stays
    // in step with its commands.
    let mut failure = None;
    for (i, guess) in guessed.iter().enumerate() {
        let (kind, e) = match guess {
            Some(kind) => {
                let e = wire.reply()?.to_int_or_error();
                let taken = take_first(wire, kind)?;
                match (&e, taken) {
                    (Ok(-2), _) | (Err(_), _) => {}
                    (Ok(_), Taken::Refused) => wrong_guesses.push(i),
                    (Ok(_), taken) => reads.take(i, Cow::Borrowed(kind), taken),
                }
                (Ok(None), e)
            }
            None => (
                wire.reply()?.to_kind().map(Some),
                wire.reply()?.to_int_or_error(),
            ),
        };
        let n = match (kind, e) {
            (Err(v), _) | (_, Err(v)) => {
                failure.get_or_insert_with(|| error_of(&wire.conn, "TYPE", &v));
                expiry.push(None);
                continue;
            }
            (Ok(typed), Ok(n)) => {
                // A key read by its `TYPE`: known unless it is gone.
                if let Some(kind) = typed.filter(|k| n != -2 && k != "none") {
                    reads.kinds[i] = Some(kind);
                }
                n
            }
        };
        let at = match ttl {
            TtlMode::Relative if n >= 0 => now + n,
            _ => n,
        };
        expiry.push((at >= 0).then_some(at));
    }
    if let Some(f) = failure {
        return Err(f);
    }
    retype(wire, keys, &wrong_guesses, &mut reads)?;
    // A guess that held taught nothing new.
    for ((key, kind), guess) in keys.iter().zip(&reads.kinds).zip(&guessed) {
        if let Some(kind) = kind.as_deref().filter(|k| Some(*k) != *guess) {
            guesses.learn(key, kind);
        }
    }
    read_values(wire, keys, &mut reads)?;
    Ok(reads
        .values
        .into_iter()
        .zip(reads.kinds)
        .zip(expiry)
        .map(|((v, kind), expire_ms)| {
            let (value, len) = v?;
            Some(KeyRead {
                kind: kind?,
                value,
                len,
                expire_ms,
            })
        })
        .collect())
}

/// The `TYPE` of the keys whose guess was wrong (their values are read next with the
/// others whose type is known).
fn retype(
    wire: &mut Wire,
    keys: &[Vec<u8>],
    which: &[usize],
    reads: &mut Reads,
) -> Result<(), Failure> {
    if which.is_empty() {
        return Ok(());
    }
    let mut batch = Batch::default();
    for &i in which {
        batch.push(&[b"TYPE", &keys[i]]);
    }
    wire.send(&batch)?;
    let mut failure = None;
    for &i in which {
        match wire.reply()?.to_kind() {
            Ok(kind) if kind != "none" => reads.kinds[i] = Some(kind),
            Ok(_) => {}
            Err(v) => {
                failure.get_or_insert_with(|| error_of(&wire.conn, "TYPE", &v));
            }
        }
    }
    failure.map_or(Ok(()), Err)
}

impl Reply<'_> {
    /// A `TYPE` reply's name, or the error reply as a value.
    fn to_kind(self) -> Result<Kind, Value> {
        match self {
            Reply::Error(_) => Err(self.to_value()),
            other => Ok(match other.bytes().unwrap_or_default() {
                b"string" => "string".into(),
                b"hash" => "hash".into(),
                b"list" => "list".into(),
                b"set" => "set".into(),
                b"zset" => "zset".into(),
                b"stream" => "stream".into(),
                b"none" => "none".into(),
                b => String::from_utf8_lossy(b).into_owned().into(),
            }),
        }
    }

    /// An integer reply (-2 when it is not one), or the error reply as a value.
    fn to_int_or_error(self) -> Result<i64, Value> {
        match self {
            Reply::Error(_) => Err(self.to_value()),
            other => Ok(other.int().unwrap_or(-2)),
        }
    }
}

/// An error reply as the failure of `what`.
fn error_of(conn: &Conn, what: &str, v: &Value) -> Failure {
    server_error(conn, what, v).unwrap_or_else(|| Failure::protocol(conn, what))
}

/// Adds the command reading a value whole if it is small. A scan of a small hash, set or
/// sorted set returns everything at once (cursor 0), and so does a small stream's `XINFO
/// STREAM FULL` (entries, groups, consumers: one command where four did); a longer one is
/// read again page by page.
fn first_read(batch: &mut Batch, kind: &str, key: &[u8]) {
    const W: &[u8] = b"1000";
    const LAST: &[u8] = b"999";
    const MORE: &[u8] = b"1001";
    debug_assert_eq!(W, WHOLE.to_string().as_bytes());
    match kind {
        "string" => batch.push(&[b"GET", key]),
        "list" => batch.push(&[b"LRANGE", key, b"0", LAST]),
        "hash" => batch.push(&[b"HSCAN", key, b"0", b"COUNT", W]),
        "set" => batch.push(&[b"SSCAN", key, b"0", b"COUNT", W]),
        "zset" => batch.push(&[b"ZSCAN", key, b"0", b"COUNT", W]),
        "stream" => batch.push(&[b"XINFO", b"STREAM", key, b"FULL", b"COUNT", MORE]),
        _ => batch.push(&[b"DUMP", key]),
    }
}

/// What a batch's reads know so far, key by key.
struct Reads {
    /// The key's type (`None`: vanished, or not known yet).
    kinds: Vec<Option<Kind>>,
    /// Its value's digest once read.
    values: Vec<Option<Digested>>,
    /// The key's first read was taken (its value, or a note below to read more).
    read_first: Vec<bool>,
    /// Keys too large to be read whole: read page by page.
    paged: Vec<usize>,
}

impl Reads {
    fn new(n: usize) -> Self {
        Reads {
            kinds: vec![None; n],
            values: vec![None; n],
            read_first: vec![false; n],
            paged: Vec::new(),
        }
    }

    /// Records key `i`'s first read as type `kind` (a value of another type or none at
    /// all leaves it vanished: changed or gone meanwhile, not counted this pass).
    fn take(&mut self, i: usize, kind: Kind, taken: Taken) {
        match taken {
            Taken::Refused | Taken::Gone => return,
            Taken::Whole(d) => self.values[i] = Some(d),
            Taken::Paged => self.paged.push(i),
        }
        self.kinds[i] = Some(kind);
        self.read_first[i] = true;
    }
}

/// A first read's outcome.
enum Taken {
    /// The value, read whole.
    Whole(Digested),
    /// Too large to be read whole: read page by page.
    Paged,
    /// No such key (nil, or an empty collection: Redis keeps none).
    Gone,
    /// Refused: the key holds another type (`WRONGTYPE`), or another error.
    Refused,
}

/// Takes the replies of [`first_read`] of a `kind` value.
fn take_first(wire: &mut Wire, kind: &str) -> Result<Taken, Failure> {
    if kind == "stream" {
        let full = wire.reply()?.to_value();
        return Ok(match &full {
            // Another type now: read again by its `TYPE`.
            Value::ServerError(e) if e.code() == "WRONGTYPE" => Taken::Refused,
            Value::ServerError(e) if e.details().is_some_and(|d| d.contains("no such key")) => {
                Taken::Gone
            }
            // Anything else (a denied or unknown command) fails the read: a stream never
            // passes as gone unread.
            Value::ServerError(_) => return Err(error_of(&wire.conn, "XINFO STREAM", &full)),
            Value::Nil => Taken::Gone,
            _ => full_stream_digest(&full, WHOLE).map_or(Taken::Paged, Taken::Whole),
        });
    }
    let reply = wire.reply()?;
    Ok(match reply {
        Reply::Error(_) => Taken::Refused,
        Reply::Nil => Taken::Gone,
        _ if is_empty_collection(kind, &reply) => Taken::Gone,
        _ => match digest_whole(kind, reply) {
            Some(d) => Taken::Whole(d),
            None => Taken::Paged,
        },
    })
}

/// True for a collection's first read that found no element and no more to scan.
fn is_empty_collection(kind: &str, reply: &Reply<'_>) -> bool {
    match kind {
        "list" => reply.items().is_empty(),
        "hash" | "set" | "zset" => {
            let mut parts = reply.items();
            let done = parts.next().and_then(|c| c.bytes()) == Some(b"0".as_slice());
            done && parts.next().is_some_and(|list| list.items().is_empty())
        }
        _ => false,
    }
}

/// Reads the values not read yet of the keys whose type is known, then the large values'
/// pages.
fn read_values(wire: &mut Wire, keys: &[Vec<u8>], reads: &mut Reads) -> Result<(), Failure> {
    let unread: Vec<usize> = (0..keys.len())
        .filter(|&i| reads.kinds[i].is_some() && !reads.read_first[i])
        .collect();
    if !unread.is_empty() {
        let mut second = Batch::default();
        for &i in &unread {
            first_read(
                &mut second,
                reads.kinds[i].as_deref().unwrap_or_default(),
                &keys[i],
            );
        }
        wire.send(&second)?;
        for &i in &unread {
            let kind = reads.kinds[i].take().unwrap_or_default();
            let taken = take_first(wire, &kind)?;
            reads.take(i, kind, taken);
        }
    }
    for &i in &reads.paged {
        let kind = reads.kinds[i].as_deref().unwrap_or_default();
        reads.values[i] = paged_digest(wire, kind, &keys[i])?;
    }
    Ok(())
}

/// The digest of a value read whole by [`first_read`] (not a stream), walked in place;
/// `None` when it is too large to have been read whole (it is read page by page).
fn digest_whole(kind: &str, reply: Reply<'_>) -> Option<Digested> {
    let collection = |list: super::resp::Items<'_>, per: usize| {
        let n = list.len() / per;
        let mut c = Collection::new(kind);
        c.feed_bytes(list.map(|e| e.bytes().unwrap_or_default()));
        (c.finish(), n as u64)
    };
    match kind {
        "string" => {
            let b = reply.bytes().unwrap_or_default();
            Some((framed(&[b"string", b]), b.len() as u64))
        }
        "list" => {
            let got = reply.items();
            ((got.len() as u64) < WHOLE).then(|| collection(got, 1))
        }
        "hash" | "set" | "zset" => {
            let mut parts = reply.items();
            let done = parts.next().and_then(|c| c.bytes()) == Some(b"0".as_slice());
            let list = parts.next()?;
            done.then(|| collection(list.items(), if kind == "set" { 1 } else { 2 }))
        }
        _ => {
            let b = reply.bytes().unwrap_or_default();
            Some((framed(&[b"other", kind.as_bytes(), b]), b.len() as u64))
        }
    }
}

/// Milliseconds since the epoch on this host.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
