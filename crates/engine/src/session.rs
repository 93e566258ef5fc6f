//! A plan file opened with its journal: the starting point of every command.

use crate::error::EngineError;
use crate::journal_store::{self, Access};
use crate::secrets::Secrets;
use cutover_journal::{Journal, RunInfo, RunState};
use cutover_plan::Plan;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A loaded plan and its journal.
pub struct Session {
    /// The plan.
    pub plan: Plan,
    /// The plan file.
    pub plan_path: PathBuf,
    /// The plan file's text.
    pub plan_src: String,
    /// The journal file; for a shared PostgreSQL journal, its URL (no password) and the
    /// plan's key in it, which names the run's SSH connections as a path would.
    pub journal_path: PathBuf,
    /// The journal.
    pub journal: Arc<dyn Journal>,
}

impl Session {
    /// Loads the plan at `plan_path` and opens its journal; with `secrets`, everything the
    /// journal stores is redacted of their values.
    pub fn open(plan_path: &Path, secrets: Option<&Secrets>) -> Result<Self, EngineError> {
        let (plan, plan_src) = cutover_plan::load(plan_path)?;
        let opened = journal_store::open(&plan, plan_path, secrets, Access::Write)?;
        Ok(Session {
            plan,
            plan_path: plan_path.to_path_buf(),
            plan_src,
            journal_path: opened.location,
            journal: opened.journal,
        })
    }

    /// Loads the plan at `plan_path` and opens its journal for reading only, for commands
    /// that change nothing (`check`, `plan`, `status`, `report`): the journal is not created
    /// when missing (it reads as no run yet), and the plan's directory may be read-only.
    pub fn open_read_only(plan_path: &Path) -> Result<Self, EngineError> {
        let (plan, plan_src) = cutover_plan::load(plan_path)?;
        let opened = journal_store::open(&plan, plan_path, None, Access::Read)?;
        Ok(Session {
            plan,
            plan_path: plan_path.to_path_buf(),
            plan_src,
            journal_path: opened.location,
            journal: opened.journal,
        })
    }

    /// Loads the plan at `plan_path` without opening its journal, for checks that need the
    /// plan alone and no network (`check --offline`): the journal reads as empty.
    pub fn open_plan_only(plan_path: &Path) -> Result<Self, EngineError> {
        let (plan, plan_src) = cutover_plan::load(plan_path)?;
        let journal_path = plan.journal_path(plan_path);
        // A path that cannot exist: an empty journal in memory, never a file.
        let nowhere = Path::new("/nonexistent/cutover-plan-only.journal.db");
        let journal = cutover_journal::SqliteJournal::open_read_only(nowhere)?;
        Ok(Session {
            plan,
            plan_path: plan_path.to_path_buf(),
            plan_src,
            journal_path,
            journal: Arc::new(journal),
        })
    }

    /// Loads the plan, reads its secrets, and opens the journal redacting them.
    pub fn open_with_secrets(plan_path: &Path) -> Result<(Self, Secrets), EngineError> {
        let (plan, _) = cutover_plan::load(plan_path)?;
        let secrets = Secrets::resolve(&plan)?;
        let mut session = Self::open(plan_path, Some(&secrets))?;
        let receivers = crate::notify::receivers(&session.plan, &secrets);
        if !receivers.is_empty() {
            let redactor = secrets.redactor();
            session.journal = Arc::new(crate::notify::NotifyingJournal::new(
                session.journal.clone(),
                session.plan.name.clone(),
                receivers,
                Arc::new(move |s: &str| redactor.redact(s)),
            ));
        }
        Ok((session, secrets))
    }

    /// A digest of the plan's text, to notice edits between resumes (not a security hash).
    pub fn plan_digest(&self) -> String {
        let h = self
            .plan_src
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
            });
        format!("{h:016x}")
    }

    /// The newest run and its state.
    pub fn latest(&self) -> Result<Option<(RunInfo, RunState)>, EngineError> {
        let Some(run) = self.journal.latest_run()? else {
            return Ok(None);
        };
        let state = RunState::fold(run.clone(), &self.journal.events(&run.id)?);
        Ok(Some((run, state)))
    }

    /// The run `spec` names: a run id, or `N` for the journal's Nth run (1 is the first);
    /// the newest when `None`. `Ok(None)` when the journal has no run yet.
    pub fn find_run(&self, spec: Option<&str>) -> Result<Option<RunInfo>, EngineError> {
        let runs = self.journal.runs()?;
        let Some(spec) = spec else {
            return Ok(runs.into_iter().last());
        };
        let count = runs.len();
        let by_number = spec
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=count).contains(n))
            .map(|n| n - 1);
        match runs.iter().position(|r| r.id == spec).or(by_number) {
            Some(i) => Ok(runs.into_iter().nth(i)),
            None => Err(EngineError::Invalid(format!(
                "no run `{spec}` in the journal: give a run id or a number from 1 to {count} (`cutover status --json` lists their ids)"
            ))),
        }
    }

    /// The ids of every run in the journal, oldest first.
    pub fn run_ids(&self) -> Result<Vec<String>, EngineError> {
        Ok(self.journal.runs()?.into_iter().map(|r| r.id).collect())
    }

    /// The state of run `run`.
    pub fn state(&self, run: &RunInfo) -> Result<RunState, EngineError> {
        Ok(RunState::fold(run.clone(), &self.journal.events(&run.id)?))
    }
}
