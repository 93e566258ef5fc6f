//! The sync stream: authenticated encryption (AES-256-GCM with a one-time key) in frames of
//! up to [`FRAME`] bytes, each `[u32 length][ciphertext + tag]`, with a per-direction
//! counter as nonce so a frame cannot be replayed, reordered or dropped unnoticed; and the
//! little-endian record encoding carried inside.

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use std::io::{self, Read, Write};

/// Plaintext bytes per frame.
pub const FRAME: usize = 256 * 1024;
/// The first plaintext each side sends: proves it holds the key.
pub const GREETING: &[u8] = b"cutover-sync-1";

/// Which way a stream flows (part of every nonce, so the two directions never share one).
#[derive(Clone, Copy)]
pub enum Direction {
    /// Sender to receiver.
    Forward = 0,
    /// Receiver to sender.
    Back = 1,
}

fn key(hex_key: &str) -> io::Result<LessSafeKey> {
    let bytes = crate::files::entry::unhex(hex_key)
        .filter(|b| b.len() == 32)
        .ok_or_else(|| io::Error::other("the sync key must be 32 bytes of hex"))?;
    let k = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| io::Error::other("bad key"))?;
    Ok(LessSafeKey::new(k))
}

fn nonce(dir: Direction, counter: u64) -> Nonce {
    let mut n = [0u8; 12];
    n[0] = dir as u8;
    n[4..].copy_from_slice(&counter.to_le_bytes());
    Nonce::assume_unique_for_key(n)
}

/// A fresh random key, hex.
pub fn new_key() -> io::Result<String> {
    Ok(crate::files::entry::hex(&random_bytes::<32>()?))
}

/// `N` random bytes from the system's generator.
pub fn random_bytes<const N: usize>() -> io::Result<[u8; N]> {
    use ring::rand::SecureRandom;
    let mut k = [0u8; N];
    ring::rand::SystemRandom::new()
        .fill(&mut k)
        .map_err(|_| io::Error::other("the system gave no randomness"))?;
    Ok(k)
}

/// Writes plaintext as sealed frames.
pub struct SealWriter<W: Write> {
    inner: W,
    key: LessSafeKey,
    dir: Direction,
    counter: u64,
    buf: Vec<u8>,
    /// Bytes written to `inner`.
    pub wire_bytes: u64,
}

impl<W: Write> SealWriter<W> {
    /// Seals with `hex_key` for direction `dir`.
    pub fn new(inner: W, hex_key: &str, dir: Direction) -> io::Result<Self> {
        Ok(SealWriter {
            inner,
            key: key(hex_key)?,
            dir,
            counter: 0,
            buf: Vec::with_capacity(FRAME + 16),
            wire_bytes: 0,
        })
    }

    /// The underlying writer (after a `flush`, everything written is in it).
    pub fn into_inner(self) -> W {
        self.inner
    }

    fn seal(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let n = nonce(self.dir, self.counter);
        self.counter += 1;
        self.key
            .seal_in_place_append_tag(n, Aad::empty(), &mut self.buf)
            .map_err(|_| io::Error::other("encryption failed"))?;
        self.inner
            .write_all(&(self.buf.len() as u32).to_le_bytes())?;
        self.inner.write_all(&self.buf)?;
        self.wire_bytes += 4 + self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }
}

impl<W: Write> Write for SealWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = FRAME - self.buf.len();
        let n = room.min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == FRAME {
            self.seal()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.seal()?;
        self.inner.flush()
    }
}

/// Reads sealed frames as plaintext; a frame that fails authentication is an error.
pub struct OpenReader<R: Read> {
    inner: R,
    key: LessSafeKey,
    dir: Direction,
    counter: u64,
    buf: Vec<u8>,
    pos: usize,
    plain_len: usize,
}

impl<R: Read> OpenReader<R> {
    /// Opens frames sealed with `hex_key` for direction `dir`.
    pub fn new(inner: R, hex_key: &str, dir: Direction) -> io::Result<Self> {
        Ok(OpenReader {
            inner,
            key: key(hex_key)?,
            dir,
            counter: 0,
            buf: Vec::new(),
            pos: 0,
            plain_len: 0,
        })
    }

    fn next_frame(&mut self) -> io::Result<bool> {
        let mut len = [0u8; 4];
        match self.inner.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
            Err(e) => return Err(e),
        }
        let len = u32::from_le_bytes(len) as usize;
        if !(16..=FRAME + 16).contains(&len) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the sync stream is damaged (bad frame length)",
            ));
        }
        self.buf.resize(len, 0);
        self.inner.read_exact(&mut self.buf)?;
        let n = nonce(self.dir, self.counter);
        self.counter += 1;
        let plain = self
            .key
            .open_in_place(n, Aad::empty(), &mut self.buf)
            .map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    "a sync frame failed authentication (wrong key, or the stream was tampered with)",
                )
            })?;
        self.plain_len = plain.len();
        self.pos = 0;
        Ok(true)
    }
}

