//! The SQLite journal: durability, append-only, privacy, locking, redaction, state folding.

use cutover_journal::{Event, Holder, Journal, JournalError, RunState, SqliteJournal, StepStatus};
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

#[path = "journal/integrity.rs"]
mod integrity;
#[path = "journal/pg.rs"]
mod pg;
#[path = "journal/read_only.rs"]
mod read_only;

fn started(step: &str) -> Event {
    Event::StepStarted {
        stage: "s".into(),
        step: step.into(),
        kind: "run".into(),
        attempt: 1,
    }
}

#[test]
fn events_survive_reopening_and_fold_into_state() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plan.journal.db");
    let run = {
        let j = SqliteJournal::open(&path).unwrap();
        let run = j.create_run("demo").unwrap();
        j.append(&run.id, &started("a")).unwrap();
        j.append(
            &run.id,
            &Event::StepApplied {
                step: "a".into(),
                duration_ms: 5,
                summary: "ok".into(),
            },
        )
        .unwrap();
        j.append(&run.id, &started("b")).unwrap();
        run
    };
    let j = SqliteJournal::open(&path).unwrap();
    assert_eq!(j.latest_run().unwrap().unwrap(), run);
    let state = RunState::fold(run.clone(), &j.events(&run.id).unwrap());
    assert!(state.is_done("a"));
    assert_eq!(state.step("b").unwrap().status, StepStatus::InFlight);
}

/// The schema fingerprint a `postgres.sync` records survives reopening and folds into its
/// step's state, for the switch and `cutover status` to compare the source with.
#[test]
fn a_recorded_schema_folds_into_its_steps_state() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plan.journal.db");
    let j = SqliteJournal::open(&path).unwrap();
    let run = j.create_run("demo").unwrap();
    j.append(&run.id, &started("sync")).unwrap();
    j.append(
        &run.id,
        &Event::SchemaRecorded {
            step: "sync".into(),
            side: "source".into(),
            digest: "ab12".into(),
            objects: 42,
        },
    )
    .unwrap();
    drop(j);
    let j = SqliteJournal::open(&path).unwrap();
    let state = RunState::fold(run.clone(), &j.events(&run.id).unwrap());
    let schema = state.step("sync").unwrap().schema.clone().unwrap();
    assert_eq!(
        (schema.side.as_str(), schema.digest.as_str(), schema.objects),
        ("source", "ab12", 42)
    );
    assert_eq!(state.step("sync").unwrap().status, StepStatus::InFlight);
}

#[test]
fn the_journal_file_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    let j = SqliteJournal::open(&path).unwrap();
    let run = j.create_run("demo").unwrap();
    j.append(&run.id, &started("a")).unwrap();
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
fn events_cannot_be_changed_or_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    let j = SqliteJournal::open(&path).unwrap();
    let run = j.create_run("demo").unwrap();
    j.append(&run.id, &started("a")).unwrap();
    drop(j);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let upd = conn
        .execute("UPDATE events SET body = '{}'", [])
        .unwrap_err();
    assert!(upd.to_string().contains("append-only"), "{upd}");
    let del = conn.execute("DELETE FROM events", []).unwrap_err();
    assert!(del.to_string().contains("append-only"), "{del}");
}

/// Neither the journal file at `path` nor its write-ahead log holds `needle`.
fn assert_not_on_disk(path: &std::path::Path, needle: &[u8]) {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let journal = std::fs::read(path).unwrap();
    let wal = std::fs::read(&wal).unwrap_or_default();
    for (file, bytes) in [("journal", journal), ("write-ahead log", wal)] {
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "the {file} holds the secret"
        );
    }
}

#[test]
fn secrets_are_redacted_before_they_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    let j = SqliteJournal::open(&path)
        .unwrap()
        .with_redactor(Arc::new(|s: &str| s.replace("hunter2", "[redacted:pw]")));
    let run = j.create_run("demo").unwrap();
    let rec = j
        .append(
            &run.id,
            &Event::StepFailed {
                step: "a".into(),
                error: "password hunter2 rejected".into(),
            },
        )
        .unwrap();
    assert!(
        matches!(rec.event, Event::StepFailed { ref error, .. } if error == "password [redacted:pw] rejected")
    );
    drop(j);
    assert_not_on_disk(&path, b"hunter2");
}

#[test]
fn a_checkpoint_replaces_the_one_before_survives_reopening_and_is_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    let redact = || Arc::new(|s: &str| s.replace("hunter2", "[redacted:pw]"));
    let run = {
        let j = SqliteJournal::open(&path).unwrap().with_redactor(redact());
        let run = j.create_run("demo").unwrap();
        assert_eq!(j.checkpoint(&run.id, "soak").unwrap(), None);
        j.save_checkpoint(&run.id, "soak", "{\"n\":1}").unwrap();
        j.save_checkpoint(&run.id, "soak", "{\"n\":2,\"pw\":\"hunter2\"}")
            .unwrap();
        j.save_checkpoint(&run.id, "other", "{}").unwrap();
        run
    };
    let j = SqliteJournal::open(&path).unwrap();
    assert_eq!(
        j.checkpoint(&run.id, "soak").unwrap().as_deref(),
        Some("{\"n\":2,\"pw\":\"[redacted:pw]\"}")
    );
    assert_eq!(
        j.checkpoint(&run.id, "other").unwrap().as_deref(),
        Some("{}")
    );
    assert_eq!(j.checkpoint("no-such-run", "soak").unwrap(), None);
    // Checkpoints are working state, never audit events.
    assert!(j.events(&run.id).unwrap().is_empty());
    drop(j);
    assert_not_on_disk(&path, b"hunter2");
}

#[test]
fn a_second_holder_is_refused_with_the_first_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    let j = SqliteJournal::open(&path).unwrap();
    let guard = j.lock(Holder::me("apply")).unwrap();
    let err = j.lock(Holder::me("rollback")).unwrap_err();
    match &err {
        JournalError::Locked { holder } => {
            assert_eq!(holder.pid, std::process::id());
            assert_eq!(holder.command, "apply");
        }
        other => panic!("{other}"),
    }
    assert!(err.to_string().contains("`cutover apply` (pid"), "{err}");
    drop(guard);
    j.lock(Holder::me("rollback")).unwrap();
}
