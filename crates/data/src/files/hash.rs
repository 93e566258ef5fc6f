//! Content hashes: BLAKE3 by default (multi-threaded for large files), SHA-256 for users
//! whose compliance rules name it. A file is hashed through one open descriptor and stat'ed
//! before and after: if it changed meanwhile it is hashed once more, then called unstable.

use super::beneath::Tree;
use serde::{Deserialize, Serialize};
use std::io::Read;

/// The content hash algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    /// BLAKE3 (about 3 GB/s per core here, parallel within large files).
    #[default]
    Blake3,
    /// SHA-256 (SHA-NI where the CPU has it).
    Sha256,
}

impl Algorithm {
    /// The name used in plans, on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Blake3 => "blake3",
            Algorithm::Sha256 => "sha256",
        }
    }

    /// Parses a name given by a user.
    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().replace('-', "").as_str() {
            "blake3" => Some(Algorithm::Blake3),
            "sha256" => Some(Algorithm::Sha256),
            _ => None,
        }
    }
}

/// A running hash of either algorithm.
pub enum Hasher {
    /// BLAKE3.
    Blake3(Box<blake3::Hasher>),
    /// SHA-256.
    Sha256(sha2::Sha256),
}

/// Read size. Each file is hashed by one thread: files are hashed in parallel anyway, and
/// BLAKE3's own rayon mode (fine-grained joins) cost more system time than it saved here.
const CHUNK: usize = 1 << 20;

impl Hasher {
    /// A fresh hash.
    pub fn new(alg: Algorithm) -> Self {
        match alg {
            Algorithm::Blake3 => Hasher::Blake3(Box::new(blake3::Hasher::new())),
            Algorithm::Sha256 => Hasher::Sha256(<sha2::Sha256 as sha2::Digest>::new()),
        }
    }

    /// Adds `data`.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Blake3(h) => {
                h.update(data);
            }
            Hasher::Sha256(h) => sha2::Digest::update(h, data),
        }
    }

    /// The 32-byte digest.
    pub fn finish(self) -> [u8; 32] {
        match self {
            Hasher::Blake3(h) => *h.finalize().as_bytes(),
            Hasher::Sha256(h) => sha2::Digest::finalize(h).into(),
        }
    }
}

/// What an `lstat` said about a file, enough to notice any change to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Device.
    pub dev: u64,
    /// Inode.
    pub ino: u64,
    /// Size.
    pub size: u64,
    /// Modification time (ns).
    pub mtime_ns: i64,
    /// Status change time (ns): changes on every write and metadata change.
    pub ctime_ns: i64,
}

impl Stamp {
    /// The stamp of `st`.
    pub fn of(st: &rustix::fs::Stat) -> Self {
        Stamp {
            dev: st.st_dev,
            ino: st.st_ino,
            size: st.st_size as u64,
            mtime_ns: st.st_mtime * 1_000_000_000 + st.st_mtime_nsec as i64,
            ctime_ns: st.st_ctime * 1_000_000_000 + st.st_ctime_nsec as i64,
        }
    }
}

/// How hashing one file ended.
#[derive(Debug)]
pub enum Hashed {
    /// The digest, of the file as described by the stamp.
    Done([u8; 32], Stamp),
    /// It kept changing while being read.
    Unstable,
    /// It could not be opened or read.
    Failed(std::io::Error),
}

/// Hashes the regular file `rel` of `tree` (opened beneath the root with no symlink followed,
/// and refused at once if something other than a regular file, such as a FIFO, took its
/// place), reading through `buf`; retries once if it changed while being read.
pub fn hash_file(tree: &Tree, rel: &[u8], alg: Algorithm, buf: &mut Vec<u8>) -> Hashed {
    for _ in 0..2 {
        match hash_once(tree, rel, alg, buf) {
            Ok(Some(done)) => return Hashed::Done(done.0, done.1),
            Ok(None) => continue,
            Err(e) => return Hashed::Failed(e),
        }
    }
    Hashed::Unstable
}

fn hash_once(
    tree: &Tree,
    rel: &[u8],
    alg: Algorithm,
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<([u8; 32], Stamp)>> {
    let mut file = tree.open_regular(rel)?;
    let before = Stamp::of(&rustix::fs::fstat(&file)?);
    let mut h = Hasher::new(alg);
    if buf.len() != CHUNK {
        buf.resize(CHUNK, 0);
    }
    let mut read = 0u64;
    loop {
        let n = match file.read(&mut buf[..]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        read += n as u64;
        h.update(&buf[..n]);
    }
    let after = Stamp::of(&rustix::fs::fstat(&file)?);
    if after != before || read != before.size {
        return Ok(None);
    }
    Ok(Some((h.finish(), before)))
}
