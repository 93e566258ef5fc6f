//! cutover rollback: reverse order, journaled, resumable after a failed undo.

use crate::fixture::Fixture;

const UNDOABLE: &str = r#"
[[stages]]
name = "s"

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

[[stages.steps]]
id = "c"
kind = "run"
hosts = ["new"]
command = "echo apply-c >> /srv/effects"
undo = "test -e /srv/undo-c-ok || { echo 'cannot undo c yet' >&2; exit 4; }; echo undo-c >> /srv/effects"
"#;

#[test]
fn rollback_undoes_applied_steps_newest_first_and_resumes_after_a_failure() {
    let f = Fixture::new(UNDOABLE);
    f.run(&["apply", "--yes"]).expect(0);
    let failed = f.run(&["rollback", "--yes"]).expect(8);
    assert!(
        failed.stdout().contains("cannot undo c yet"),
        "{}",
        failed.stdout()
    );
    assert!(
        failed.stderr().contains("rollback of step `c` failed"),
        "{}",
        failed.stderr()
    );
    f.lab.host("new").exec_ok("touch /srv/undo-c-ok").unwrap();
    let out = f.run(&["rollback", "--yes"]).expect(0).stdout();
    assert!(out.contains("skip b: nothing to undo"), "{out}");
    assert_eq!(
        f.host_file("new", "/srv/effects"),
        "apply-a\napply-b\napply-c\nundo-c\nundo-a\n"
    );
    let again = f.run(&["rollback", "--yes"]).expect(0).stdout();
    assert!(again.contains("already rolled back"), "{again}");
    assert_eq!(
        f.host_file("new", "/srv/effects"),
        "apply-a\napply-b\napply-c\nundo-c\nundo-a\n"
    );
    let status = f.run(&["status"]).expect(0).stdout();
    assert!(status.contains("rolled_back"), "{status}");
    // After a rollback, apply starts a new run.
    let out = f.run(&["apply", "--yes"]).expect(0).stdout();
    assert!(out.contains("starting run"), "{out}");
}

#[test]
fn rollback_after_a_failed_apply_undoes_only_the_applied_steps() {
    let f = Fixture::new(&UNDOABLE.replace("echo apply-c >> /srv/effects", "exit 9"));
    f.run(&["apply", "--yes"]).expect(5);
    f.run(&["rollback", "--yes"]).expect(0);
    assert_eq!(
        f.host_file("new", "/srv/effects"),
        "apply-a\napply-b\nundo-a\n"
    );
}

#[test]
fn rollback_without_a_run_says_so() {
    let f = Fixture::new(UNDOABLE);
    let r = f.run(&["rollback", "--yes"]).expect(2);
    assert!(
        r.stderr().contains("nothing to roll back"),
        "{}",
        r.stderr()
    );
}
