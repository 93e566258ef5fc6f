//! The parallel walk of a tree: one task per directory on the thread pool, every entry
//! `lstat`ed through its directory's handle (never following symlinks), excluded paths
//! skipped whole, and directories that cannot be listed recorded as problems rather than
//! skipped. Each directory is opened beneath the root with no symlink followed, so a
//! directory swapped for a symlink while the walk runs is reported, not walked into.

use super::beneath::Tree;
use super::entry::Problem;
use super::exclude::Excludes;
use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, Stat};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// An entry found by the walk, before hashing.
pub(crate) struct Found {
    pub(crate) path: Vec<u8>,
    pub(crate) stat: Option<Stat>,
    pub(crate) problem: Option<Problem>,
}

/// Walks the tree in parallel, one task per directory.
pub(crate) fn walk(tree: &Tree, root: &Stat, ex: &Excludes, seen: &AtomicU64) -> Vec<Found> {
    let out = Mutex::new(vec![Found {
        path: Vec::new(),
        stat: Some(*root),
        problem: None,
    }]);
    if root.st_mode & libc::S_IFMT == libc::S_IFDIR {
        rayon::scope(|s| list(s, tree, Vec::new(), ex, &out, seen));
    }
    out.into_inner().unwrap_or_else(|e| e.into_inner())
}

/// Lists the directory `rel`. Queued directories hold no descriptor (a tree of a million
/// directories must not run out of them): each is opened beneath the root when its turn comes.
fn list<'s>(
    s: &rayon::Scope<'s>,
    tree: &'s Tree,
    rel: Vec<u8>,
    ex: &'s Excludes,
    out: &'s Mutex<Vec<Found>>,
    seen: &'s AtomicU64,
) {
    let mut found = Vec::new();
    if let Err(e) = list_into(s, tree, &rel, ex, out, seen, &mut found) {
        // The directory itself is listed by its parent; record why its content is unknown.
        found.push(problem(rel, &e));
    }
    seen.fetch_add(found.len() as u64, Ordering::Relaxed);
    if let Ok(mut o) = out.lock() {
        o.extend(found);
    }
}

fn list_into<'s>(
    s: &rayon::Scope<'s>,
    tree: &'s Tree,
    rel: &[u8],
    ex: &'s Excludes,
    out: &'s Mutex<Vec<Found>>,
    seen: &'s AtomicU64,
    found: &mut Vec<Found>,
) -> std::io::Result<()> {
    let dir = tree.open_at(rel, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty())?;
    for item in rfs::Dir::read_from(&dir)? {
        let item = item?;
        let name = item.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        let mut path = rel.to_vec();
        if !path.is_empty() {
            path.push(b'/');
        }
        path.extend_from_slice(name);
        let stat = rfs::statat(dir.as_fd(), item.file_name(), AtFlags::SYMLINK_NOFOLLOW);
        let is_dir = match &stat {
            Ok(st) => st.st_mode & libc::S_IFMT == libc::S_IFDIR,
            Err(_) => item.file_type() == FileType::Directory,
        };
        if ex.excludes(&path, is_dir) {
            continue;
        }
        match stat {
            Ok(st) => {
                if is_dir {
                    let child = path.clone();
                    s.spawn(move |s| list(s, tree, child, ex, out, seen));
                }
                found.push(Found {
                    path,
                    stat: Some(st),
                    problem: None,
                });
            }
            Err(e) => found.push(problem(path, &e.into())),
        }
    }
    Ok(())
}

fn problem(path: Vec<u8>, e: &std::io::Error) -> Found {
    Found {
        path,
        stat: None,
        problem: Some(Problem::Unreadable(e.to_string())),
    }
}
