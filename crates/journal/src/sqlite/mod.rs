//! The embedded journal: one SQLite file next to the plan (mode 0600), written with
//! `synchronous=FULL` so that an event is on disk before the step that follows it starts.
//! Triggers make the events table append-only and each event is hash-chained to the one
//! before (see [`crate::chain`]); the checkpoints table holds the one mutable thing, each
//! long step's latest working state. Commands that only read (`check`, `plan`, `status`,
//! `report`) open it read-only, and never create it.

mod schema;

use crate::chain::{ChainStatus, EventRow, Verifier};
use crate::crash::CrashHook;
use crate::event::{new_run_id, now_ms, Event, Record, RunInfo};
use crate::lock::{acquire, Holder, LockGuard};
use crate::{Journal, JournalError, RedactFn};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The SQLite journal.
pub struct SqliteJournal {
    conn: Mutex<Connection>,
    path: PathBuf,
    /// Opened by a command that only reads: every write is refused.
    read_only: bool,
    /// The schema version of the file (1: written before the hash chain, read-only here).
    version: i64,
    redact: Option<RedactFn>,
    crash: CrashHook,
}

impl SqliteJournal {
    /// Opens the journal at `path` for writing, creating it (mode 0600) when there is no
    /// file; a file that is not a complete journal is refused, a wider mode narrowed to
    /// 0600, and a version 1 journal upgraded (its events stay outside the hash chain).
    pub fn open(path: &Path) -> Result<Self, JournalError> {
        if !path.exists() {
            schema::create(path)?;
        }
        schema::recognize_file(path)?;
        schema::make_private(path)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(path, flags).map_err(|e| storage(path, e))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(|e| storage(path, e))?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;",
        )
        .map_err(|e| storage(path, e))?;
        if schema::recognize_schema(&conn, path)? < schema::SCHEMA_VERSION {
            schema::upgrade(&mut conn, path)?;
        }
        Ok(Self::with(conn, path, false, schema::SCHEMA_VERSION))
    }

    /// Opens the journal at `path` for reading only: nothing is created or written, so a
    /// plan in a directory this user cannot write can be checked and looked at. With no file
    /// there, the journal reads as empty (no run yet); a file that is not a complete journal
    /// is refused, as by [`SqliteJournal::open`].
    pub fn open_read_only(path: &Path) -> Result<Self, JournalError> {
        if !path.exists() {
            let conn = Connection::open_in_memory().map_err(|e| storage(path, e))?;
            schema::create_in(&conn).map_err(|e| storage(path, e))?;
            return Ok(Self::with(conn, path, true, schema::SCHEMA_VERSION));
        }
        schema::recognize_file(path)?;
        // Narrowing the mode needs no write access to the directory; when it fails, the
        // next `apply` does it or says why.
        let _ = schema::make_private(path);
        let conn = schema::open_for_reading(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(|e| storage(path, e))?;
        let version = schema::recognize_schema(&conn, path)?;
        Ok(Self::with(conn, path, true, version))
    }

    fn with(conn: Connection, path: &Path, read_only: bool, version: i64) -> Self {
        SqliteJournal {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
            read_only,
            version,
            redact: None,
            crash: CrashHook::from_env(),
        }
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

    /// Appends `event` to run `run` stamped `at_ms` rather than now: for importing a run and
    /// for tests that need a run spread over time. Redacted and chained like any event.
    pub fn append_at(&self, run: &str, event: &Event, at_ms: i64) -> Result<Record, JournalError> {
        self.writable()?;
        let body = self.redacted(serde_json::to_string(event).map_err(|e| self.err(e))?);
        // Read back what is stored, so the caller sees exactly what the journal holds.
        let event: Event = serde_json::from_str(&body).map_err(|e| self.err(e))?;
        let kind = event.name();
        let row = EventRow {
            seq: 0,
            run,
            at_ms,
            kind: &kind,
            step: event.step(),
            body: &body,
        };
        let seq = schema::insert_chained(&mut *self.conn()?, &self.path, row)?;
        self.crash.event_written();
        Ok(Record {
            seq,
            run: run.to_string(),
            at_ms,
            event,
        })
    }

    /// Adds run `info` as given (a new run, or one copied in).
    pub(crate) fn insert_run(&self, info: &RunInfo) -> Result<(), JournalError> {
        self.writable()?;
        self.conn()?
            .execute(
                "INSERT INTO runs (id, plan, started_ms) VALUES (?1, ?2, ?3)",
                params![info.id, info.plan, info.started_ms],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Run `run`'s events after sequence number `after`, in order.
    fn read_events(&self, run: &str, after: i64) -> Result<Vec<Record>, JournalError> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare("SELECT seq, at_ms, body FROM events WHERE run = ?1 AND seq > ?2 ORDER BY seq")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![run, after], |r| {
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

    fn lock_path(&self) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(".lock");
        PathBuf::from(p)
    }

    fn err(&self, e: impl std::fmt::Display) -> JournalError {
        storage(&self.path, e)
    }

    /// Refuses a write through a journal opened read-only (a bug in the command, not the
    /// user's doing).
    fn writable(&self) -> Result<(), JournalError> {
        match self.read_only {
            true => Err(self.err("opened read-only: this command does not write the journal")),
            false => Ok(()),
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

fn storage(path: &Path, e: impl std::fmt::Display) -> JournalError {
    JournalError::Storage {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

impl Journal for SqliteJournal {
    fn create_run(&self, plan: &str) -> Result<RunInfo, JournalError> {
        let info = RunInfo {
            id: new_run_id(),
            plan: plan.to_string(),
            started_ms: now_ms(),
        };
        self.insert_run(&info)?;
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
        self.append_at(run, event, now_ms())
    }

    fn events_after(&self, run: &str, after: i64) -> Result<Vec<Record>, JournalError> {
        self.read_events(run, after)
    }

    fn last_seq(&self) -> Result<i64, JournalError> {
        self.conn()?
            .query_row("SELECT coalesce(max(seq), 0) FROM events", [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    fn events(&self, run: &str) -> Result<Vec<Record>, JournalError> {
        self.read_events(run, i64::MIN)
    }

    fn save_checkpoint(&self, run: &str, step: &str, body: &str) -> Result<(), JournalError> {
        self.writable()?;
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
        self.writable()?;
        acquire(&self.lock_path(), holder)
    }

    fn verify_chain(&self) -> Result<ChainStatus, JournalError> {
        let conn = self.conn()?;
        if self.version < schema::SCHEMA_VERSION {
            // A version 1 journal read without upgrading it: nothing is chained yet.
            let n: i64 = conn
                .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
                .map_err(|e| self.err(e))?;
            return Ok(ChainStatus::Intact {
                covered: 0,
                unchained: n as u64,
                head: None,
            });
        }
        let mut verifier = Verifier::new(schema::unchained_until(&conn, &self.path)?);
        let mut stmt = conn
            .prepare("SELECT seq, run, at_ms, kind, step, body, hash FROM events ORDER BY seq")
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query([]).map_err(|e| self.err(e))?;
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            let text = |i: usize| r.get::<_, String>(i);
            let (run, kind, body) = (
                text(1).map_err(|e| self.err(e))?,
                text(3).map_err(|e| self.err(e))?,
                text(5).map_err(|e| self.err(e))?,
            );
            let step: Option<String> = r.get(4).map_err(|e| self.err(e))?;
            let hash: Option<String> = r.get(6).map_err(|e| self.err(e))?;
            let row = EventRow {
                seq: r.get(0).map_err(|e| self.err(e))?,
                run: &run,
                at_ms: r.get(2).map_err(|e| self.err(e))?,
                kind: &kind,
                step: step.as_deref(),
                body: &body,
            };
            verifier.push(&row, hash.as_deref());
        }
        Ok(verifier.finish())
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
