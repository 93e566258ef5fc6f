//! The embedded journal: one SQLite file next to the plan (mode 0600), written with
//! `synchronous=FULL` so that an event is on disk before the step that follows it starts.
//! Triggers make the events table append-only; the checkpoints table holds the one mutable
//! thing, each long step's latest working state.

use crate::event::{now_ms, Event, Record, RunInfo};
use crate::lock::{acquire, Holder, LockGuard};
use crate::{Journal, JournalError, RedactFn};
use rusqlite::{params, Connection, OptionalExtension};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    plan TEXT NOT NULL,
    started_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    run TEXT NOT NULL REFERENCES runs(id),
    at_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    step TEXT,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_run ON events(run, seq);
CREATE TABLE IF NOT EXISTS checkpoints (
    run TEXT NOT NULL REFERENCES runs(id),
    step TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (run, step)
);
CREATE TRIGGER IF NOT EXISTS events_append_only_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
CREATE TRIGGER IF NOT EXISTS events_append_only_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
CREATE TRIGGER IF NOT EXISTS runs_append_only_update BEFORE UPDATE ON runs
BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
CREATE TRIGGER IF NOT EXISTS runs_append_only_delete BEFORE DELETE ON runs
BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
";

/// Crash-testing hook: with `CUTOVER_TEST_CRASH_AFTER_EVENTS=N` set, the process aborts
/// (no cleanup, like `kill -9`) right after its N-th event is durable. The resume tests use it
/// to stop a real run at every point between two journal writes.
const CRASH_ENV: &str = "CUTOVER_TEST_CRASH_AFTER_EVENTS";

/// The SQLite journal.
pub struct SqliteJournal {
    conn: Mutex<Connection>,
    path: PathBuf,
    redact: Option<RedactFn>,
    crash_after: Option<u64>,
    appended: std::sync::atomic::AtomicU64,
}

impl SqliteJournal {
    /// Opens (creating if needed, with mode 0600) the journal at `path`.
    pub fn open(path: &Path) -> Result<Self, JournalError> {
        let err = |message: String| JournalError::Storage {
            path: path.display().to_string(),
            message,
        };
        // Create the file ourselves so it is private from its first byte; SQLite gives its
        // -wal and -shm files the same mode.
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| err(format!("cannot create: {e}")))?;
        let conn = Connection::open(path).map_err(|e| err(e.to_string()))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(|e| err(e.to_string()))?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;",
        )
        .map_err(|e| err(e.to_string()))?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| err(e.to_string()))?;
        if version > SCHEMA_VERSION {
            return Err(JournalError::TooNew {
                path: path.display().to_string(),
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        conn.execute_batch(SCHEMA).map_err(|e| err(e.to_string()))?;
        conn.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))
            .map_err(|e| err(e.to_string()))?;
        Ok(SqliteJournal {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
            redact: None,
            crash_after: std::env::var(CRASH_ENV).ok().and_then(|v| v.parse().ok()),
            appended: Default::default(),
        })
    }

    /// Redacts every event with `redact` before it is written.
    pub fn with_redactor(mut self, redact: RedactFn) -> Self {
        self.redact = Some(redact);
        self
    }

    /// Where the journal is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock_path(&self) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(".lock");
        PathBuf::from(p)
    }

    fn err(&self, e: impl std::fmt::Display) -> JournalError {
        JournalError::Storage {
            path: self.path.display().to_string(),
            message: e.to_string(),
        }
    }

    /// `text` with every secret the redactor knows replaced, before it is stored.
    fn redacted(&self, text: String) -> String {
        match &self.redact {
            Some(redact) => redact(&text),
            None => text,
        }
    }

    fn conn(&self) -> Result<std::sync::MutexGuard<'_, Connection>, JournalError> {
        self.conn
            .lock()
            .map_err(|_| self.err("journal connection poisoned"))
    }
}

/// A run id that sorts by time and reads as one: `20261122T104501Z-3fa2`.
fn new_run_id() -> String {
    let now = std::time::SystemTime::now();
    let stamp = humantime::format_rfc3339_seconds(now).to_string();
    let compact: String = stamp
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    let nanos = now
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{compact}-{:04x}", (nanos ^ std::process::id()) & 0xffff)
}

impl Journal for SqliteJournal {
    fn create_run(&self, plan: &str) -> Result<RunInfo, JournalError> {
        let info = RunInfo {
            id: new_run_id(),
            plan: plan.to_string(),
            started_ms: now_ms(),
        };
        self.conn()?
            .execute(
                "INSERT INTO runs (id, plan, started_ms) VALUES (?1, ?2, ?3)",
                params![info.id, info.plan, info.started_ms],
            )
            .map_err(|e| self.err(e))?;
        Ok(info)
    }

    fn runs(&self) -> Result<Vec<RunInfo>, JournalError> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare("SELECT id, plan, started_ms FROM runs ORDER BY started_ms, rowid")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(RunInfo {
                    id: r.get(0)?,
                    plan: r.get(1)?,
                    started_ms: r.get(2)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    fn append(&self, run: &str, event: &Event) -> Result<Record, JournalError> {
        let body = self.redacted(serde_json::to_string(event).map_err(|e| self.err(e))?);
        // Read back what is stored, so the caller sees exactly what the journal holds.
        let event: Event = serde_json::from_str(&body).map_err(|e| self.err(e))?;
        let at_ms = now_ms();
        let conn = self.conn()?;
        conn.execute(
            "INSERT INTO events (run, at_ms, kind, step, body) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![run, at_ms, event.name(), event.step(), body],
        )
        .map_err(|e| self.err(e))?;
        let n = self
            .appended
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1;
        if self.crash_after == Some(n) {
            std::process::abort();
        }
        Ok(Record {
            seq: conn.last_insert_rowid(),
            run: run.to_string(),
            at_ms,
            event,
        })
    }

    fn events(&self, run: &str) -> Result<Vec<Record>, JournalError> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare("SELECT seq, at_ms, body FROM events WHERE run = ?1 ORDER BY seq")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([run], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, at_ms, body) = row.map_err(|e| self.err(e))?;
            let event = serde_json::from_str(&body)
                .map_err(|e| self.err(format!("event {seq} is unreadable: {e}")))?;
            out.push(Record {
                seq,
                run: run.to_string(),
                at_ms,
                event,
            });
        }
        Ok(out)
    }

    fn save_checkpoint(&self, run: &str, step: &str, body: &str) -> Result<(), JournalError> {
        let body = self.redacted(body.to_string());
        self.conn()?
            .execute(
                "INSERT INTO checkpoints (run, step, at_ms, body) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (run, step) DO UPDATE SET at_ms = excluded.at_ms, body = excluded.body",
                params![run, step, now_ms(), body],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    fn checkpoint(&self, run: &str, step: &str) -> Result<Option<String>, JournalError> {
        self.conn()?
            .query_row(
                "SELECT body FROM checkpoints WHERE run = ?1 AND step = ?2",
                params![run, step],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    fn lock(&self, holder: Holder) -> Result<LockGuard, JournalError> {
        acquire(&self.lock_path(), holder)
    }

    fn holder(&self) -> Option<Holder> {
        crate::lock::probe(&self.lock_path())
    }

    fn latest_run(&self) -> Result<Option<RunInfo>, JournalError> {
        self.conn()?
            .query_row(
                "SELECT id, plan, started_ms FROM runs ORDER BY started_ms DESC, rowid DESC LIMIT 1",
                [],
                |r| {
                    Ok(RunInfo {
                        id: r.get(0)?,
                        plan: r.get(1)?,
                        started_ms: r.get(2)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))
    }
}
