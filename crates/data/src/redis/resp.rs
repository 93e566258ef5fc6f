//! RESP2 replies read in place: [`frame_len`] finds where a whole reply ends in a buffer
//! (or says more bytes are needed), and [`Reply`] walks a complete one as borrowed slices,
//! so the agent digests values straight from its read buffer, with no allocation per
//! reply or element ([`super::wire`]). The `redis` crate's parser built a tree of owned
//! values for every reply: half the agent's CPU in a proof.
//!
//! Every size read from the wire is bounded: a string at most [`MAX_BULK`] bytes (Redis's
//! own `proto-max-bulk-len` default), a header line at most [`MAX_LINE`], nesting at most
//! [`MAX_DEPTH`] deep. Counts never size an allocation: only bytes that arrived are held.

use redis::Value;

/// The longest string a reply may carry.
pub const MAX_BULK: usize = 512 << 20;
/// The longest header, integer, status or error line.
pub const MAX_LINE: usize = 64 << 10;
/// The deepest nesting of arrays (replies read here nest three deep at most).
pub const MAX_DEPTH: usize = 16;

/// A reply the agent cannot read: the server is not speaking RESP2 as expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RespError(pub String);

fn bad(what: impl Into<String>) -> RespError {
    RespError(what.into())
}

/// The length of the complete reply at the start of `buf`, or `None` when more bytes are
/// needed.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, RespError> {
    let mut pos = 0;
    // Elements still to read in each open array.
    let mut open = [0u64; MAX_DEPTH];
    let mut depth = 0;
    loop {
        let Some((tag, line, next)) = header(buf, pos)? else {
            return Ok(None);
        };
        pos = next;
        match tag {
            b'+' | b'-' => {}
            b':' => {
                number(line)?;
            }
            b'$' => match number(line)? {
                -1 => {}
                n if n < 0 => return Err(bad(format!("a string of length {n}"))),
                n => {
                    let n = n as u64;
                    if n > MAX_BULK as u64 {
                        return Err(bad(format!(
                            "a string of {n} bytes (at most {MAX_BULK} are read)"
                        )));
                    }
                    let end = pos + n as usize;
                    if buf.len() < end + 2 {
                        return Ok(None);
                    }
                    if &buf[end..end + 2] != b"\r\n" {
                        return Err(bad("a string not ended by CRLF"));
                    }
                    pos = end + 2;
                }
            },
            b'*' => match number(line)? {
                -1 | 0 => {}
                n if n < 0 => return Err(bad(format!("an array of length {n}"))),
                n => {
                    if depth == MAX_DEPTH {
                        return Err(bad(format!("arrays nested over {MAX_DEPTH} deep")));
                    }
                    open[depth] = n as u64;
                    depth += 1;
                    continue;
                }
            },
            other => {
                return Err(bad(format!(
                    "a reply starting with byte {other:#04x} (RESP2 expected)"
                )))
            }
        }
        // One element done: it may close the arrays it ends.
        loop {
            if depth == 0 {
                return Ok(Some(pos));
            }
            open[depth - 1] -= 1;
            if open[depth - 1] > 0 {
                break;
            }
            depth -= 1;
        }
    }
}

/// An element's header line: its type byte, the rest of the line, and where the line ends.
type Header<'a> = (u8, &'a [u8], usize);

/// The element header at `pos`; `None` when the line is not complete yet.
fn header(buf: &[u8], pos: usize) -> Result<Option<Header<'_>>, RespError> {
    let rest = buf.get(pos..).unwrap_or_default();
    let window = &rest[..rest.len().min(MAX_LINE + 2)];
    // Header lines are a few bytes (`$5`, `*2`, `:-2`): a plain scan finds their end
    // sooner than `memchr`'s set-up for long haystacks (measured: a tenth of the agent's
    // CPU in a proof went to `memchr` on such lines).
    match window.iter().position(|&b| b == b'\n') {
        Some(i) if i >= 2 && window[i - 1] == b'\r' => {
            Ok(Some((window[0], &window[1..i - 1], pos + i + 1)))
        }
        Some(_) => Err(bad("an empty line, or one not ended by CRLF")),
        None if rest.len() > MAX_LINE + 1 => {
            Err(bad(format!("a line longer than {MAX_LINE} bytes")))
        }
        None => Ok(None),
    }
}

/// A decimal integer of a header or integer reply (digits read by hand: one per
/// element of every reply).
fn number(line: &[u8]) -> Result<i64, RespError> {
    let (negative, digits) = match line {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, line),
    };
    let mut n: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return Err(not_a_number(line));
        }
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(i64::from(d - b'0')))
            .ok_or_else(|| not_a_number(line))?;
    }
    if digits.is_empty() {
        return Err(not_a_number(line));
    }
    Ok(if negative { -n } else { n })
}

fn not_a_number(line: &[u8]) -> RespError {
    bad(format!(
        "a number that is not one: {:?}",
        String::from_utf8_lossy(line)
    ))
}