impl<'a, R: Read + 'a> OpenReader<R> {
    /// The same reader over a boxed source (to hold readers of several kinds in one place).
    pub fn boxed(self) -> OpenReader<Box<dyn Read + 'a>> {
        OpenReader {
            inner: Box::new(self.inner),
            key: self.key,
            dir: self.dir,
            counter: self.counter,
            buf: self.buf,
            pos: self.pos,
            plain_len: self.plain_len,
        }
    }
}

impl<R: Read> Read for OpenReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.plain_len {
            if !self.next_frame()? {
                return Ok(0);
            }
        }
        let n = out.len().min(self.plain_len - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Sealed frames sent to the controller for relaying, on the agent's standard output: each
/// whole frame as one write of `[0][u32 length][ciphertext]` (JSON replies start with `{`,
/// so the controller tells the two apart by their first byte).
pub struct FrameOut<'a> {
    out: &'a crate::agent::host::Out,
    pending: Vec<u8>,
}

impl<'a> FrameOut<'a> {
    /// Frames go to `out`.
    pub fn new(out: &'a crate::agent::host::Out) -> Self {
        FrameOut {
            out,
            pending: Vec::new(),
        }
    }
}

impl Write for FrameOut<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(data);
        while self.pending.len() >= 4 {
            let len = u32::from_le_bytes([
                self.pending[0],
                self.pending[1],
                self.pending[2],
                self.pending[3],
            ]) as usize;
            if self.pending.len() < 4 + len {
                break;
            }
            let mut frame = Vec::with_capacity(5 + len);
            frame.push(0);
            frame.extend(self.pending.drain(..4 + len));
            self.out.raw(&frame)?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writing records.
pub trait Put: Write {
    /// A byte.
    fn u8(&mut self, v: u8) -> io::Result<()> {
        self.write_all(&[v])
    }
    /// A u32.
    fn u32(&mut self, v: u32) -> io::Result<()> {
        self.write_all(&v.to_le_bytes())
    }
    /// A u64.
    fn u64(&mut self, v: u64) -> io::Result<()> {
        self.write_all(&v.to_le_bytes())
    }
    /// An i64.
    fn i64(&mut self, v: i64) -> io::Result<()> {
        self.write_all(&v.to_le_bytes())
    }
    /// Length-prefixed bytes.
    fn blob(&mut self, v: &[u8]) -> io::Result<()> {
        self.u32(v.len() as u32)?;
        self.write_all(v)
    }
}

impl<W: Write + ?Sized> Put for W {}

/// Reading records.
pub trait Get: Read {
    /// A byte.
    fn u8(&mut self) -> io::Result<u8> {
        let mut b = [0u8; 1];
        self.read_exact(&mut b)?;
        Ok(b[0])
    }
    /// A u32.
    fn u32(&mut self) -> io::Result<u32> {
        let mut b = [0u8; 4];
        self.read_exact(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    /// A u64.
    fn u64(&mut self) -> io::Result<u64> {
        let mut b = [0u8; 8];
        self.read_exact(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    /// An i64.
    fn i64(&mut self) -> io::Result<i64> {
        Ok(self.u64()? as i64)
    }
    /// Length-prefixed bytes (at most 64 MiB).
    fn blob(&mut self) -> io::Result<Vec<u8>> {
        self.blob_max(64 << 20)
    }
    /// Length-prefixed bytes, at most `max` of them: a length over it is refused before
    /// anything is allocated.
    fn blob_max(&mut self, max: usize) -> io::Result<Vec<u8>> {
        let n = self.u32()? as usize;
        if n > max {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a record field of {n} bytes, over its limit of {max}"),
            ));
        }
        let mut v = vec![0u8; n];
        self.read_exact(&mut v)?;
        Ok(v)
    }
}

impl<R: Read + ?Sized> Get for R {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_tampering_is_caught() {
        let k = new_key().unwrap();
        let mut w = SealWriter::new(Vec::new(), &k, Direction::Forward).unwrap();
        let data: Vec<u8> = (0..600_000u32).map(|i| i as u8).collect();
        w.write_all(&data).unwrap();
        w.flush().unwrap();
        let sealed = w.inner.clone();
        let mut back = Vec::new();
        OpenReader::new(&sealed[..], &k, Direction::Forward)
            .unwrap()
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
        let mut bad = sealed.clone();
        bad[100] ^= 1;
        let mut r = OpenReader::new(&bad[..], &k, Direction::Forward).unwrap();
        assert!(r.read_to_end(&mut Vec::new()).is_err());
        let other = new_key().unwrap();
        let mut r = OpenReader::new(&sealed[..], &other, Direction::Forward).unwrap();
        assert!(r.read_to_end(&mut Vec::new()).is_err());
        let mut r = OpenReader::new(&sealed[..], &k, Direction::Back).unwrap();
        assert!(
            r.read_to_end(&mut Vec::new()).is_err(),
            "direction is bound"
        );
    }
}
