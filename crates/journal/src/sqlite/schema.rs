//! The journal file: created whole, recognized before use, kept private, upgraded in place.
//!
//! A journal that exists but is not one (truncated to nothing, overwritten, another file)
//! must never read as "no run yet": a resumed `apply` would then run every applied step
//! again. So a new journal is built under a temporary name and linked into place only once
//! complete, and any file found at the journal's path must be a complete journal.

use crate::chain::{event_hash, hex, unhex, EventRow, GENESIS};
use crate::JournalError;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Version 2 adds the events' hash chain.
pub(crate) const SCHEMA_VERSION: i64 = 2;

/// "CUTJ": SQLite's application id for a cutover journal (set since version 2).
const APPLICATION_ID: i64 = 0x4355_544A;

const TABLES: &str = "
CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    plan TEXT NOT NULL,
    started_ms INTEGER NOT NULL
);
CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    run TEXT NOT NULL REFERENCES runs(id),
    at_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    step TEXT,
    body TEXT NOT NULL,
    hash TEXT
);
CREATE INDEX events_run ON events(run, seq);
CREATE TABLE checkpoints (
    run TEXT NOT NULL REFERENCES runs(id),
    step TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (run, step)
);
";

/// The chain's start: events up to `unchained_until` were written before the journal was
/// chained (0 for a journal chained from its creation).
const CHAIN_TABLE: &str = "
CREATE TABLE chain (unchained_until INTEGER NOT NULL);
";

const TRIGGERS: &str = "
CREATE TRIGGER IF NOT EXISTS events_append_only_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
CREATE TRIGGER IF NOT EXISTS events_append_only_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
CREATE TRIGGER IF NOT EXISTS runs_append_only_update BEFORE UPDATE ON runs
BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
CREATE TRIGGER IF NOT EXISTS runs_append_only_delete BEFORE DELETE ON runs
BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
CREATE TRIGGER IF NOT EXISTS chain_append_only_update BEFORE UPDATE ON chain
BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
CREATE TRIGGER IF NOT EXISTS chain_append_only_delete BEFORE DELETE ON chain
BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
";

/// Creates a complete, empty journal at `path` unless a file is already there (another
/// process won the race: that one is checked like any other).
pub(crate) fn create(path: &Path) -> Result<(), JournalError> {
    let storage = |message: String| storage(path, message);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    // tempfile creates it with mode 0600; SQLite gives the -wal and -shm files the same.
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{}.", name.unwrap_or_default()))
        .suffix(".creating")
        .tempfile_in(&dir)
        .map_err(|e| storage(format!("cannot create a file in {}: {e}", dir.display())))?;
    {
        let conn = Connection::open(tmp.path()).map_err(|e| storage(e.to_string()))?;
        create_in(&conn).map_err(|e| storage(e.to_string()))?;
        conn.execute_batch("PRAGMA journal_mode = WAL;")
            .map_err(|e| storage(e.to_string()))?;
        // Closing checkpoints and removes the temporary file's -wal and -shm.
        conn.close().map_err(|(_, e)| storage(e.to_string()))?;
    }
    match tmp.persist_noclobber(path) {
        Ok(_) => {}
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(storage(format!("cannot create: {}", e.error))),
    }
    // The new name must survive a crash as surely as the events written next.
    std::fs::File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| storage(format!("cannot sync {}: {e}", dir.display())))
}

/// Creates the tables of an empty journal in `conn`.
pub(crate) fn create_in(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(&format!(
        "BEGIN; {TABLES} {CHAIN_TABLE} {TRIGGERS}
         INSERT INTO chain (unchained_until) VALUES (0);
         PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {SCHEMA_VERSION};
         COMMIT;"
    ))
}

/// A read-only connection to the journal at `path`. SQLite reads a WAL database through
/// its -shm file, which it cannot create in a directory this user cannot write: the journal
/// is then read as an immutable file (no writer can be at work where no one can write).
pub(crate) fn open_for_reading(path: &Path) -> Result<Connection, JournalError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let probe = |conn: Connection| {
        conn.query_row("SELECT COUNT(*) FROM sqlite_master", [], |_| Ok(()))
            .map(|()| conn)
    };
    let first = Connection::open_with_flags(path, flags).and_then(probe);
    match first {
        Ok(conn) => Ok(conn),
        Err(e) if is_cannot_open(&e) => {
            let uri = format!("file:{}?immutable=1", uri_path(path));
            Connection::open_with_flags(&uri, flags | OpenFlags::SQLITE_OPEN_URI)
                .and_then(probe)
                .map_err(|e| storage(path, e.to_string()))
        }
        Err(e) => Err(storage(path, e.to_string())),
    }
}

fn is_cannot_open(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::ReadOnly)
    )
}

