//! The journal from the user's side: commands that only read never create or write it (a
//! plan in a read-only directory can be checked and looked at), a journal that is not one
//! is refused instead of read as a new run, and an event forged outside cutover shows in the
//! report as a broken hash chain. A local host is enough: no lab.

use crate::fixture::Run;
use std::path::{Path, PathBuf};
use std::process::Command;

const PLAN: &str = r#"
[hosts.ctl]
local = true

[[stages]]
name = "s"

[[stages.steps]]
id = "touch"
kind = "run"
hosts = ["ctl"]
command = "echo ran >> effects"
"#;

const GATED: &str = r#"
[hosts.ctl]
local = true

[[stages]]
name = "s"

[[stages.steps]]
id = "touch"
kind = "run"
hosts = ["ctl"]
command = "echo ran >> effects"

[[stages.steps]]
id = "go-live"
kind = "approve"
message = "move traffic?"
approvers = ["alice"]
"#;

/// A plan file in a temp dir, run with the local host only.
struct LocalPlan {
    dir: tempfile::TempDir,
}

impl LocalPlan {
    fn new(header: &str, body: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let plan = body.replace("effects", &dir.path().join("effects").display().to_string());
        std::fs::write(
            dir.path().join("cutover.toml"),
            format!("name = \"local-plan\"\n{header}\n{plan}"),
        )
        .expect("write plan");
        LocalPlan { dir }
    }

    fn plan_path(&self) -> PathBuf {
        self.dir.path().join("cutover.toml")
    }

    fn journal_path(&self) -> PathBuf {
        self.dir.path().join("cutover.journal.db")
    }

    fn run(&self, args: &[&str]) -> Run {
        Run(cutover(&self.plan_path(), args)
            .output()
            .expect("run cutover"))
    }

    /// Runs `cutover ARGS` with the plan's directory mounted read-only (a mount namespace of
    /// its own: even root cannot write there).
    fn run_read_only(&self, args: &[&str]) -> Run {
        let dir = self.dir.path().display().to_string();
        let inner = cutover(&self.plan_path(), args);
        let mut c = Command::new("unshare");
        c.args(["-m", "sh", "-c"])
            .arg(r#"mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && shift && exec "$@""#)
            .arg(&dir)
            .arg("--")
            .arg(inner.get_program())
            .args(inner.get_args())
            .env("NO_COLOR", "1");
        Run(c.output().expect("run cutover in a mount namespace"))
    }

    /// The names in the plan's directory.
    fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn effects(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("effects")).unwrap_or_default()
    }
}

fn cutover(plan: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cutover"));
    c.arg("-f")
        .arg(plan)
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("CUTOVER_TEST_CRASH_AFTER_EVENTS");
    c
}

const PLAN_OUTPUT: &str =
    "plan local-plan (a new run)\n\n== stage s\n  +  touch (run)\n       ctl$ echo ran >> ";

#[test]
fn checking_a_plan_writes_nothing_even_when_the_journals_directory_is_missing() {
    let p = LocalPlan::new("\n[journal]\npath = \"state/cutover.db\"\n", PLAN);
    let ok = format!("ok {} is valid\n", p.plan_path().display());
    assert_eq!(p.run(&["check", "--offline"]).expect(0).stdout(), ok);
    assert_eq!(
        p.run(&["check"]).expect(0).stdout(),
        format!("{ok}✓ host ctl         reached          local\n")
    );
    assert_eq!(
        p.run(&["plan"]).expect(0).stdout(),
        format!(
            "{PLAN_OUTPUT}{}/effects\n\n1 step(s) to apply\n",
            p.dir.path().display()
        )
    );
    assert_eq!(
        p.run(&["status"]).expect(0).stdout(),
        "plan local-plan: not started\n  s            touch                run      pending\n"
    );
    assert_eq!(p.files(), ["cutover.toml"]);
}

