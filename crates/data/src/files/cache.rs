//! The hash cache kept on each host, so re-verifying a tree after a small change rehashes
//! only what changed.
//!
//! One file per tree and algorithm under `~/.cache/cutover/manifests/` (directory 0700, file
//! 0600) maps each relative path to the (device, inode, size, mtime, ctime) it had when
//! hashed, and the hash. A cached hash is used only when all five still match. Why that is
//! safe: every write to a file updates its mtime and ctime, and although `touch -d` can put
//! the mtime back, nothing short of changing the system clock sets ctime; a file replaced
//! by another gets a new inode. One trap remains: timestamps advance in ticks (a few ms, up
//! to seconds on some file systems), so a file written twice within one tick keeps its
//! ctime. Hashes are therefore only recorded for files whose ctime was at least
//! [`SETTLED`] older than the moment they were stat'ed (the "racy git" rule); a file
//! changed more recently is hashed again next time. `cache = false` (`--no-cache`) ignores
//! the cache entirely.

use super::hash::{Algorithm, Stamp};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// How old a file's ctime must be, when stat'ed, for its hash to be recorded.
pub const SETTLED: std::time::Duration = std::time::Duration::from_secs(2);

const MAGIC: &[u8; 8] = b"COVRHC01";

/// Path -> (stamp when hashed, hash).
type Entries = HashMap<Vec<u8>, (Stamp, [u8; 32])>;

/// Cached hashes of one tree.
#[derive(Default)]
pub struct HashCache {
    file: Option<PathBuf>,
    entries: Entries,
    changed: bool,
}

impl HashCache {
    /// A cache that remembers nothing and is never written.
    pub fn disabled() -> Self {
        HashCache::default()
    }

    /// The cache of tree `root` (an absolute path) for `alg`, loaded from the user's cache
    /// directory; an unreadable or damaged cache file counts as empty.
    pub fn open(root: &Path, alg: Algorithm) -> Self {
        let Some(dir) = cache_dir() else {
            return Self::disabled();
        };
        let key = blake3::hash(root.as_os_str().as_encoded_bytes());
        let file = dir.join(format!("{}-{}.cache", &key.to_hex()[..24], alg.name()));
        let entries = std::fs::read(&file)
            .ok()
            .and_then(|bytes| decode(&bytes))
            .unwrap_or_default();
        HashCache {
            file: Some(file),
            entries,
            changed: false,
        }
    }

    /// The cached hash of `path`, if its stamp still matches.
    pub fn get(&self, path: &[u8], stamp: &Stamp) -> Option<[u8; 32]> {
        match self.entries.get(path) {
            Some((s, h)) if s == stamp => Some(*h),
            _ => None,
        }
    }

    /// Records a hash, if the file had settled when it was stat'ed at `now_ns`.
    pub fn put(&mut self, path: &[u8], stamp: Stamp, hash: [u8; 32], now_ns: i64) {
        if self.file.is_none() || stamp.ctime_ns > now_ns - SETTLED.as_nanos() as i64 {
            return;
        }
        if self.get(path, &stamp) != Some(hash) {
            self.entries.insert(path.to_vec(), (stamp, hash));
            self.changed = true;
        }
    }

    /// Keeps only the paths `keep` says are still in the tree.
    pub fn retain(&mut self, keep: impl Fn(&[u8]) -> bool) {
        let before = self.entries.len();
        self.entries.retain(|p, _| keep(p));
        self.changed |= self.entries.len() != before;
    }

    /// Writes the cache back if it changed (atomically: a temporary file renamed over it).
    pub fn save(&self) -> std::io::Result<()> {
        let (Some(file), true) = (&self.file, self.changed) else {
            return Ok(());
        };
        let dir = file.parent().unwrap_or(Path::new("."));
        create_private_dir(dir)?;
        let tmp = dir.join(format!(".tmp-{}", std::process::id()));
        let mut out = Vec::with_capacity(self.entries.len() * 96);
        out.extend_from_slice(MAGIC);
        for (path, (s, h)) in &self.entries {
            out.extend_from_slice(&(path.len() as u32).to_le_bytes());
            out.extend_from_slice(path);
            for v in [s.dev, s.ino, s.size] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            for v in [s.mtime_ns, s.ctime_ns] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            out.extend_from_slice(h);
        }
        {
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::File::options()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&out)?;
        }
        std::fs::rename(&tmp, file)
    }
}

/// `$XDG_CACHE_HOME/cutover/manifests`, else `~/.cache/cutover/manifests`.
fn cache_dir() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_CACHE_HOME") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(std::env::var_os("HOME")?).join(".cache"),
    };
    Some(base.join("cutover").join("manifests"))
}

/// Creates `dir` (and parents) readable by the owner only.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

fn decode(bytes: &[u8]) -> Option<Entries> {
    let mut rest = bytes.strip_prefix(MAGIC)?;
    let mut map = HashMap::new();
    let take = |n: usize, rest: &mut &[u8]| -> Option<Vec<u8>> {
        if rest.len() < n {
            return None;
        }
        let (a, b) = rest.split_at(n);
        *rest = b;
        Some(a.to_vec())
    };
    while !rest.is_empty() {
        let len = u32::from_le_bytes(take(4, &mut rest)?.try_into().ok()?) as usize;
        let path = take(len, &mut rest)?;
        let mut n = [0u64; 5];
        for v in &mut n {
            *v = u64::from_le_bytes(take(8, &mut rest)?.try_into().ok()?);
        }
        let hash: [u8; 32] = take(32, &mut rest)?.try_into().ok()?;
        let stamp = Stamp {
            dev: n[0],
            ino: n[1],
            size: n[2],
            mtime_ns: n[3] as i64,
            ctime_ns: n[4] as i64,
        };
        map.insert(path, (stamp, hash));
    }
    Some(map)
}
