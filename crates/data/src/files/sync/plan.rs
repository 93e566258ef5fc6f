//! Deciding what to send: the source's entries against the receiver's description of the
//! target (its index), like rsync's quick check (size and mtime) or by content hash with
//! `checksum`; plus metadata-only updates, deletions, hard links and resumable partials.

use super::wire::{Get, Put};
use super::SendOptions;
use crate::files::beneath::Tree;
use crate::files::compare::owner_key;
use crate::files::entry::{Entry, Kind};
use crate::files::manifest::OwnerCheck;
use std::collections::{HashMap, HashSet};
use std::io::{self, Read, Write};

/// A partial file below this size is restarted rather than resumed.
pub const RESUME_MIN: u64 = 8 << 20;

/// The target as the receiver described it.
#[derive(Default)]
pub struct Index {
    /// Entries by path.
    pub entries: HashMap<Vec<u8>, Entry>,
    /// Partial copies left by an interrupted sync: path -> (length, BLAKE3 of those bytes).
    pub partials: HashMap<Vec<u8>, (u64, [u8; 32])>,
}

/// Writes the index (receiver side).
pub fn write_index(
    w: &mut impl Write,
    entries: &[Entry],
    partials: &[(Vec<u8>, u64, [u8; 32])],
) -> io::Result<()> {
    for e in entries {
        w.u8(1)?;
        w.blob(&serde_json::to_vec(e).map_err(io::Error::other)?)?;
    }
    for (path, len, hash) in partials {
        w.u8(2)?;
        w.blob(path)?;
        w.u64(*len)?;
        w.write_all(hash)?;
    }
    w.u8(0)?;
    w.flush()
}

/// Reads the index (sender side).
pub fn read_index(r: &mut impl Read) -> io::Result<Index> {
    let mut idx = Index::default();
    loop {
        match r.u8()? {
            0 => return Ok(idx),
            1 => {
                let e: Entry =
                    serde_json::from_slice(&r.blob_max(1 << 16)?).map_err(io::Error::other)?;
                idx.entries.insert(e.path.clone(), e);
            }
            2 => {
                let path = r.blob_max(crate::files::beneath::MAX_PATH)?;
                let len = r.u64()?;
                let mut h = [0u8; 32];
                r.read_exact(&mut h)?;
                idx.partials.insert(path, (len, h));
            }
            t => return Err(io::Error::other(format!("bad index record {t}"))),
        }
    }
}

/// One thing to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Remove a path (and everything under it).
    Delete(Vec<u8>),
    /// Create a directory (entry index).
    Dir(usize),
    /// Send a file's content from `offset`.
    File {
        /// Entry index.
        index: usize,
        /// Bytes the receiver already has (a resumed partial).
        offset: u64,
    },
    /// Create a symlink.
    Link(usize),
    /// Link to an earlier path of the same file.
    Hard {
        /// Entry index.
        index: usize,
        /// The path already sent.
        to: Vec<u8>,
    },
    /// Create a fifo or device.
    Special(usize),
    /// Update metadata only.
    Meta(usize),
}

/// Everything to send.
#[derive(Debug, Default)]
pub struct Plan {
    /// In order: deletions first, then entries in path order (parents before children).
    pub actions: Vec<Action>,
    /// Files to send.
    pub files: u64,
    /// File bytes to send.
    pub bytes: u64,
    /// Deletions.
    pub deletes: u64,
}

fn owner_differs(a: &Entry, b: &Entry, o: &SendOptions) -> bool {
    if !o.preserve.owner {
        return false;
    }
    let how = if o.preserve.numeric_ids {
        OwnerCheck::Numeric
    } else {
        OwnerCheck::Names
    };
    owner_key(a, how) != owner_key(b, how)
}