#[test]
fn check_plan_status_and_report_need_no_write_access_to_the_plans_directory() {
    let p = LocalPlan::new("", PLAN);
    let ok = format!("ok {} is valid\n", p.plan_path().display());
    // No journal yet.
    assert_eq!(
        p.run_read_only(&["check", "--offline"]).expect(0).stdout(),
        ok
    );
    assert_eq!(
        p.run_read_only(&["status"]).expect(0).stdout(),
        "plan local-plan: not started\n  s            touch                run      pending\n"
    );
    assert_eq!(p.files(), ["cutover.toml"]);
    // With a journal (its -wal and -shm files gone, as after every clean exit).
    p.run(&["apply", "--yes"]).expect(0);
    let before = p.files();
    assert_eq!(
        before,
        [
            "cutover.journal.db",
            "cutover.journal.db.lock",
            "cutover.toml",
            "effects"
        ]
    );
    let run = p.run_read_only(&["status", "--json"]).expect(0).stdout();
    let run_id = serde_json::from_str::<serde_json::Value>(&run).unwrap()["run"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        p.run_read_only(&["status"]).expect(0).stdout(),
        format!(
            "plan local-plan: run {run_id} completed\n  s            touch                run      applied    ran on ctl\n"
        )
    );
    assert_eq!(
        p.run_read_only(&["check", "--offline"]).expect(0).stdout(),
        ok
    );
    assert_eq!(
        p.run_read_only(&["check"]).expect(0).stdout(),
        format!("{ok}✓ host ctl         reached          local\n")
    );
    assert!(p
        .run_read_only(&["plan"])
        .expect(0)
        .stdout()
        .starts_with(PLAN_OUTPUT));
    let report = p.run_read_only(&["report"]).expect(0).stdout();
    let journal_line = report.lines().find(|l| l.starts_with("Journal: ")).unwrap();
    assert!(
        journal_line.starts_with("Journal: hash chain intact over all 8 events (head "),
        "{report}"
    );
    assert_eq!(p.files(), before);
}

#[test]
fn a_truncated_journal_is_refused_and_no_step_runs_again() {
    let p = LocalPlan::new("", PLAN);
    p.run(&["apply", "--yes"]).expect(0);
    assert_eq!(p.effects(), "ran\n");
    let hint = "hint: if this plan was applied before, the journal was damaged: restore it from a backup before running anything (a new journal would apply every step again); if it never was, remove the file";
    for (bytes, what) in [
        (&b""[..], "it is empty (0 bytes)".to_string()),
        (
            &b"S"[..],
            "it is not an SQLite database (1 bytes, truncated or overwritten)".to_string(),
        ),
    ] {
        std::fs::write(p.journal_path(), bytes).unwrap();
        let expected = format!(
            "error: journal {} is not a cutover journal: {what}\n{hint}\n",
            p.journal_path().display()
        );
        for args in [&["apply", "--yes"][..], &["status"], &["plan"], &["report"]] {
            let run = p.run(args).expect(1);
            assert_eq!(run.stderr(), expected, "cutover {args:?}");
            assert_eq!(run.stdout(), "", "cutover {args:?}");
        }
        assert_eq!(p.effects(), "ran\n", "the applied step ran again");
        assert_eq!(std::fs::read(p.journal_path()).unwrap(), bytes);
    }
}

#[test]
fn a_forged_approval_shows_in_the_report_as_a_broken_chain() {
    let p = LocalPlan::new("", GATED);
    p.run(&["apply", "--yes", "--no-wait"]).expect(7);
    // Someone with write access to the journal approves the gate with sqlite3.
    let conn = rusqlite::Connection::open(p.journal_path()).unwrap();
    let run: String = conn
        .query_row("SELECT id FROM runs", [], |r| r.get(0))
        .unwrap();
    conn.execute(
        "INSERT INTO events (run, at_ms, kind, step, body) VALUES (?1, strftime('%s') * 1000, 'approved', 'go-live', ?2)",
        rusqlite::params![run, r#"{"event":"approved","step":"go-live","by":"alice","comment":null}"#],
    )
    .unwrap();
    let forged = conn.last_insert_rowid();
    drop(conn);
    let report = p.run(&["report"]).expect(0).stdout();
    let journal_line = report.lines().find(|l| l.starts_with("Journal: ")).unwrap();
    assert_eq!(
        journal_line,
        format!(
            "Journal: hash chain BROKEN at event {forged} (`approved` of step `go-live`): it has no hash: it was not written by cutover; the {} events before it hash as written, none from it on can be trusted.",
            forged - 1
        )
    );
    let json = p.run(&["report", "--json"]).expect(0).stdout();
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["journal"]["chain"], "broken");
    assert_eq!(json["journal"]["at"], forged);
}
