//! The engine on its own, without SSH or a lab: plans whose hosts are `local`, applied and
//! rolled back through the library, asserting the commands as rendered and journaled, where
//! secrets go, and what a second pass finds already in place. Runs in well under a second.

use cutover_engine::{apply, rollback, ApplyOptions, ApplyOutcome};
use cutover_journal::{Event, Journal, SqliteJournal};
use std::path::{Path, PathBuf};
use tokio::sync::watch;

const CANARY: &str = "s3cr3t-canary-7f1c";

/// A plan in a temp dir; `@DIR` in its text stands for that dir.
struct Plan {
    dir: tempfile::TempDir,
}

impl Plan {
    fn new(body: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = body.replace("@DIR", &dir.path().display().to_string());
        std::fs::write(dir.path().join("cutover.toml"), text).expect("write plan");
        Plan { dir }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("cutover.toml")
    }

    fn file(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }

    async fn apply(&self) -> ApplyOutcome {
        let (_tx, cancel) = watch::channel(false);
        apply(&self.path(), &ApplyOptions::default(), &Silent, cancel)
            .await
            .expect("apply")
    }

    async fn rollback(&self) -> Vec<String> {
        let (_tx, cancel) = watch::channel(false);
        rollback(&self.path(), "test", &Silent, cancel)
            .await
            .expect("rollback")
            .undone
    }

    /// Every event of the newest run, in order.
    fn events(&self) -> Vec<Event> {
        let journal = journal_of(&self.path());
        let run = journal.latest_run().expect("runs").expect("a run");
        journal
            .events(&run.id)
            .expect("events")
            .into_iter()
            .map(|r| r.event)
            .collect()
    }

    /// The commands journaled for `step`, as `cutover plan` shows them: `HOST: ENV command`.
    fn commands(&self, step: &str) -> Vec<String> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::CommandStarted {
                    step: s, command, ..
                } if s == step => Some(command),
                _ => None,
            })
            .collect()
    }
}

fn journal_of(plan: &Path) -> SqliteJournal {
    SqliteJournal::open_read_only(&plan.with_file_name("cutover.journal.db")).expect("journal")
}

struct Silent;

impl cutover_engine::Ui for Silent {
    fn show(&self, _: cutover_engine::Progress) {}
}

const HEADER: &str = r#"
name = "engine-test"

[hosts.a]
local = true

[hosts.b]
local = true

[vars]
dir = "@DIR"
tag = "v1.2.3"

[secrets.token]
env = "CUTOVER_ENGINE_TEST_TOKEN"
"#;

fn plan(steps: &str) -> Plan {
    // SAFETY of the test: every test sets the same value, so parallel tests agree.
    std::env::set_var("CUTOVER_ENGINE_TEST_TOKEN", CANARY);
    Plan::new(&format!("{HEADER}\n[[stages]]\nname = \"s\"\n{steps}"))
}

#[tokio::test]
async fn a_run_step_is_rendered_with_vars_and_its_secret_stays_in_the_environment() {
    let p = plan(
        r#"
[[stages.steps]]
id = "release"
kind = "run"
hosts = ["a", "b"]
env = { TOKEN = "{{ secrets.token }}" }
command = "printf '%s %s\n' {{ vars.tag }} \"$TOKEN\" >> {{ vars.dir }}/released"
"#,
    );
    assert!(matches!(p.apply().await, ApplyOutcome::Completed { .. }));
    let dir = p.dir.path().display().to_string();
    // The secret's value never shows: the command names the variable, the env is masked.
    let expected = format!("TOKEN=*** printf '%s %s\n' v1.2.3 \"$TOKEN\" >> {dir}/released");
    assert_eq!(
        p.commands("release"),
        vec![format!("a: {expected}"), format!("b: {expected}")]
    );
    // Both hosts ran it, each with the secret from its environment.
    assert_eq!(
        p.file("released"),
        format!("v1.2.3 {CANARY}\nv1.2.3 {CANARY}\n")
    );
    let journal = std::fs::read(journal_of(&p.path()).path()).expect("journal bytes");
    assert!(
        !journal
            .windows(CANARY.len())
            .any(|w| w == CANARY.as_bytes()),
        "the secret reached the journal file"
    );
}

