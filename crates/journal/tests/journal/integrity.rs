//! A journal that is not one is refused, a wide mode is narrowed, and every event is
//! hash-chained so that one added, changed or removed outside cutover shows.

use super::started;
use cutover_journal::{ChainStatus, Event, Journal, JournalError, SqliteJournal};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// A journal at `path` with one run of `n` events; returns the run id.
fn journal_with_events(path: &Path, n: usize) -> String {
    let j = SqliteJournal::open(path).unwrap();
    let run = j.create_run("demo").unwrap();
    for i in 0..n {
        j.append(&run.id, &started(&format!("s{i}"))).unwrap();
    }
    run.id
}

fn not_a_journal(result: Result<SqliteJournal, JournalError>) -> String {
    match result {
        Err(e @ JournalError::NotAJournal { .. }) => e.to_string(),
        Err(other) => panic!("expected NotAJournal, got {other}"),
        Ok(_) => panic!("expected NotAJournal, the file was opened as a journal"),
    }
}

#[test]
fn a_journal_truncated_to_nothing_is_refused_not_read_as_a_new_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    journal_with_events(&path, 3);
    let hint = "hint: if this plan was applied before, the journal was damaged: restore it from a backup before running anything (a new journal would apply every step again); if it never was, remove the file";
    std::fs::write(&path, b"").unwrap();
    assert_eq!(
        not_a_journal(SqliteJournal::open(&path)),
        format!(
            "journal {} is not a cutover journal: it is empty (0 bytes)\n{hint}",
            path.display()
        )
    );
    assert_eq!(
        not_a_journal(SqliteJournal::open_read_only(&path)),
        format!(
            "journal {} is not a cutover journal: it is empty (0 bytes)\n{hint}",
            path.display()
        )
    );
    std::fs::write(&path, b"S").unwrap();
    assert_eq!(
        not_a_journal(SqliteJournal::open(&path)),
        format!(
            "journal {} is not a cutover journal: it is not an SQLite database (1 bytes, truncated or overwritten)\n{hint}",
            path.display()
        )
    );
    // Nothing was written into it either.
    assert_eq!(std::fs::read(&path).unwrap(), b"S");
}

#[test]
fn another_sqlite_database_is_not_taken_for_a_journal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("CREATE TABLE notes (t TEXT)").unwrap();
    drop(conn);
    let message = not_a_journal(SqliteJournal::open(&path));
    assert!(
        message.contains(
            "it is an SQLite database, but not a cutover journal (application id 0, version 0)"
        ),
        "{message}"
    );
}

#[test]
fn a_journal_with_a_wider_mode_is_made_private_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    journal_with_events(&path, 1);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let j = SqliteJournal::open(&path).unwrap();
    let run = j.latest_run().unwrap().unwrap();
    j.append(&run.id, &started("again")).unwrap();
    for name in ["j.db", "j.db-wal", "j.db-shm"] {
        let mode = std::fs::metadata(dir.path().join(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{name} has mode {mode:o}");
    }
}

#[test]
fn the_chain_of_an_untouched_journal_is_intact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    journal_with_events(&path, 5);
    let j = SqliteJournal::open_read_only(&path).unwrap();
    match j.verify_chain().unwrap() {
        ChainStatus::Intact {
            covered: 5,
            unchained: 0,
            head: Some(head),
        } => assert_eq!(head.len(), 64),
        other => panic!("{other:?}"),
    }
}

/// Inserts an approval of gate `gate` the way someone with `sqlite3` would: a plausible
/// row, with `hash` as given.
fn forge_approval(path: &Path, run: &str, hash: Option<&str>) -> i64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute(
        "INSERT INTO events (run, at_ms, kind, step, body, hash) VALUES (?1, 1, 'approved', 'gate', ?2, ?3)",
        rusqlite::params![
            run,
            r#"{"event":"approved","step":"gate","by":"mallory@x","comment":null}"#,
            hash
        ],
    )
    .unwrap();
    conn.last_insert_rowid()
}

