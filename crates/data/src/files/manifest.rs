//! Building a tree's manifest on the host that holds it: a parallel walk, content hashes on
//! every core (with the [`HashCache`]), sorted by raw path bytes so that two manifests can
//! be compared by a streaming merge, and a digest over everything the comparison looks at.

use super::beneath::Tree;
use super::cache::HashCache;
use super::entry::{Entry, Kind, Problem};
use super::exclude::Excludes;
use super::hash::{hash_file, Algorithm, Hashed, Stamp};
use super::owners::Owners;
use super::walk::{walk, Found};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How owners are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OwnerCheck {
    /// By user and group name where the host has one, else by number (rsync's default).
    #[default]
    Names,
    /// By numeric uid and gid.
    Numeric,
    /// Not at all.
    Ignore,
}

/// Which attributes the proof covers besides type, size, symlink target and content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compare {
    /// Permission bits.
    pub mode: bool,
    /// Owner and group.
    pub owner: OwnerCheck,
    /// Modification times (of files and symlinks).
    pub mtime: bool,
}

impl Default for Compare {
    fn default() -> Self {
        Compare {
            mode: true,
            owner: OwnerCheck::Names,
            mtime: false,
        }
    }
}

/// What to build.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ManifestOptions {
    /// Content hash.
    pub algorithm: Algorithm,
    /// Exclusion globs.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Use and update the host's hash cache.
    pub cache: bool,
    /// What the digest covers.
    pub compare: Compare,
}

/// The figures of one manifest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The tree's root on its host.
    pub root: String,
    /// Entries (files, directories, links... including the root).
    pub entries: u64,
    /// Regular files.
    pub files: u64,
    /// Directories.
    pub dirs: u64,
    /// Symlinks.
    pub symlinks: u64,
    /// Bytes in regular files.
    pub bytes: u64,
    /// Entries whose content could not be established (unreadable, unstable).
    pub problems: u64,
    /// Files hashed now (the rest came from the cache).
    pub hashed_files: u64,
    /// Bytes hashed now.
    pub hashed_bytes: u64,
    /// Files whose hash came from the cache.
    pub cached_files: u64,
    /// Digest (in the manifest's algorithm) of every entry in order: equal digests mean
    /// equal trees.
    pub digest: String,
    /// Seconds taken on the host.
    pub seconds: f64,
}

/// A tree's manifest.
pub struct Manifest {
    /// Entries sorted by raw path bytes.
    pub entries: Vec<Entry>,
    /// Its figures.
    pub summary: Summary,
}

/// Why no manifest could be built.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The root does not exist.
    #[error("`{0}` does not exist")]
    Missing(String),
    /// The root cannot be read.
    #[error("cannot read `{path}`: {source}")]
    Unreadable {
        /// The root.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// An exclusion pattern is wrong.
    #[error("{0}")]
    BadExclude(String),
}

/// Progress while building: entries seen and bytes hashed so far.
pub type ProgressFn<'a> = &'a (dyn Fn(u64, u64) + Sync);

/// Builds the manifest of the tree at `root`.
pub fn build(
    root: &Path,
    opts: &ManifestOptions,
    progress: ProgressFn<'_>,
) -> Result<Manifest, ManifestError> {
    build_with(root, opts, true, progress)
}