#[tokio::test]
async fn a_pipe_streams_from_one_host_into_the_other_and_undoes_with_its_own_command() {
    let p = plan(
        r#"
[[stages.steps]]
id = "copy"
kind = "pipe"
from = { host = "a", command = "printf 'payload %s' {{ vars.tag }}" }
to = { host = "b", command = "cat > {{ vars.dir }}/piped" }
check = "test -s {{ vars.dir }}/piped"
undo = "rm {{ vars.dir }}/piped"
"#,
    );
    p.apply().await;
    assert_eq!(p.file("piped"), "payload v1.2.3");
    let dir = p.dir.path().display().to_string();
    // The check first (not in place yet), then one pipeline from host to host.
    assert_eq!(
        p.commands("copy"),
        vec![
            format!("b: test -s {dir}/piped"),
            format!("a: printf 'payload %s' v1.2.3  |  b: cat > {dir}/piped"),
        ]
    );
    assert_eq!(p.rollback().await, vec!["copy".to_string()]);
    assert!(!p.dir.path().join("piped").exists(), "undo left the file");
}

#[tokio::test]
async fn rollback_undoes_newest_first_with_rendered_undo_commands() {
    let p = plan(
        r#"
[[stages.steps]]
id = "first"
kind = "run"
hosts = ["a"]
command = "echo first >> {{ vars.dir }}/log"
undo = "echo undo-first >> {{ vars.dir }}/log"

[[stages.steps]]
id = "second"
kind = "run"
hosts = ["b"]
command = "echo second >> {{ vars.dir }}/log"
undo = "echo undo-second-{{ vars.tag }} >> {{ vars.dir }}/log"
"#,
    );
    p.apply().await;
    let undone = p.rollback().await;
    assert_eq!(undone, vec!["second".to_string(), "first".to_string()]);
    assert_eq!(
        p.file("log"),
        "first\nsecond\nundo-second-v1.2.3\nundo-first\n"
    );
}

/// dnscontrol's "zero corrections" rule for the kinds that run without servers: a plan whose
/// effects are already in place does nothing on apply (each step's check finds it done), and
/// a completed run is not applied twice.
#[tokio::test]
async fn effects_already_in_place_are_found_not_redone() {
    let p = plan(
        r#"
[[stages.steps]]
id = "marker"
kind = "run"
hosts = ["a"]
command = "echo ran >> {{ vars.dir }}/effects; touch {{ vars.dir }}/marker"
check = "test -e {{ vars.dir }}/marker"

[[stages.steps]]
id = "copy"
kind = "pipe"
from = { host = "a", command = "echo ran-pipe >> {{ vars.dir }}/effects; printf x" }
to = { host = "b", command = "cat > {{ vars.dir }}/piped" }
check = "test -s {{ vars.dir }}/piped"
"#,
    );
    std::fs::write(p.dir.path().join("marker"), "").expect("marker");
    std::fs::write(p.dir.path().join("piped"), "x").expect("piped");
    assert!(matches!(p.apply().await, ApplyOutcome::Completed { .. }));
    assert_eq!(
        p.file("effects"),
        "",
        "a step ran although its effect was in place"
    );
    let skipped: Vec<String> = p
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::StepSkipped { step, .. } => Some(step),
            _ => None,
        })
        .collect();
    assert_eq!(skipped, vec!["marker".to_string(), "copy".to_string()]);
    assert!(matches!(
        p.apply().await,
        ApplyOutcome::AlreadyComplete { .. }
    ));
    assert_eq!(p.file("effects"), "");
}
