//! Commands that only read open the journal read-only: nothing is created or written.

use super::started;
use cutover_journal::{Holder, Journal, SqliteJournal};

#[test]
fn a_missing_journal_reads_as_empty_and_is_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing").join("j.db");
    let j = SqliteJournal::open_read_only(&path).unwrap();
    assert_eq!(j.latest_run().unwrap(), None);
    assert_eq!(j.runs().unwrap(), vec![]);
    assert_eq!(j.holder(), None);
    assert!(!dir.path().join("missing").exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn a_read_only_journal_refuses_every_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    let run = SqliteJournal::open(&path)
        .unwrap()
        .create_run("demo")
        .unwrap();
    let j = SqliteJournal::open_read_only(&path).unwrap();
    let refused = |e: cutover_journal::JournalError| {
        assert!(e.to_string().contains("opened read-only"), "{e}");
    };
    refused(j.create_run("demo").unwrap_err());
    refused(j.append(&run.id, &started("a")).unwrap_err());
    refused(j.save_checkpoint(&run.id, "a", "{}").unwrap_err());
    refused(j.lock(Holder::me("status")).unwrap_err());
    assert!(j.events(&run.id).unwrap().is_empty());
    assert!(!dir.path().join("j.db.lock").exists());
}
