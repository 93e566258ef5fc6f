//! Server logs shown when a test fails: a failing assertion about a migration is only
//! understandable next to what sshd, PostgreSQL or the proxy said at the time.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

/// How much of the end of each log is shown.
const TAIL_BYTES: u64 = 16 * 1024;
const TAIL_LINES: usize = 60;

/// Named log files, shared by a lab and its hosts (which register their spawned servers' logs).
#[derive(Debug, Clone, Default)]
pub(crate) struct LogRegistry(Arc<Mutex<Vec<(String, PathBuf)>>>);

impl LogRegistry {
    pub(crate) fn add(&self, name: String, path: PathBuf) {
        // A panic while holding this lock cannot leave the list half-written: use it anyway.
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((name, path));
    }

    pub(crate) fn entries(&self) -> Vec<(String, PathBuf)> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// The last lines of `path` (at most [`TAIL_LINES`] from its last [`TAIL_BYTES`]), or a note
/// saying why it could not be read. Never fails: it runs while a test is already failing.
pub(crate) fn tail(path: &Path) -> String {
    match read_tail(path) {
        Ok(text) if text.trim().is_empty() => "(empty)".to_string(),
        Ok(text) => text,
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

fn read_tail(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(TAIL_BYTES)))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    Ok(lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n"))
}

/// One log framed by its name and path, for stderr.
pub(crate) fn framed(name: &str, path: &Path) -> String {
    let mut out = format!("----- {name} ({}) -----\n", path.display());
    for line in tail(path).lines() {
        out.push_str("| ");
        out.push_str(line);
        out.push('\n');
    }
    out.push_str(&format!("----- end of {name} -----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_lines_and_never_fails() {
        let dir = std::env::temp_dir().join(format!("cutover-testbed-logs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("log");
        let text: String = (1..=100).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&path, text).expect("write");
        let t = tail(&path);
        assert!(t.starts_with("line 41\n") && t.ends_with("line 100"), "{t}");
        assert!(framed("old: sshd", &path).contains("| line 100\n----- end of old: sshd -----"));
        assert!(tail(&dir.join("missing")).starts_with("(cannot read"));
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
