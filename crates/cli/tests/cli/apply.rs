//! apply, plan, status, failures and idempotence.

use crate::fixture::Fixture;

const THREE_STEPS: &str = r#"
[[stages]]
name = "prepare"

[[stages.steps]]
id = "one"
kind = "run"
hosts = ["old", "new"]
command = "echo one >> /srv/effects; hostname"

[[stages.steps]]
id = "two"
kind = "run"
hosts = ["new"]
command = "test -e /srv/allow-two || { echo 'two is not allowed yet' >&2; exit 3; }; echo two >> /srv/effects"
undo = "echo undo-two >> /srv/effects"

[[stages]]
name = "finish"

[[stages.steps]]
id = "three"
kind = "pipe"
from = { host = "old", command = "printf 'payload from old'" }
to = { host = "new", command = "cat > /srv/payload" }
check = "test -s /srv/payload"
"#;

#[test]
fn plan_shows_the_exact_changes() {
    let f = Fixture::new(THREE_STEPS);
    let out = f.run(&["plan"]).expect(0).stdout();
    let expected = "plan test-plan (a new run)

== stage prepare
  +  one (run)
       old$ echo one >> /srv/effects; hostname
       new$ echo one >> /srv/effects; hostname
  +  two (run)
       new$ test -e /srv/allow-two || { echo 'two is not allowed yet' >&2; exit 3; }; echo two >> /srv/effects
       undo: echo undo-two >> /srv/effects

== stage finish
  +  three (pipe)
       old$ printf 'payload from old'  |  new$ cat > /srv/payload
       skipped when `test -s /srv/payload` passes on new

3 step(s) to apply
";
    assert_eq!(out, expected);
}

#[test]
fn a_failed_step_stops_the_run_and_a_retry_continues_it() {
    let f = Fixture::new(THREE_STEPS);
    let run = f.run(&["apply", "--yes"]).expect(5);
    let out = run.stdout();
    assert!(out.contains("FAILED two"), "{out}");
    assert!(
        out.contains("command failed on new (exit 3):\n     │ two is not allowed yet"),
        "{out}"
    );
    assert!(
        out.contains("`cutover rollback` to undo the 1 applied step(s)"),
        "{out}"
    );
    assert!(
        run.stderr().contains("step `two` failed"),
        "{}",
        run.stderr()
    );
    // Nothing after the failed step ran.
    assert_eq!(f.host_file("new", "/srv/effects"), "one\n");
    assert!(f.host_file("new", "/srv/payload").is_empty());
    let status = f.run(&["status"]).expect(0).stdout();
    assert!(
        status.contains("run ") && status.contains(" failed"),
        "{status}"
    );
    // Fix the cause and apply again: the run continues from the failed step.
    f.lab.host("new").exec_ok("touch /srv/allow-two").unwrap();
    let out = f.run(&["apply", "--yes"]).expect(0).stdout();
    assert!(out.contains("resuming run"), "{out}");
    assert_eq!(f.host_file("new", "/srv/effects"), "one\ntwo\n");
    assert_eq!(f.host_file("old", "/srv/effects"), "one\n");
    assert_eq!(f.host_file("new", "/srv/payload"), "payload from old");
}

#[test]
fn applying_twice_changes_nothing_the_second_time() {
    let f = Fixture::new(THREE_STEPS);
    f.lab.host("new").exec_ok("touch /srv/allow-two").unwrap();
    f.run(&["apply", "--yes"]).expect(0);
    let out = f.run(&["apply", "--yes"]).expect(0).stdout();
    assert!(out.contains("is already complete: nothing to do"), "{out}");
    assert_eq!(f.host_file("new", "/srv/effects"), "one\ntwo\n");
    let plan = f.run(&["plan"]).expect(0).stdout();
    assert!(plan.contains("(a new run)"), "{plan}");
}

#[test]
fn a_step_whose_check_passes_is_skipped() {
    let f = Fixture::new(THREE_STEPS);
    f.lab
        .host("new")
        .exec_ok("touch /srv/allow-two; echo existing > /srv/payload")
        .unwrap();
    let out = f.run(&["apply", "--yes"]).expect(0).stdout();
    assert!(
        out.contains("skip three: already in place (its check passed)"),
        "{out}"
    );
    assert_eq!(f.host_file("new", "/srv/payload"), "existing\n");
}

#[test]
fn until_stops_after_the_named_stage() {
    let f = Fixture::new(THREE_STEPS);
    f.lab.host("new").exec_ok("touch /srv/allow-two").unwrap();
    let out = f
        .run(&["apply", "--yes", "--until", "prepare"])
        .expect(0)
        .stdout();
    assert!(out.contains("stopped after stage prepare"), "{out}");
    assert!(f.host_file("new", "/srv/payload").is_empty());
    let bad = f.run(&["apply", "--yes", "--until", "prepar"]).expect(2);
    assert!(
        bad.stderr()
            .contains("no stage `prepar`; stages are prepare, finish"),
        "{}",
        bad.stderr()
    );
    f.run(&["apply", "--yes"]).expect(0);
    assert_eq!(f.host_file("new", "/srv/payload"), "payload from old");
}

#[test]
fn apply_refuses_to_run_unconfirmed_off_a_terminal() {
    let f = Fixture::new(THREE_STEPS);
    let run = f.run(&["apply"]).expect(2);
    assert!(run.stderr().contains("pass --yes"), "{}", run.stderr());
    assert!(f.host_file("new", "/srv/effects").is_empty());
}

#[test]
fn an_invalid_plan_is_reported_with_its_location_and_nothing_runs() {
    let f = Fixture::new("[[stages]]\nname = \"s\"\n[[stages.steps]]\nid = \"x\"\nkind = \"run\"\nhosts = [\"nwe\"]\ncommand = \"touch /srv/ran\"\n");
    let run = f.run(&["apply", "--yes"]).expect(3);
    let err = run.stderr();
    assert!(err.contains("unknown host `nwe`"), "{err}");
    assert!(err.contains("did you mean `new`?"), "{err}");
    assert!(err.contains("cutover.toml:17:11"), "{err}");
    let json = f.run(&["check", "--json"]).expect(3).stdout();
    assert!(
        json.contains("\"line\": 17") && json.contains("\"column\": 11"),
        "{json}"
    );
}
