//! Scoped rollback and runs again, on a lab host: `cutover rollback --to STEP` (newest
//! first down to it, the run left open), `--only STEP`, steps marked `keep = true` that no
//! rollback undoes by itself, and `cutover apply --new-run` for the next release.

use crate::fixture::Fixture;

const STEPS: &str = r#"
[[stages]]
name = "s"

[[stages.steps]]
id = "db"
kind = "run"
hosts = ["new"]
keep = true
command = "echo apply-db >> /srv/effects"
undo = "echo undo-db >> /srv/effects"

[[stages.steps]]
id = "a"
kind = "run"
hosts = ["new"]
command = "echo apply-a >> /srv/effects"
undo = "echo undo-a >> /srv/effects"

[[stages.steps]]
id = "b"
kind = "run"
hosts = ["new"]
command = "echo apply-b >> /srv/effects"
undo = "echo undo-b >> /srv/effects"

[[stages.steps]]
id = "c"
kind = "run"
hosts = ["new"]
command = "echo apply-c >> /srv/effects"
undo = "echo undo-c >> /srv/effects"
"#;

/// `text` with every step duration such as `(0.1s)` shown as `(Ts)`.
fn without_times(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(open) = rest.find('(') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let number = after
            .find("s)")
            .filter(|&end| after[..end].chars().all(|c| c.is_ascii_digit() || c == '.'));
        match number {
            Some(end) if end > 0 => {
                out.push_str("(Ts)");
                rest = &after[end + 2..];
            }
            _ => {
                out.push('(');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn run_id(f: &Fixture) -> String {
    let status = f.run(&["status", "--json"]).expect(0).stdout();
    let json: serde_json::Value = serde_json::from_str(&status).unwrap();
    json["run"].as_str().unwrap().to_string()
}

#[test]
fn rollback_to_only_and_kept_steps() {
    let f = Fixture::new(STEPS);
    f.run(&["apply", "--yes"]).expect(0);
    let run = run_id(&f);

    let to = f
        .run(&["rollback", "--yes", "--to", "b"])
        .expect(0)
        .stdout();
    assert_eq!(
        without_times(&to),
        format!(
            "resuming run {run}\n-> c (run (undo))\n   ok c: undo ran on new (Ts)\n-> b (run (undo))\n   ok b: undo ran on new (Ts)\n\ndone: run {run} partly rolled back (2 step(s) undone)\nthe run stays open: `cutover apply` applies the undone steps again\n"
        )
    );
    assert_eq!(
        f.run(&["status"]).expect(0).stdout(),
        format!("plan test-plan: run {run} in progress\n  s            db                   run      applied    ran on new\n  s            a                    run      applied    ran on new\n  s            b                    run      rolled_back ran on new\n  s            c                    run      rolled_back ran on new\n")
    );
    // The same run goes on: the undone steps are applied again.
    let again = f.run(&["apply", "--yes"]).expect(0).stdout();
    assert!(
        again.starts_with(&format!("resuming run {run}\n")),
        "{again}"
    );
    assert_eq!(
        f.host_file("new", "/srv/effects"),
        "apply-db\napply-a\napply-b\napply-c\nundo-c\nundo-b\napply-b\napply-c\n"
    );

    let only = f
        .run(&["rollback", "--yes", "--only", "b"])
        .expect(0)
        .stdout();
    assert!(
        only.ends_with(&format!("done: run {run} partly rolled back (1 step(s) undone)\nthe run stays open: `cutover apply` applies the undone steps again\n")),
        "{only}"
    );

    // The whole rollback leaves the kept step in place and names it.
    let all = f.run(&["rollback", "--yes"]).expect(0).stdout();
    assert_eq!(
        without_times(&all),
        format!(
            "resuming run {run}\n-> c (run (undo))\n   ok c: undo ran on new (Ts)\n-> a (run (undo))\n   ok a: undo ran on new (Ts)\n   left db: kept (`keep = true`); `cutover rollback --only db` undoes it\n\ndone: run {run} rolled back (2 step(s) undone, 1 kept: db)\n"
        )
    );
    assert_eq!(
        f.host_file("new", "/srv/effects"),
        "apply-db\napply-a\napply-b\napply-c\nundo-c\nundo-b\napply-b\napply-c\nundo-b\nundo-c\nundo-a\n"
    );
    // Named on purpose, it is undone; the run stays rolled back.
    let db = f
        .run(&["rollback", "--yes", "--only", "db"])
        .expect(0)
        .stdout();
    assert!(
        db.ends_with(&format!("done: run {run} rolled back (1 step(s) undone)\n")),
        "{db}"
    );
    assert!(f
        .host_file("new", "/srv/effects")
        .ends_with("undo-a\nundo-db\n"));
    assert!(f
        .run(&["status"])
        .expect(0)
        .stdout()
        .starts_with(&format!("plan test-plan: run {run} rolled_back\n")));

    let unknown = f.run(&["rollback", "--yes", "--to", "cc"]).expect(2);
    assert_eq!(
        unknown.stderr(),
        "error: no step `cc` in the plan: did you mean `c`?\n"
    );
}

#[test]
fn a_completed_plan_runs_again_as_a_new_run_in_the_same_journal() {
    let f = Fixture::new(STEPS);
    f.run(&["apply", "--yes"]).expect(0);
    let first = run_id(&f);
    assert_eq!(
        f.run(&["apply", "--yes"]).expect(0).stdout(),
        format!("run {first} is already complete: nothing to do (`cutover apply --new-run` starts another)\n")
    );
    let again = f.run(&["apply", "--yes", "--new-run"]).expect(0).stdout();
    let second = run_id(&f);
    assert_ne!(first, second);
    assert!(
        again.starts_with(&format!("starting run {second}\n")),
        "{again}"
    );
    assert_eq!(
        f.host_file("new", "/srv/effects"),
        "apply-db\napply-a\napply-b\napply-c\napply-db\napply-a\napply-b\napply-c\n"
    );
    assert!(f
        .run(&["status"])
        .expect(0)
        .stdout()
        .starts_with(&format!("plan test-plan: run {second} completed\nrun 2 of 2 in the journal (`cutover status --run N` shows another)\n")));
    for older in ["1", first.as_str()] {
        assert!(f
            .run(&["status", "--run", older])
            .expect(0)
            .stdout()
            .starts_with(&format!(
                "plan test-plan: run {first} completed\nrun 1 of 2 in the journal"
            )));
        assert!(f
            .run(&["report", "--run", older])
            .expect(0)
            .stdout()
            .contains(&format!("Run {first} started ")));
    }
    assert_eq!(
        f.run(&["status", "--run", "3"]).expect(2).stderr(),
        "error: no run `3` in the journal: give a run id or a number from 1 to 2 (`cutover status --json` lists their ids)\n"
    );
    // A new run is refused while the newest is open.
    f.run(&["rollback", "--yes", "--to", "c"]).expect(0);
    assert_eq!(
        f.run(&["apply", "--yes", "--new-run"]).expect(2).stderr(),
        format!("error: run {second} is still open: finish it with `cutover apply` or undo it with `cutover rollback` before starting a new one\n")
    );
}