/// One element of a complete reply, borrowed from the buffer it was read into.
#[derive(Debug, Clone, Copy)]
pub enum Reply<'a> {
    /// A status (`+OK`).
    Simple(&'a [u8]),
    /// An error reply: its whole frame, `-` to CRLF.
    Error(&'a [u8]),
    /// An integer.
    Int(i64),
    /// A string.
    Bulk(&'a [u8]),
    /// A nil string or array.
    Nil,
    /// An array: its elements, read as they are walked.
    Array(Items<'a>),
}

/// The elements of an array, walked in place.
#[derive(Debug, Clone, Copy)]
pub struct Items<'a> {
    buf: &'a [u8],
    pos: usize,
    left: usize,
}

impl<'a> Items<'a> {
    /// Elements not walked yet.
    pub fn len(&self) -> usize {
        self.left
    }

    /// True when every element was walked.
    pub fn is_empty(&self) -> bool {
        self.left == 0
    }
}

impl<'a> Iterator for Items<'a> {
    type Item = Reply<'a>;

    fn next(&mut self) -> Option<Reply<'a>> {
        if self.left == 0 {
            return None;
        }
        // A frame checked by `frame_len` always parses; should it not, the walk ends.
        let (reply, end) = element(self.buf, self.pos, None)?;
        self.pos = end;
        self.left -= 1;
        Some(reply)
    }
}

/// The element at `pos` of a complete frame and where it ends. `frame_end` is where the
/// frame ends when the element is the whole frame (an array's end is then known without
/// walking it again).
fn element(buf: &[u8], pos: usize, frame_end: Option<usize>) -> Option<(Reply<'_>, usize)> {
    let (tag, line, next) = header(buf, pos).ok()??;
    Some(match tag {
        b'+' => (Reply::Simple(line), next),
        b'-' => (Reply::Error(&buf[pos..next]), next),
        b':' => (Reply::Int(number(line).ok()?), next),
        b'$' => match number(line).ok()? {
            n if n < 0 => (Reply::Nil, next),
            n => {
                let end = next + n as usize;
                (Reply::Bulk(buf.get(next..end)?), end + 2)
            }
        },
        b'*' => match number(line).ok()? {
            n if n < 0 => (Reply::Nil, next),
            n => {
                let end = match frame_end {
                    Some(end) => end,
                    None => pos + frame_len(&buf[pos..]).ok()??,
                };
                let items = Items {
                    buf: &buf[..end],
                    pos: next,
                    left: n as usize,
                };
                (Reply::Array(items), end)
            }
        },
        _ => return None,
    })
}

impl<'a> Reply<'a> {
    /// The reply at the start of `frame`, a complete frame (`frame_len` said so).
    pub fn parse(frame: &'a [u8]) -> Reply<'a> {
        element(frame, 0, Some(frame.len())).map_or(Reply::Nil, |(r, _)| r)
    }

    /// A string's or status's bytes.
    pub fn bytes(&self) -> Option<&'a [u8]> {
        match *self {
            Reply::Bulk(b) | Reply::Simple(b) => Some(b),
            _ => None,
        }
    }

    /// An integer (or one given as text).
    pub fn int(&self) -> Option<i64> {
        match *self {
            Reply::Int(i) => Some(i),
            other => std::str::from_utf8(other.bytes()?).ok()?.parse().ok(),
        }
    }

    /// The elements of an array (none for anything else).
    pub fn items(&self) -> Items<'a> {
        match *self {
            Reply::Array(items) => items,
            _ => Items {
                buf: &[],
                pos: 0,
                left: 0,
            },
        }
    }

    /// True for an error reply or a nil: the value changed or vanished meanwhile.
    pub fn is_error_or_nil(&self) -> bool {
        matches!(self, Reply::Error(_) | Reply::Nil)
    }

    /// The reply as the `redis` crate's value, for the less travelled paths (streams,
    /// paged collections) that read it as such.
    pub fn to_value(&self) -> Value {
        match *self {
            Reply::Simple(b"OK") => Value::Okay,
            Reply::Simple(s) => Value::SimpleString(String::from_utf8_lossy(s).into_owned()),
            Reply::Error(frame) => redis::parse_redis_value(frame).unwrap_or_else(|_| {
                Value::SimpleString(String::from_utf8_lossy(frame).into_owned())
            }),
            Reply::Int(i) => Value::Int(i),
            Reply::Bulk(b) => Value::BulkString(b.to_vec()),
            Reply::Nil => Value::Nil,
            Reply::Array(items) => Value::Array(items.map(|r| r.to_value()).collect()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Replies of every shape the agent reads, one after another.
    const STREAM: &[u8] = b"+string\r\n:-1\r\n:1700000000000\r\n$5\r\nhello\r\n$0\r\n\r\n$-1\r\n\
*-1\r\n*0\r\n*2\r\n$1\r\n0\r\n*4\r\n$2\r\nf1\r\n$2\r\nv1\r\n$2\r\nf2\r\n$-1\r\n\
-WRONGTYPE Operation against a key holding the wrong kind of value\r\n\
*2\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n*0\r\n$7\r\nbin\r\n\x00\xff\r\n";

    /// Splits `STREAM` into frames the way a reader that got only `buf[..cut]` so far would.
    fn frames(data: &[u8]) -> Vec<Value> {
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < data.len() {
            let n = frame_len(&data[pos..]).expect("valid").expect("complete");
            out.push(Reply::parse(&data[pos..pos + n]).to_value());
            pos += n;
        }
        out
    }

    #[test]
    fn replies_parse_alike_whatever_byte_they_are_split_at() {
        let whole = frames(STREAM);
        assert_eq!(whole.len(), 12);
        assert_eq!(whole, redis_crate(STREAM));
        // Every prefix: complete frames found are the same, the rest waits for more bytes.
        for cut in 0..STREAM.len() {
            let mut pos = 0;
            let mut got = Vec::new();
            while let Some(n) = frame_len(&STREAM[pos..cut]).expect("a prefix is valid") {
                got.push(Reply::parse(&STREAM[pos..pos + n]).to_value());
                pos += n;
            }
            assert_eq!(got, whole[..got.len()], "cut at {cut}");
            let rest = frames(&STREAM[pos..]);
            assert_eq!([got, rest].concat(), whole, "cut at {cut}");
        }
    }

    /// The same bytes through the `redis` crate's parser, which this one replaces.
    fn redis_crate(data: &[u8]) -> Vec<Value> {
        let mut p = redis::Parser::new();
        let mut r = std::io::BufReader::new(data);
        let mut out = Vec::new();
        while let Ok(v) = p.parse_value(&mut r) {
            out.push(v);
        }
        out
    }

    #[test]
    fn replies_are_walked_in_place() {
        let frame = b"*2\r\n$1\r\n0\r\n*4\r\n$2\r\nf1\r\n$2\r\nv1\r\n$2\r\nf2\r\n:7\r\n";
        let r = Reply::parse(frame);
        let mut parts = r.items();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts.next().and_then(|c| c.bytes()), Some(&b"0"[..]));
        let list: Vec<Option<&[u8]>> = parts
            .next()
            .expect("list")
            .items()
            .map(|e| e.bytes())
            .collect();
        assert_eq!(list, [Some(&b"f1"[..]), Some(b"v1"), Some(b"f2"), None]);
        assert!(parts.next().is_none());
        assert_eq!(Reply::parse(b":42\r\n").int(), Some(42));
        assert_eq!(Reply::parse(b"$2\r\n42\r\n").int(), Some(42));
        assert!(Reply::parse(b"$-1\r\n").is_error_or_nil());
        assert!(matches!(
            Reply::parse(b"-ERR no\r\n").to_value(),
            Value::ServerError(_)
        ));
    }

    #[test]
    fn a_hostile_server_cannot_make_the_agent_allocate_or_recurse_without_bound() {
        let too_big = format!("${}\r\n", MAX_BULK + 1);
        let e = frame_len(too_big.as_bytes()).expect_err("refused");
        assert!(e.0.contains("at most 536870912"), "{e:?}");
        // A huge count is only a number: nothing is held for elements that did not arrive.
        assert_eq!(frame_len(b"*9223372036854775807\r\n:1\r\n"), Ok(None));
        let deep = "*1\r\n".repeat(MAX_DEPTH + 1);
        assert!(frame_len(deep.as_bytes())
            .expect_err("refused")
            .0
            .contains("nested"));
        let long = vec![b'+'; MAX_LINE + 10];
        assert!(frame_len(&long)
            .expect_err("refused")
            .0
            .contains("longer than"));
        for junk in [
            &b":\r\n"[..],
            b":-\r\n",
            b":99999999999999999999\r\n",
            b":1a\r\n",
        ] {
            assert!(
                frame_len(junk).is_err(),
                "{:?}",
                String::from_utf8_lossy(junk)
            );
        }
        for junk in [
            &b"$-5\r\n"[..],
            b"*-2\r\n",
            b"$x\r\n",
            b"?\r\n",
            b"+a\n",
            b"$1\r\nab\r\n",
        ] {
            assert!(
                frame_len(junk).is_err(),
                "{:?}",
                String::from_utf8_lossy(junk)
            );
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A cheap fuzz: every prefix and one-byte change of valid replies.
        for cut in 0..STREAM.len() {
            for b in [0u8, b'\r', b'\n', b'*', b'$', b'-', b'9', 0xff] {
                let mut data = STREAM[..cut].to_vec();
                data.push(b);
                data.extend_from_slice(&STREAM[cut.min(STREAM.len())..]);
                let mut pos = 0;
                while let Ok(Some(n)) = frame_len(&data[pos..]) {
                    let _ = Reply::parse(&data[pos..pos + n]).to_value();
                    pos += n;
                }
            }
        }
    }
}
