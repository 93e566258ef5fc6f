//! `cutover journal copy`: a run begun in the SQLite file moves to the shared PostgreSQL
//! journal and is finished from there, then comes back into a file, chains intact.

use crate::fixture::{Backend, Fixture};
use cutover_journal::{ChainStatus, Journal, SqliteJournal};

const PLAN: &str = r#"
[[stages]]
name = "move"

[[stages.steps]]
id = "s1"
kind = "run"
hosts = ["old"]
command = "echo s1 >> /srv/effects"

[[stages.steps]]
id = "gate"
kind = "approve"

[[stages.steps]]
id = "s2"
kind = "run"
hosts = ["new"]
command = "echo s2 >> /srv/effects"
"#;

#[test]
fn a_run_moves_from_the_file_to_postgres_and_back_with_its_chain_intact() {
    let f = Fixture::with_backend(PLAN, Backend::Postgres);
    let url = f.shared.as_ref().unwrap().url.clone();
    let shown = url.replace(":{{ secrets.journal_pw }}", "");
    let on_file = |args: &[&str]| {
        let mut c = f.command(args);
        c.env_remove("CUTOVER_JOURNAL");
        crate::fixture::Run(c.output().expect("cutover"))
    };
    // Begun on a laptop: the run is in the file, stopped at its gate.
    on_file(&["apply", "--yes", "--no-wait"]).expect(7);
    let file = f.journal_path();
    let file_text = file.display().to_string();
    let out = f
        .run(&["journal", "copy", &file_text, &url])
        .expect(0)
        .stdout();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].starts_with("copied run "), "{out}");
    assert!(
        lines[0].ends_with(&format!(" from {file_text} to {shown}")),
        "{out}"
    );
    assert!(
        lines[1].starts_with(&format!("{shown}: hash chain intact over all ")),
        "{out}"
    );

    // A second copy of the same run is refused, and nothing changes.
    let again = f.run(&["journal", "copy", &file_text, &url]).expect(2);
    assert!(
        again
            .stderr()
            .contains("journal copy: the destination already has run "),
        "{}",
        again.stderr()
    );

    // The team finishes it from the shared journal: the step done on the laptop stays done.
    f.run(&["approve", "gate", "--by", "carol"]).expect(0);
    f.run(&["apply", "--yes", "--no-wait"]).expect(0);
    assert_eq!(f.host_file("old", "/srv/effects"), "s1\n");
    assert_eq!(f.host_file("new", "/srv/effects"), "s2\n");

    // And back into a file, whole.
    let back = f.dir.path().join("back.journal.db");
    let back_text = back.display().to_string();
    let out = f
        .run(&["journal", "copy", &url, &back_text])
        .expect(0)
        .stdout();
    assert!(
        out.contains(&format!(" from {shown} to {back_text}\n")),
        "{out}"
    );
    let j = SqliteJournal::open_read_only(&back).unwrap();
    let run = j.latest_run().unwrap().expect("the copied run");
    let events = j.events(&run.id).unwrap();
    assert!(events
        .iter()
        .any(|r| matches!(&r.event, cutover_journal::Event::Approved { by, .. } if by == "carol")));
    assert!(
        matches!(j.verify_chain().unwrap(), ChainStatus::Intact { covered, .. } if covered as usize == events.len())
    );
}

#[test]
fn a_copy_from_nowhere_or_to_a_bad_url_is_refused_plainly() {
    let f = Fixture::with_backend(PLAN, Backend::Postgres);
    let r = f
        .run(&["journal", "copy", "missing.db", "postgres://x@h/db"])
        .expect(2);
    assert_eq!(
        r.stderr(),
        "error: journal copy: FROM missing.db: no journal file there\n"
    );
    let file = f.journal_path().display().to_string();
    let mut c = f.command(&["apply", "--yes", "--no-wait"]);
    c.env_remove("CUTOVER_JOURNAL");
    assert_eq!(c.output().unwrap().status.code(), Some(7));
    let r = f
        .run(&["journal", "copy", &file, "postgres://me:hunter2@h/db"])
        .expect(2);
    assert_eq!(
        r.stderr(),
        "error: journal copy: TO is not a journal URL: a password is never written in the URL: put it in `[secrets.NAME]` and write `USER:{{ secrets.NAME }}@HOST`\nhint: write it as postgres://USER:{{ secrets.NAME }}@HOST:PORT/DATABASE?sslmode=verify-full&sslrootcert=ca.pem\n"
    );
}