#[test]
fn a_forged_approval_breaks_the_chain_at_that_event() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    let run = journal_with_events(&path, 3);
    let forged = forge_approval(&path, &run, None);
    assert_eq!(forged, 4);
    // Later events written by cutover do not mend it.
    let j = SqliteJournal::open(&path).unwrap();
    j.append(&run, &started("after")).unwrap();
    // The forgery reads as an approval: only the chain tells.
    let events = j.events(&run).unwrap();
    assert!(matches!(events[3].event, Event::Approved { .. }));
    assert_eq!(
        j.verify_chain().unwrap(),
        ChainStatus::Broken {
            at: 4,
            event: "`approved` of step `gate`".into(),
            reason: "it has no hash: it was not written by cutover".into(),
            covered: 3,
        }
    );
}

#[test]
fn a_forged_event_with_a_copied_hash_breaks_the_chain_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    let run = journal_with_events(&path, 2);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let last: String = conn
        .query_row("SELECT hash FROM events WHERE seq = 2", [], |r| r.get(0))
        .unwrap();
    drop(conn);
    forge_approval(&path, &run, Some(&last));
    let j = SqliteJournal::open_read_only(&path).unwrap();
    match j.verify_chain().unwrap() {
        ChainStatus::Broken { at: 3, reason, .. } => {
            assert!(reason.starts_with("its hash does not match"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

/// The schema of a journal written by cutover before the hash chain.
const VERSION_1: &str = "
CREATE TABLE runs (id TEXT PRIMARY KEY, plan TEXT NOT NULL, started_ms INTEGER NOT NULL);
CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, run TEXT NOT NULL REFERENCES runs(id),
    at_ms INTEGER NOT NULL, kind TEXT NOT NULL, step TEXT, body TEXT NOT NULL);
CREATE INDEX events_run ON events(run, seq);
CREATE TABLE checkpoints (run TEXT NOT NULL REFERENCES runs(id), step TEXT NOT NULL,
    at_ms INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (run, step));
CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
PRAGMA journal_mode=WAL;
PRAGMA user_version = 1;
INSERT INTO runs VALUES ('r1', 'demo', 1);
INSERT INTO events (run, at_ms, kind, step, body) VALUES
  ('r1', 1, 'step_started', 'a', '{\"event\":\"step_started\",\"stage\":\"s\",\"step\":\"a\",\"kind\":\"run\",\"attempt\":1}'),
  ('r1', 2, 'step_applied', 'a', '{\"event\":\"step_applied\",\"step\":\"a\",\"duration_ms\":1,\"summary\":\"ok\"}');
";

#[test]
fn a_journal_from_before_the_chain_is_upgraded_and_chained_from_then_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(VERSION_1)
        .unwrap();
    // Reading does not upgrade it: it says that nothing is chained.
    let old = SqliteJournal::open_read_only(&path).unwrap();
    assert_eq!(
        old.verify_chain().unwrap(),
        ChainStatus::Intact {
            covered: 0,
            unchained: 2,
            head: None
        }
    );
    assert_eq!(old.events("r1").unwrap().len(), 2);
    drop(old);
    let j = SqliteJournal::open(&path).unwrap();
    j.append("r1", &started("b")).unwrap();
    match j.verify_chain().unwrap() {
        ChainStatus::Intact {
            covered: 1,
            unchained: 2,
            head: Some(_),
        } => {}
        other => panic!("{other:?}"),
    }
    drop(j);
    // An event slipped in after the upgrade cannot pass for one from before it.
    forge_approval(&path, "r1", None);
    let j = SqliteJournal::open_read_only(&path).unwrap();
    assert!(
        matches!(j.verify_chain().unwrap(), ChainStatus::Broken { at: 4, .. }),
        "{:?}",
        j.verify_chain()
    );
}
