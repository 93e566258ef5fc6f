//! Temporary names on the target, and the receiver's record of which ones are its own.
//!
//! Everything a sync writes first goes under a temporary name in the directory where it
//! belongs (`.NAME.TOKEN.cutover-part`), then is renamed into place, so a cut-off sync never
//! leaves a half-written file under a real name. TOKEN is random per receiving run, and the
//! receiver keeps its tokens, and the large partial files it may resume, in a record outside
//! the tree (`~/.cache/cutover/partials/`, 0700): only names carrying one of its own tokens
//! are ever treated as temporary. A user's file that merely looks like one (any name the
//! source can hold) is synced, kept and never deleted as "stale". The record's lock also
//! keeps two receivers out of the same tree.

use super::Fail;
use crate::files::entry::{hex, unhex};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The suffix of every temporary name.
pub const SUFFIX: &[u8] = b".cutover-part";
/// Hex digits of a run's token.
const TOKEN_LEN: usize = 16;
/// How long a receiver waits for another one writing into the same tree.
const LOCK_WAIT: Duration = Duration::from_secs(30);
/// The largest record read back (it lists tokens and partial files, a few bytes each).
const MAX_RECORD: u64 = 16 << 20;

/// What the record holds.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Record {
    /// Tokens of runs that did not finish cleanly (their litter may remain).
    tokens: Vec<String>,
    /// Partial copies kept for resuming: (real path, temporary path), hex.
    partials: Vec<(String, String)>,
}

/// A receiving run's temporary names.
pub struct Staging {
    token: String,
    file: Option<PathBuf>,
    record: Record,
    _lock: Option<File>,
}

impl Staging {
    /// The staging of a run into `root`: waits for any other receiver of the same tree,
    /// then records this run's token before anything is written.
    pub fn open(root: &Path) -> Result<Staging, Fail> {
        let token = hex(&super::wire::random_bytes::<8>().map_err(Fail::io("randomness"))?);
        let Some(dir) = record_dir() else {
            // No home directory: this run's own names are still recognized.
            return Ok(Staging {
                token,
                file: None,
                record: Record::default(),
                _lock: None,
            });
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(Fail::io("creating the staging record directory"))?;
        let canonical = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
        let key = blake3::hash(canonical.as_os_str().as_encoded_bytes()).to_hex();
        let file = dir.join(format!("{}.json", &key[..24]));
        let lock = lock(&file.with_extension("lock"), root)?;
        let record = read_record(&file);
        let mut s = Staging {
            token,
            file: Some(file),
            record,
            _lock: Some(lock),
        };
        s.record.tokens.push(s.token.clone());
        s.save()?;
        Ok(s)
    }

    /// The temporary name of `name` for this run (shortened so that it stays a legal name).
    pub fn temp_name(&self, name: &[u8]) -> Vec<u8> {
        let room = crate::files::beneath::MAX_NAME - 2 - TOKEN_LEN - SUFFIX.len();
        let mut n = Vec::with_capacity(crate::files::beneath::MAX_NAME);
        n.push(b'.');
        n.extend_from_slice(&name[..name.len().min(room)]);
        n.push(b'.');
        n.extend_from_slice(self.token.as_bytes());
        n.extend_from_slice(SUFFIX);
        n
    }

    /// Whether the last component of `rel` is a temporary name of this run or of an
    /// earlier one of this tree that did not finish.
    pub fn is_ours(&self, rel: &[u8]) -> bool {
        let name = crate::files::beneath::split_last(rel).1;
        let Some(stem) = name.strip_suffix(SUFFIX) else {
            return false;
        };
        if stem.len() < TOKEN_LEN + 2 || stem[0] != b'.' {
            return false;
        }
        let (head, token) = stem.split_at(stem.len() - TOKEN_LEN);
        if head.last() != Some(&b'.') {
            return false;
        }
        token == self.token.as_bytes() || self.record.tokens.iter().any(|t| t.as_bytes() == token)
    }

    /// Partial copies kept by earlier runs: (real path, temporary path).
    pub fn partials(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.record
            .partials
            .iter()
            .filter_map(|(r, t)| Some((unhex(r)?, unhex(t)?)))
            .collect()
    }

    /// Records that `temp` holds the beginning of `real`, to be resumed if the run is cut
    /// off (written before the data, so that even a killed receiver leaves it known).
    pub fn keep(&mut self, real: &[u8], temp: &[u8]) -> Result<(), Fail> {
        self.forget_partial(real);
        self.record.partials.push((hex(real), hex(temp)));
        self.save()
    }

    /// `real`'s partial copy is gone (completed or removed); saved with the next change.
    pub fn forget_partial(&mut self, real: &[u8]) {
        let h = hex(real);
        self.record.partials.retain(|(r, _)| *r != h);
    }

    /// The run finished and removed every temporary name it knew of: the record is empty.
    pub fn finished(&mut self) -> Result<(), Fail> {
        self.record = Record::default();
        self.save()
    }

    fn save(&self) -> Result<(), Fail> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let tmp = file.with_extension("tmp");
        let bytes = serde_json::to_vec(&self.record).map_err(|e| Fail::new(e.to_string(), "io"))?;
        let write = || -> std::io::Result<()> {
            let mut f = File::options()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_data()?;
            std::fs::rename(&tmp, file)
        };
        write().map_err(Fail::io("saving the staging record"))
    }
}

fn record_dir() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_CACHE_HOME") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(std::env::var_os("HOME")?).join(".cache"),
    };
    Some(base.join("cutover").join("partials"))
}

fn read_record(file: &Path) -> Record {
    use std::io::Read;
    let mut bytes = Vec::new();
    let read = File::options()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(file)
        .and_then(|f| f.take(MAX_RECORD).read_to_end(&mut bytes));
    match read {
        Ok(_) => serde_json::from_slice(&bytes).unwrap_or_default(),
        Err(_) => Record::default(),
    }
}

/// Takes the tree's lock, waiting up to [`LOCK_WAIT`] for another receiver to finish.
fn lock(path: &Path, root: &Path) -> Result<File, Fail> {
    let f = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(Fail::io("opening the staging lock"))?;
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        match rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(f),
            Err(rustix::io::Errno::WOULDBLOCK) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(rustix::io::Errno::WOULDBLOCK) => {
                return Err(Fail::new(
                    format!(
                        "another sync has been writing into {} for over {}s; wait for it to end, or stop it",
                        root.display(),
                        LOCK_WAIT.as_secs()
                    ),
                    "busy",
                ))
            }
            Err(e) => return Err(Fail::io("locking the staging record")(e.into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_names_with_a_known_token_are_temporary() {
        let s = Staging {
            token: "0123456789abcdef".into(),
            file: None,
            record: Record {
                tokens: vec!["fedcba9876543210".into()],
                partials: Vec::new(),
            },
            _lock: None,
        };
        let t = s.temp_name(b"photo.jpg");
        assert_eq!(t, b".photo.jpg.0123456789abcdef.cutover-part");
        assert!(s.is_ours(&t));
        assert!(s.is_ours(b"d/.x.fedcba9876543210.cutover-part"));
        assert!(
            !s.is_ours(b".photo.jpg.cutover-part"),
            "a user's look-alike"
        );
        assert!(!s.is_ours(b".x.0000000000000000.cutover-part"));
        let long = s.temp_name(&[b'n'; 255]);
        assert_eq!(long.len(), 255);
        assert!(s.is_ours(&long));
    }
}
