//! Logs followed over SSH during a soak, through the executor: a file (`tail -n0 -F`), a
//! command that prints the log (`journalctl -fu app`) or a Compose service's log (`docker
//! compose logs -f`), a command started again if it ends, counting lines that contain any of
//! the patterns, with their times, for `log_matches` triggers.

use crate::soak::LogSource;
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

/// How long a log command that ended waits before it is started again.
const RESTART: Duration = Duration::from_secs(1);

/// Starts following `source` on `host`; lines containing any of `patterns` are counted.
pub async fn tail(
    exec: &Executor,
    host: &str,
    source: &LogSource,
    patterns: Vec<String>,
    sudo: bool,
) -> Result<LogTail, String> {
    let (cmd, label) = match source {
        LogSource::File(path) => (
            Command::new(
                host,
                vec!["tail".into(), "-n0".into(), "-F".into(), path.clone()],
            ),
            format!("{host}:{path}"),
        ),
        LogSource::Command(script) => (
            Command::shell(host, script.clone()),
            format!("{host}$ {script}"),
        ),
        LogSource::Follow { label, command } => (command.clone(), format!("{host}:{label}")),
    };
    let cmd = cmd.sudo(sudo);
    let first = exec
        .spawn(&cmd)
        .await
        .map_err(|e| format!("cannot follow {label}: {e}"))?;
    let matches = Arc::new(Mutex::new(Matches::default()));
    let redactor = exec.redactor().clone();
    let sink = matches.clone();
    let exec = exec.clone();
    let task = tokio::spawn(async move {
        let mut spawned = Some(first);
        loop {
            let Some(running) = spawned.take() else {
                tokio::time::sleep(RESTART).await;
                spawned = exec.spawn(&cmd).await.ok();
                continue;
            };
            let mut child = running.child;
            let mut lines = BufReader::new(running.stdout).lines();
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
            // The log ended (the command exited, the connection dropped): follow it again.
        }
    });
    Ok(LogTail {
        matches,
        label,
        task,
    })
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