/// Like [`build`]; with `hash` false, files are listed without their content hash (what a
/// sync compares by size and mtime needs).
pub fn build_with(
    root: &Path,
    opts: &ManifestOptions,
    hash: bool,
    progress: ProgressFn<'_>,
) -> Result<Manifest, ManifestError> {
    let started = Instant::now();
    let shown = root.display().to_string();
    let unreadable = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => ManifestError::Missing(shown.clone()),
        _ => ManifestError::Unreadable {
            path: shown.clone(),
            source: e,
        },
    };
    let tree = Tree::open(root).map_err(unreadable)?;
    let meta = tree.root_stat().map_err(unreadable)?;
    let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let excludes = Excludes::new(&opts.exclude).map_err(ManifestError::BadExclude)?;
    let owners = Owners::load();
    let seen = AtomicU64::new(0);
    let hashed = AtomicU64::new(0);
    let (done_tx, done) = std::sync::mpsc::channel::<()>();
    let (mut entries, cache, counts) = std::thread::scope(|s| {
        let (seen, hashed) = (&seen, &hashed);
        s.spawn(move || report_progress(done, seen, hashed, progress));
        let walked = walk(&tree, &meta, &excludes, seen);
        let r = hash_all(&root, &tree, walked, opts, hash, &owners, hashed);
        drop(done_tx);
        r
    });
    entries.par_sort_unstable_by(|a, b| a.path.cmp(&b.path));
    if opts.cache && hash {
        let live: std::collections::HashSet<&[u8]> =
            entries.iter().map(|e| e.path.as_slice()).collect();
        let mut cache = cache;
        cache.retain(|p| live.contains(p));
        if let Err(e) = cache.save() {
            tracing::warn!("could not save the hash cache: {e}");
        }
    }
    let summary = summarize(&shown, &entries, opts, counts, started.elapsed());
    Ok(Manifest { entries, summary })
}

fn report_progress(
    done: std::sync::mpsc::Receiver<()>,
    seen: &AtomicU64,
    hashed: &AtomicU64,
    f: ProgressFn<'_>,
) {
    // Wakes at once when the work is done (the sender is dropped), else every 500 ms.
    while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
        done.recv_timeout(Duration::from_millis(500))
    {
        f(seen.load(Ordering::Relaxed), hashed.load(Ordering::Relaxed));
    }
}

