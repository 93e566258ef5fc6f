//! A step context without a lab, for unit tests of the runners: a one-step plan whose host is
//! local, a journal in a temp dir, and a UI that keeps every line shown.

use crate::context::{RunScope, StepCtx};
use crate::secrets::Secrets;
use crate::ui::{Progress, Ui};
use cutover_exec::{Executor, Redactor};
use cutover_journal::{Event, Journal, RunInfo, RunState, SqliteJournal};
use cutover_plan::Plan;
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::watch;

const PLAN: &str = r#"
name = "harness"

[hosts.a]
local = true

[[stages]]
name = "s"

[[stages.steps]]
id = "the-step"
kind = "run"
hosts = ["a"]
command = "true"
"#;

/// Keeps the detail lines a step shows.
#[derive(Default)]
pub(crate) struct Shown(Mutex<Vec<String>>);

impl Ui for Shown {
    fn show(&self, p: Progress) {
        if let Progress::Detail(line) = p {
            self.0.lock().unwrap_or_else(|p| p.into_inner()).push(line);
        }
    }
}

/// Everything a [`StepCtx`] borrows.
pub(crate) struct Harness {
    plan: Plan,
    journal: SqliteJournal,
    run: RunInfo,
    state: RunState,
    exec: Executor,
    secrets: Secrets,
    shown: Shown,
    cancel: (watch::Sender<bool>, watch::Receiver<bool>),
    _dir: tempfile::TempDir,
}

impl Harness {
    pub(crate) fn new() -> Harness {
        let dir = tempfile::tempdir().expect("tempdir");
        let plan = cutover_plan::parse(PLAN, "cutover.toml", dir.path().to_path_buf())
            .unwrap_or_else(|e| panic!("the harness plan: {e:?}"));
        let journal = SqliteJournal::open(&dir.path().join("journal.db")).expect("journal");
        let run = journal.create_run("harness").expect("run");
        let state = RunState::fold(run.clone(), &[]);
        Harness {
            plan,
            journal,
            run,
            state,
            exec: Executor::new(HashMap::new(), Redactor::default()),
            secrets: Secrets::default(),
            shown: Shown::default(),
            cancel: watch::channel(false),
            _dir: dir,
        }
    }

    /// The context of the plan's one step.
    pub(crate) fn ctx(&self) -> StepCtx<'_> {
        let scope = RunScope {
            plan: &self.plan,
            run_id: &self.run.id,
            exec: &self.exec,
            journal: &self.journal,
            secrets: &self.secrets,
            ui: &self.shown,
            cancel: self.cancel.1.clone(),
            no_wait: true,
            members: None,
            writable: None,
        };
        let stage = &self.plan.stages[0];
        StepCtx::new(&scope, stage, &stage.steps[0], &self.state, 1, 0)
    }

    /// The values `cutover plan` shows the plan's templates with (secrets masked).
    pub(crate) fn values(&self) -> crate::context::Values<'_> {
        crate::context::Values {
            plan: &self.plan,
            run_id: None,
            secrets: None,
            outputs: None,
        }
    }

    /// The lines shown so far.
    pub(crate) fn shown(&self) -> Vec<String> {
        self.shown
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Every event journaled, in order.
    pub(crate) fn events(&self) -> Vec<Event> {
        self.journal
            .events(&self.run.id)
            .expect("events")
            .into_iter()
            .map(|r| r.event)
            .collect()
    }
}
