//! The plan lock: an exclusive `flock` on a file beside an SQLite journal, or an advisory
//! lock held by a session of a PostgreSQL journal (see [`crate::pg`]). The kernel (or the
//! server) releases it when the holder exits, however it exits, so a killed `apply` never
//! leaves a stale lock.

use crate::JournalError;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Who holds a lock: written into the lock file for the next comer's error message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Holder {
    /// Process id.
    pub pid: u32,
    /// user@machine.
    pub operator: String,
    /// What it is doing (`apply`, `rollback`).
    pub command: String,
    /// Since when (unix ms).
    pub since_ms: i64,
}

impl Holder {
    /// This process, doing `command`.
    pub fn me(command: &str) -> Self {
        Holder {
            pid: std::process::id(),
            operator: operator(),
            command: command.to_string(),
            since_ms: crate::now_ms(),
        }
    }
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`cutover {}` (pid {}, {}) since {}",
            self.command,
            self.pid,
            self.operator,
            crate::format_ms(self.since_ms)
        )
    }
}

/// user@machine of this process.
pub fn operator() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .or_else(user_from_passwd)
        .unwrap_or_else(|| "unknown".into());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    format!("{user}@{host}")
}

/// The name of this process's user in /etc/passwd (when USER is unset, as under cron).
fn user_from_passwd() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self").ok()?.uid().to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        (f.nth(1)? == uid).then(|| name.to_string())
    })
}

/// A held lock; dropping it releases the lock.
#[derive(Debug)]
pub struct LockGuard {
    held: Held,
}

/// What holds the lock while the guard lives.
#[derive(Debug)]
enum Held {
    /// The open, locked file.
    File { _file: File, path: PathBuf },
    /// The PostgreSQL session holding the advisory lock.
    Session { _session: crate::pg::LockSession },
}

impl LockGuard {
    /// A lock held by a PostgreSQL session.
    pub(crate) fn session(session: crate::pg::LockSession) -> Self {
        LockGuard {
            held: Held::Session { _session: session },
        }
    }

    /// The lock file, for a file lock.
    pub fn path(&self) -> Option<&Path> {
        match &self.held {
            Held::File { path, .. } => Some(path),
            Held::Session { .. } => None,
        }
    }
}

const PATIENCE: std::time::Duration = std::time::Duration::from_millis(500);

fn read_holder(file: &mut File) -> Holder {
    let mut text = String::new();
    let _ = file.rewind();
    let _ = file.read_to_string(&mut text);
    serde_json::from_str(&text).unwrap_or(Holder {
        pid: 0,
        operator: "unknown".into(),
        command: "?".into(),
        since_ms: 0,
    })
}

/// Who holds the lock at `path` right now, without taking it for longer than a probe.
pub fn probe(path: &Path) -> Option<Holder> {
    let mut file = File::open(path).ok()?;
    match file.try_lock() {
        Ok(()) => None,
        Err(std::fs::TryLockError::WouldBlock) => Some(read_holder(&mut file)),
        Err(std::fs::TryLockError::Error(_)) => None,
    }
}

/// Takes the lock at `path` for `holder`.
pub fn acquire(path: &Path, holder: Holder) -> Result<LockGuard, JournalError> {
    let storage = |e: std::io::Error| JournalError::Storage {
        path: path.display().to_string(),
        message: format!("cannot open the lock file: {e}"),
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(storage)?;
    // A `status` probing the lock holds it for microseconds: be patient for a moment before
    // reporting contention.
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(JournalError::Locked {
                    holder: read_holder(&mut file),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(storage(e)),
        }
    }
    let text = serde_json::to_string(&holder).unwrap_or_default();
    file.set_len(0).map_err(storage)?;
    file.rewind().map_err(storage)?;
    file.write_all(text.as_bytes()).map_err(storage)?;
    file.sync_all().map_err(storage)?;
    Ok(LockGuard {
        held: Held::File {
            _file: file,
            path: path.to_path_buf(),
        },
    })
}
