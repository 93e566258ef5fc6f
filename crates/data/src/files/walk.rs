//! The parallel walk of a tree: one task per directory on the thread pool, every entry
//! `lstat`ed (never following symlinks), excluded paths skipped whole, and directories that
//! cannot be listed recorded as problems rather than skipped.

use super::entry::Problem;
use super::exclude::Excludes;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// An entry found by the walk, before hashing.
pub(crate) struct Found {
    pub(crate) path: Vec<u8>,
    pub(crate) meta: Option<std::fs::Metadata>,
    pub(crate) problem: Option<Problem>,
}

/// Walks the tree in parallel, one task per directory.
pub(crate) fn walk(
    root: &Path,
    meta: &std::fs::Metadata,
    ex: &Excludes,
    seen: &AtomicU64,
) -> Vec<Found> {
    let out = Mutex::new(vec![Found {
        path: Vec::new(),
        meta: Some(meta.clone()),
        problem: None,
    }]);
    if meta.is_dir() {
        rayon::scope(|s| list(s, root, Vec::new(), ex, &out, seen));
    }
    out.into_inner().unwrap_or_else(|e| e.into_inner())
}

fn list<'s>(
    s: &rayon::Scope<'s>,
    root: &'s Path,
    rel: Vec<u8>,
    ex: &'s Excludes,
    out: &'s Mutex<Vec<Found>>,
    seen: &'s AtomicU64,
) {
    let dir = root.join(std::ffi::OsStr::from_bytes(&rel));
    let mut found = Vec::new();
    match std::fs::read_dir(&dir) {
        Ok(rd) => {
            for item in rd {
                let item = match item {
                    Ok(i) => i,
                    Err(e) => {
                        found.push(problem(rel.clone(), &e));
                        break;
                    }
                };
                let mut path = rel.clone();
                if !path.is_empty() {
                    path.push(b'/');
                }
                path.extend_from_slice(item.file_name().as_bytes());
                let is_dir = item.file_type().is_ok_and(|t| t.is_dir());
                if ex.excludes(&path, is_dir) {
                    continue;
                }
                match item.metadata() {
                    Ok(m) => {
                        if m.is_dir() {
                            let child = path.clone();
                            s.spawn(move |s| list(s, root, child, ex, out, seen));
                        }
                        found.push(Found {
                            path,
                            meta: Some(m),
                            problem: None,
                        });
                    }
                    Err(e) => found.push(problem(path, &e)),
                }
            }
        }
        Err(e) => {
            // The directory itself is listed by its parent; record why its content is unknown.
            found.push(problem(rel, &e));
        }
    }
    seen.fetch_add(found.len() as u64, Ordering::Relaxed);
    if let Ok(mut o) = out.lock() {
        o.extend(found);
    }
}

fn problem(path: Vec<u8>, e: &std::io::Error) -> Found {
    Found {
        path,
        meta: None,
        problem: Some(Problem::Unreadable(e.to_string())),
    }
}
