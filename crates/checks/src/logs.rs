//! Logs followed over SSH during a soak (files with `tail -n0 -F`, Compose services with
//! `docker compose logs -f`, through the executor), counting lines that contain any of the
//! patterns, with their times, for `log_matches` triggers.

use cutover_exec::{Command, Executor};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

/// Matching lines seen so far: (unix ms, the line, redacted by the executor's redactor).
#[derive(Debug, Default)]
pub struct Matches {
    /// Recent matches, oldest first.
    pub lines: VecDeque<(i64, String)>,
    /// Every match since the tail started.
    pub total: u64,
}

impl Matches {
    /// Matches within the last `over` before `now_ms`.
    pub fn within(&self, now_ms: i64, over: Duration) -> usize {
        let from = now_ms - over.as_millis() as i64;
        self.lines.iter().filter(|(t, _)| *t >= from).count()
    }
}

/// A running tail; stops when dropped.
pub struct LogTail {
    /// Where its matches go.
    pub matches: Arc<Mutex<Matches>>,
    /// "host:path".
    pub label: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for LogTail {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts following `source` on `host` (`tail -n0 -F` for a file); lines containing any of
/// `patterns` are counted.
pub async fn tail(
    exec: &Executor,
    host: &str,
    source: &crate::soak::LogSource,
    patterns: Vec<String>,
    sudo: bool,
) -> Result<LogTail, String> {
    use crate::soak::LogSource;
    let (cmd, label) = match source {
        LogSource::File(path) => (
            Command::new(
                host,
                vec!["tail".into(), "-n0".into(), "-F".into(), path.into()],
            ),
            path.clone(),
        ),
        LogSource::Follow { label, command } => (command.clone(), label.clone()),
    };
    let cmd = cmd.sudo(sudo);
    let spawned = exec
        .spawn(&cmd)
        .await
        .map_err(|e| format!("cannot follow {label} on {host}: {e}"))?;
    let matches = Arc::new(Mutex::new(Matches::default()));
    let redactor = exec.redactor().clone();
    let sink = matches.clone();
    let task = tokio::spawn(async move {
        let mut child = spawned.child;
        let mut lines = BufReader::new(spawned.stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if patterns.iter().any(|p| line.contains(p.as_str())) {
                let mut m = sink.lock().unwrap_or_else(|e| e.into_inner());
                m.total += 1;
                m.lines.push_back((now_ms(), redactor.redact(&line)));
                while m.lines.len() > 10_000 {
                    m.lines.pop_front();
                }
            }
        }
        let _ = child.kill().await;
    });
    Ok(LogTail {
        matches,
        label: format!("{host}:{label}"),
        task,
    })
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
