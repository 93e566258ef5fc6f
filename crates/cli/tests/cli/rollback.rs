//! cutover rollback: reverse order, journaled, resumable after a failed undo.

use crate::fixture::{kill_9_when, Fixture};

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

/// A `run` step whose command writes a config file holding a token, then works a while.
const CONFIG_WRITER: &str = r#"
[[stages]]
name = "s"

[[stages.steps]]
id = "write-config"
kind = "run"
hosts = ["new"]
command = "echo token > /srv/app.conf; sleep 2; echo command-ended >> /srv/effects"
undo = "rm -f /srv/app.conf; echo undo >> /srv/effects"
"#;

/// `run` IDs and step times vary: the text a user sees with them replaced.
fn normalized(text: &str, run: &str) -> String {
    let seconds = regex_lite::Regex::new(r"\(\d+\.\ds\)").expect("regex");
    seconds
        .replace_all(&text.replace(run, "RUN"), "(N.Ns)")
        .into_owned()
}

/// The newest run's id, from `cutover status --json`.
fn run_id(f: &Fixture) -> String {
    let status: serde_json::Value =
        serde_json::from_str(&f.run(&["status", "--json"]).expect(0).stdout()).expect("json");
    status["run"].as_str().expect("a run").to_string()
}

/// Killed after its command started, a `run` step is undone by `cutover rollback` straight
/// away: the command the interrupted attempt started is waited for (it goes on running on
/// the host), then the step's `undo` runs.
#[test]
fn rollback_straight_after_a_kill_inside_a_run_step_runs_its_undo() {
    let f = Fixture::new(CONFIG_WRITER);
    let apply = f
        .command(&["apply", "--yes"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("apply");
    let conf = f.lab.host("new").fs_path("/srv/app.conf");
    kill_9_when(apply, "the command wrote its config file", || conf.exists());
    let run = run_id(&f);
    let status = f.run(&["status"]).expect(0).stdout();
    assert_eq!(
        normalized(&status, &run),
        "plan test-plan: run RUN in progress\n  s            write-config         run      in_flight\n"
    );
    let out = f.run(&["rollback", "--yes"]).expect(0).stdout();
    assert_eq!(
        normalized(&out, &run),
        "resuming run RUN
-> write-config (run (undo))
   new: the command of the interrupted attempt ended (exit 0)
   ok write-config: undo ran on new (N.Ns)

done: run RUN rolled back (1 step(s) undone)
"
    );
    assert!(
        !conf.exists(),
        "the token's config file outlived the rollback"
    );
    // The undo ran after the interrupted command had finished, not beside it.
    assert_eq!(f.host_file("new", "/srv/effects"), "command-ended\nundo\n");
}

/// An interrupted step whose kind cannot undo what it may have done (here a `run` step
/// without `undo`) is named by the rollback as left in place.
#[test]
fn rollback_after_a_kill_names_an_interrupted_step_it_cannot_undo() {
    let f = Fixture::new(&CONFIG_WRITER.replace(
        "undo = \"rm -f /srv/app.conf; echo undo >> /srv/effects\"\n",
        "",
    ));
    let apply = f
        .command(&["apply", "--yes"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("apply");
    let conf = f.lab.host("new").fs_path("/srv/app.conf");
    kill_9_when(apply, "the command wrote its config file", || conf.exists());
    let run = run_id(&f);
    let out = f.run(&["rollback", "--yes"]).expect(0).stdout();
    assert_eq!(
        normalized(&out, &run),
        "resuming run RUN
   left write-config: interrupted; its command may have run on new and the step has no `undo`, so what it did stays

done: run RUN rolled back (0 step(s) undone, 1 left in place: write-config)
"
    );
}