/// Decides what to send.
pub fn plan(tree: &Tree, ours: &[Entry], theirs: &Index, o: &SendOptions) -> Plan {
    let mut p = Plan::default();
    if o.delete {
        let have: HashSet<&[u8]> = ours.iter().map(|e| e.path.as_slice()).collect();
        let mut extra: Vec<&Vec<u8>> = theirs
            .entries
            .keys()
            .filter(|k| !have.contains(k.as_slice()))
            .collect();
        extra.sort();
        let mut last: Option<&Vec<u8>> = None;
        for path in extra {
            // Only the topmost of a removed subtree: the receiver removes it whole.
            if let Some(l) = last {
                if path.starts_with(l) && path.get(l.len()) == Some(&b'/') {
                    continue;
                }
            }
            p.actions.push(Action::Delete(path.clone()));
            p.deletes += 1;
            last = Some(path);
        }
    }
    let mut links: HashMap<(u64, u64), Vec<u8>> = HashMap::new();
    for (i, e) in ours.iter().enumerate() {
        if e.problem.is_some() && e.kind != Kind::Dir {
            continue; // unreadable: reported by the send itself
        }
        let t = theirs.entries.get(&e.path);
        let replaced = t.is_some_and(|t| t.kind != e.kind);
        if replaced {
            p.actions.push(Action::Delete(e.path.clone()));
        }
        let t = t.filter(|_| !replaced);
        let meta_differs = |t: &Entry| {
            (e.kind != Kind::Symlink && t.mode != e.mode)
                || owner_differs(e, t, o)
                || (e.kind != Kind::Dir && t.mtime_ns != e.mtime_ns)
        };
        match e.kind {
            Kind::Dir => match t {
                None => p.actions.push(Action::Dir(i)),
                Some(t) if meta_differs(t) || t.mtime_ns != e.mtime_ns => {
                    p.actions.push(Action::Meta(i))
                }
                Some(_) => {}
            },
            Kind::File => {
                if o.preserve.hard_links {
                    if let Ok(Some(m)) = tree.stat(&e.path) {
                        if m.st_nlink > 1 {
                            match links.get(&(m.st_dev, m.st_ino)) {
                                Some(first) => {
                                    let same = t.is_some_and(|t| {
                                        t.size == e.size && t.mtime_ns == e.mtime_ns
                                    });
                                    if !same {
                                        p.actions.push(Action::Hard {
                                            index: i,
                                            to: first.clone(),
                                        });
                                    }
                                    continue;
                                }
                                None => {
                                    links.insert((m.st_dev, m.st_ino), e.path.clone());
                                }
                            }
                        }
                    }
                }
                let send = match t {
                    None => true,
                    Some(t) => {
                        t.size != e.size
                            || t.mtime_ns != e.mtime_ns
                            || (o.checksum && t.hash != e.hash)
                    }
                };
                if send {
                    let offset = resume_offset(tree, e, theirs);
                    p.files += 1;
                    p.bytes += e.size - offset;
                    p.actions.push(Action::File { index: i, offset });
                } else if t.is_some_and(meta_differs) {
                    p.actions.push(Action::Meta(i));
                }
            }
            Kind::Symlink => match t {
                Some(t) if t.target == e.target => {
                    if meta_differs(t) {
                        p.actions.push(Action::Meta(i));
                    }
                }
                _ => p.actions.push(Action::Link(i)),
            },
            _ => {
                if t.is_none_or(|t| t.rdev != e.rdev) {
                    p.actions.push(Action::Special(i));
                } else if t.is_some_and(meta_differs) {
                    p.actions.push(Action::Meta(i));
                }
            }
        }
    }
    p
}

/// Where a resumed file starts: the length of the receiver's partial copy when our file
/// begins with exactly those bytes, else 0.
fn resume_offset(tree: &Tree, e: &Entry, theirs: &Index) -> u64 {
    let Some((len, hash)) = theirs.partials.get(&e.path) else {
        return 0;
    };
    if *len < RESUME_MIN || *len > e.size {
        return 0;
    }
    match prefix_hash_of(tree, &e.path, *len) {
        Ok(h) if h == *hash => *len,
        _ => 0,
    }
}

/// BLAKE3 of the first `len` bytes of the regular file `rel` of `tree`.
pub fn prefix_hash_of(tree: &Tree, rel: &[u8], len: u64) -> io::Result<[u8; 32]> {
    let f = tree.open_regular(rel)?;
    let mut h = blake3::Hasher::new();
    let mut buf = vec![0u8; 4 << 20];
    let mut r = f.take(len);
    let mut total = 0;
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update_rayon(&buf[..n]);
        total += n as u64;
    }
    if total != len {
        return Err(io::Error::other("shorter than expected"));
    }
    Ok(*h.finalize().as_bytes())
}