/// `path` for a `file:` URI: every byte outside the unreserved set percent-encoded.
fn uri_path(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    absolute
        .as_os_str()
        .as_bytes()
        .iter()
        .map(|&b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Refuses a file at `path` that is not an SQLite database at all (empty, truncated,
/// overwritten), before SQLite would take an empty file for a new database.
pub(crate) fn recognize_file(path: &Path) -> Result<(), JournalError> {
    let mut head = Vec::with_capacity(100);
    std::fs::File::open(path)
        .and_then(|f| f.take(100).read_to_end(&mut head))
        .map_err(|e| storage(path, format!("cannot read: {e}")))?;
    if head.is_empty() {
        return Err(not_a_journal(path, "it is empty (0 bytes)".into()));
    }
    if head.len() < 100 || !head.starts_with(b"SQLite format 3\0") {
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        return Err(not_a_journal(
            path,
            format!("it is not an SQLite database ({size} bytes, truncated or overwritten)"),
        ));
    }
    Ok(())
}

/// The journal's schema version, once the database is known to be a cutover journal.
pub(crate) fn recognize_schema(conn: &Connection, path: &Path) -> Result<i64, JournalError> {
    let pragma = |name: &str| -> Result<i64, JournalError> {
        conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
            .map_err(|e| storage(path, e.to_string()))
    };
    let version = pragma("user_version")?;
    let app = pragma("application_id")?;
    if version > SCHEMA_VERSION {
        return Err(JournalError::TooNew {
            path: path.display().to_string(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    let has = |table: &str| -> Result<bool, JournalError> {
        conn.query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [table],
            |_| Ok(()),
        )
        .optional()
        .map(|found| found.is_some())
        .map_err(|e| storage(path, e.to_string()))
    };
    // Version 1 journals carry no application id; they are known by their tables.
    let ours = match (app, version) {
        (APPLICATION_ID, SCHEMA_VERSION) => has("events")? && has("chain")?,
        (0, 1) => has("events")? && has("runs")?,
        _ => false,
    };
    if !ours {
        return Err(not_a_journal(
            path,
            format!("it is an SQLite database, but not a cutover journal (application id {app}, version {version})"),
        ));
    }
    Ok(version)
}

/// Upgrades a version 1 journal in place: the events it has stay unchained (nothing can
/// vouch for them now), and every event from here on is chained.
pub(crate) fn upgrade(conn: &mut Connection, path: &Path) -> Result<(), JournalError> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(|e| storage(path, e.to_string()))?;
    let version: i64 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| storage(path, e.to_string()))?;
    if version < SCHEMA_VERSION {
        tx.execute_batch(&format!(
            "ALTER TABLE events ADD COLUMN hash TEXT; {CHAIN_TABLE} {TRIGGERS}
             INSERT INTO chain (unchained_until) SELECT COALESCE(MAX(seq), 0) FROM events;
             PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {SCHEMA_VERSION};"
        ))
        .map_err(|e| {
            storage(
                path,
                format!("cannot upgrade to version {SCHEMA_VERSION}: {e}"),
            )
        })?;
    }
    tx.commit().map_err(|e| storage(path, e.to_string()))
}

/// Events up to this `seq` predate the chain.
pub(crate) fn unchained_until(conn: &Connection, path: &Path) -> Result<i64, JournalError> {
    // The first row is the one written at creation or upgrade; a row added later is not.
    conn.query_row(
        "SELECT unchained_until FROM chain ORDER BY rowid LIMIT 1",
        [],
        |r| r.get(0),
    )
    .optional()
    .map(|v| v.unwrap_or(i64::MAX))
    .map_err(|e| storage(path, e.to_string()))
}

/// Inserts `row` after the journal's last event, chained to it, in one write transaction
/// (a concurrent `approve` queues behind it); returns its `seq` (the one in `row` is unused).
pub(crate) fn insert_chained(
    conn: &mut Connection,
    path: &Path,
    row: EventRow,
) -> Result<i64, JournalError> {
    let err = |e: rusqlite::Error| storage(path, e.to_string());
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(err)?;
    let last: Option<(i64, Option<String>)> = tx
        .query_row(
            "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(err)?;
    let (last_seq, last_hash) = last.unwrap_or((0, None));
    let prev = last_hash.as_deref().and_then(unhex).unwrap_or(GENESIS);
    let row = EventRow {
        seq: last_seq + 1,
        ..row
    };
    tx.execute(
        "INSERT INTO events (seq, run, at_ms, kind, step, body, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![row.seq, row.run, row.at_ms, row.kind, row.step, row.body, hex(&event_hash(&prev, &row))],
    )
    .map_err(err)?;
    tx.commit().map_err(err)?;
    Ok(row.seq)
}

/// Narrows the journal and its -wal and -shm files to mode 0600 where they are wider (a
/// journal created by hand or copied with another umask keeps its mode otherwise).
pub(crate) fn make_private(path: &Path) -> Result<(), JournalError> {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let p = PathBuf::from(p);
        let Ok(meta) = std::fs::metadata(&p) else {
            continue;
        };
        if meta.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).map_err(|e| {
                storage(
                    path,
                    format!("cannot make {} private (mode 0600): {e}", p.display()),
                )
            })?;
        }
    }
    Ok(())
}

fn not_a_journal(path: &Path, problem: String) -> JournalError {
    JournalError::NotAJournal {
        path: path.display().to_string(),
        problem,
    }
}

fn storage(path: &Path, message: String) -> JournalError {
    JournalError::Storage {
        path: path.display().to_string(),
        message,
    }
}