thread_local! {
    static READ_BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A file's hash, the stamp it was taken under, and whether it was computed now (else it
/// came from the cache).
type HashOutcome = (Stamp, [u8; 32], bool);

/// Counters gathered while hashing.
#[derive(Default, Clone, Copy)]
struct Counts {
    hashed_files: u64,
    hashed_bytes: u64,
    cached_files: u64,
}

fn hash_all(
    root: &Path,
    tree: &Tree,
    found: Vec<Found>,
    opts: &ManifestOptions,
    hash: bool,
    owners: &Owners,
    hashed: &AtomicU64,
) -> (Vec<Entry>, HashCache, Counts) {
    let mut cache = if opts.cache && hash {
        HashCache::open(root, opts.algorithm)
    } else {
        HashCache::disabled()
    };
    let now_ns = now_ns();
    // A directory that could not be listed appears twice (its entry and its problem): keep
    // the problem, which is what matters.
    let results: Vec<(Entry, Option<HashOutcome>)> = found
        .into_par_iter()
        .map(|f| {
            // One read buffer per pool thread, reused for every file it hashes.
            READ_BUF.with(|buf| {
                let buf = &mut buf.borrow_mut();
                to_entry(
                    tree,
                    f,
                    hash.then_some(opts.algorithm),
                    &cache,
                    owners,
                    buf,
                    hashed,
                )
            })
        })
        .collect();
    let mut counts = Counts::default();
    let mut entries = Vec::with_capacity(results.len());
    for (entry, hashed) in results {
        if let Some((stamp, hash, fresh)) = hashed {
            if fresh {
                counts.hashed_files += 1;
                counts.hashed_bytes += stamp.size;
                cache.put(&entry.path, stamp, hash, now_ns);
            } else {
                counts.cached_files += 1;
            }
        }
        entries.push(entry);
    }
    dedup_problems(&mut entries);
    (entries, cache, counts)
}

/// Keeps one entry per path: a directory that could not be listed was found twice (by its
/// parent, with its metadata, and by itself, with the problem); merge the two.
fn dedup_problems(entries: &mut Vec<Entry>) {
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    entries.dedup_by(|later, first| {
        if later.path != first.path {
            return false;
        }
        if first.problem.is_none() {
            first.problem = later.problem.take();
        }
        if first.mtime_ns == 0 && first.mode == 0 {
            std::mem::swap(&mut first.kind, &mut later.kind);
            first.mode = later.mode;
            first.uid = later.uid;
            first.gid = later.gid;
            first.user = later.user.take();
            first.group = later.group.take();
            first.mtime_ns = later.mtime_ns;
        }
        true
    });
}

fn to_entry(
    tree: &Tree,
    f: Found,
    alg: Option<Algorithm>,
    cache: &HashCache,
    owners: &Owners,
    buf: &mut Vec<u8>,
    hashed: &AtomicU64,
) -> (Entry, Option<HashOutcome>) {
    let Some(st) = f.stat else {
        let mut e = bare(f.path, Kind::File);
        e.problem = f.problem;
        return (e, None);
    };
    let kind = Kind::from_mode(st.st_mode);
    let mut e = Entry {
        kind,
        size: if matches!(kind, Kind::File | Kind::Symlink) {
            st.st_size as u64
        } else {
            0
        },
        mode: st.st_mode & 0o7777,
        uid: st.st_uid,
        gid: st.st_gid,
        user: owners.user(st.st_uid),
        group: owners.group(st.st_gid),
        mtime_ns: st.st_mtime * 1_000_000_000 + st.st_mtime_nsec as i64,
        rdev: if matches!(kind, Kind::CharDevice | Kind::BlockDevice) {
            st.st_rdev
        } else {
            0
        },
        ..bare(f.path, kind)
    };
    let mut outcome = None;
    match kind {
        Kind::Symlink => match tree.read_link(&e.path) {
            Ok(t) => e.target = Some(t),
            Err(err) => e.problem = Some(Problem::Unreadable(err.to_string())),
        },
        Kind::File if alg.is_some() => {
            let alg = alg.unwrap_or_default();
            let stamp = Stamp::of(&st);
            if let Some(h) = cache.get(&e.path, &stamp) {
                e.hash = Some(h);
                outcome = Some((stamp, h, false));
            } else {
                match hash_file(tree, &e.path, alg, buf) {
                    Hashed::Done(h, stamp) => {
                        hashed.fetch_add(stamp.size, Ordering::Relaxed);
                        // What was hashed is the file as it stood then.
                        e.size = stamp.size;
                        e.mtime_ns = stamp.mtime_ns;
                        e.hash = Some(h);
                        outcome = Some((stamp, h, true));
                    }
                    Hashed::Unstable => e.problem = Some(Problem::Unstable),
                    Hashed::Failed(err) => e.problem = Some(Problem::Unreadable(err.to_string())),
                }
            }
        }
        _ => {}
    }
    (e, outcome)
}

fn bare(path: Vec<u8>, kind: Kind) -> Entry {
    Entry {
        path,
        kind,
        size: 0,
        mode: 0,
        uid: 0,
        gid: 0,
        user: None,
        group: None,
        mtime_ns: 0,
        rdev: 0,
        target: None,
        hash: None,
        problem: None,
    }
}

/// `root/rel` (`root` itself for the empty path).
pub fn full_path(root: &Path, rel: &[u8]) -> PathBuf {
    if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(std::ffi::OsStr::from_bytes(rel))
    }
}

/// Nanoseconds since the epoch.
pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

fn summarize(
    root: &str,
    entries: &[Entry],
    opts: &ManifestOptions,
    c: Counts,
    took: Duration,
) -> Summary {
    let mut s = Summary {
        root: root.to_string(),
        hashed_files: c.hashed_files,
        hashed_bytes: c.hashed_bytes,
        cached_files: c.cached_files,
        seconds: took.as_secs_f64(),
        ..Summary::default()
    };
    let mut digest = super::hash::Hasher::new(opts.algorithm);
    let mut line = Vec::new();
    for e in entries {
        s.entries += 1;
        match e.kind {
            Kind::File => {
                s.files += 1;
                s.bytes += e.size;
            }
            Kind::Dir => s.dirs += 1,
            Kind::Symlink => s.symlinks += 1,
            _ => {}
        }
        if e.problem.is_some() {
            s.problems += 1;
        }
        line.clear();
        super::compare::canonical(e, &opts.compare, &mut line);
        digest.update(&line);
    }
    s.digest = super::entry::hex(&digest.finish());
    s
}
