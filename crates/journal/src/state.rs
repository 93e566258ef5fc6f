//! The state of a run, folded from its events: what `apply` resumes from, what `status`
//! shows and what the report renders.

use crate::event::{Event, OutputValue, Record, RunInfo};
use serde::Serialize;
use std::collections::BTreeMap;

/// Where a step stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum StepStatus {
    /// Not started.
    Pending,
    /// Started and not finished: the run was interrupted here (or is running it now).
    InFlight,
    /// A gate is holding the run here.
    Waiting {
        /// What for.
        reason: String,
        /// When a time gate opens (unix ms).
        until_ms: Option<i64>,
    },
    /// Done.
    Applied,
    /// Its effect was already in place.
    Skipped {
        /// Why.
        reason: String,
    },
    /// It failed.
    Failed {
        /// What went wrong.
        error: String,
    },
    /// Its undo ran.
    RolledBack,
    /// Its undo failed.
    RollbackFailed {
        /// What went wrong.
        error: String,
    },
}

impl StepStatus {
    /// True when the step's effect is in place (applied or found in place).
    pub fn is_done(&self) -> bool {
        matches!(self, StepStatus::Applied | StepStatus::Skipped { .. })
    }
}

/// An approval given to a gate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Approval {
    /// Who.
    pub by: String,
    /// Their comment.
    pub comment: Option<String>,
    /// When (unix ms).
    pub at_ms: i64,
}

/// A measured figure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measurement {
    /// What.
    pub name: String,
    /// Value.
    pub value: f64,
    /// Unit.
    pub unit: String,
}

/// A schema fingerprint a step recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SchemaRecord {
    /// Which server's schema ("source").
    pub side: String,
    /// Digest of every schema object's definition.
    pub digest: String,
    /// How many objects it covers.
    pub objects: u64,
}

/// One step's history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepState {
    /// The step id.
    pub id: String,
    /// The stage it belongs to.
    pub stage: String,
    /// Its kind.
    pub kind: String,
    /// Where it stands.
    #[serde(flatten)]
    pub status: StepStatus,
    /// How many times it was started.
    pub attempts: u32,
    /// First start (unix ms).
    pub started_ms: Option<i64>,
    /// When it was applied, skipped or failed (unix ms).
    pub finished_ms: Option<i64>,
    /// One line on what it did.
    pub summary: Option<String>,
    /// Figures it measured.
    pub measurements: Vec<Measurement>,
    /// The schema it recorded (a `postgres.sync`: the source's when it first started).
    pub schema: Option<SchemaRecord>,
    /// Values it captured from its output, by name (the latest capture of each); sealed
    /// ones are left out of `status --json`.
    #[serde(skip)]
    pub outputs: BTreeMap<String, OutputValue>,
}

/// A run's state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunState {
    /// The run.
    pub run: RunInfo,
    /// Digest of the plan as last applied.
    pub plan_digest: Option<String>,
    /// Steps that have any history, in the order they first appeared.
    pub steps: Vec<StepState>,
    /// Approvals by gate (step id), given at any time during the run.
    pub approvals: BTreeMap<String, Vec<Approval>>,
    /// True once rollback began.
    pub rolling_back: bool,
    /// "completed" or "rolled_back" once the run ended.
    pub outcome: Option<String>,
    /// The last event's time (unix ms).
    pub last_event_ms: Option<i64>,
}

impl RunState {
    /// Folds `records` (in order) of run `run`.
    pub fn fold(run: RunInfo, records: &[Record]) -> Self {
        let mut s = RunState {
            run,
            plan_digest: None,
            steps: Vec::new(),
            approvals: BTreeMap::new(),
            rolling_back: false,
            outcome: None,
            last_event_ms: None,
        };
        for r in records {
            s.apply(r);
        }
        s
    }

    /// The state of step `id`, if it has any history.
    pub fn step(&self, id: &str) -> Option<&StepState> {
        self.steps.iter().find(|s| s.id == id)
    }

    /// True when step `id` is done (applied or found in place).
    pub fn is_done(&self, id: &str) -> bool {
        self.step(id).is_some_and(|s| s.status.is_done())
    }

    fn step_mut(&mut self, id: &str) -> &mut StepState {
        if let Some(i) = self.steps.iter().position(|s| s.id == id) {
            return &mut self.steps[i];
        }
        self.steps.push(StepState {
            id: id.to_string(),
            stage: String::new(),
            kind: String::new(),
            status: StepStatus::Pending,
            attempts: 0,
            started_ms: None,
            finished_ms: None,
            summary: None,
            measurements: Vec::new(),
            schema: None,
            outputs: BTreeMap::new(),
        });
        let last = self.steps.len() - 1;
        &mut self.steps[last]
    }

    fn apply(&mut self, r: &Record) {
        self.last_event_ms = Some(r.at_ms);
        match &r.event {
            Event::RunStarted { plan_digest, .. } => self.plan_digest = Some(plan_digest.clone()),
            Event::PlanChanged { to, .. } => self.plan_digest = Some(to.clone()),
            Event::StepStarted {
                stage,
                step,
                kind,
                attempt,
            } => {
                let st = self.step_mut(step);
                st.stage = stage.clone();
                st.kind = kind.clone();
                st.attempts = *attempt;
                st.started_ms.get_or_insert(r.at_ms);
                st.status = StepStatus::InFlight;
            }
            Event::StepWaiting {
                step,
                reason,
                until_ms,
            } => {
                self.step_mut(step).status = StepStatus::Waiting {
                    reason: reason.clone(),
                    until_ms: *until_ms,
                };
            }
            Event::StepApplied { step, summary, .. } => {
                let st = self.step_mut(step);
                st.status = StepStatus::Applied;
                st.finished_ms = Some(r.at_ms);
                st.summary = Some(summary.clone());
            }
            Event::StepSkipped { step, reason } => {
                let st = self.step_mut(step);
                st.status = StepStatus::Skipped {
                    reason: reason.clone(),
                };
                st.finished_ms = Some(r.at_ms);
            }
            Event::StepFailed { step, error } => {
                let st = self.step_mut(step);
                st.status = StepStatus::Failed {
                    error: error.clone(),
                };
                st.finished_ms = Some(r.at_ms);
            }
            Event::Approved { step, by, comment } => {
                self.approvals
                    .entry(step.clone())
                    .or_default()
                    .push(Approval {
                        by: by.clone(),
                        comment: comment.clone(),
                        at_ms: r.at_ms,
                    });
            }
            Event::Measured {
                step,
                name,
                value,
                unit,
            } => {
                self.step_mut(step).measurements.push(Measurement {
                    name: name.clone(),
                    value: *value,
                    unit: unit.clone(),
                });
            }
            Event::SchemaRecorded {
                step,
                side,
                digest,
                objects,
            } => {
                self.step_mut(step).schema = Some(SchemaRecord {
                    side: side.clone(),
                    digest: digest.clone(),
                    objects: *objects,
                });
            }
            Event::OutputCaptured { step, name, value } => {
                self.step_mut(step)
                    .outputs
                    .insert(name.clone(), value.clone());
            }
            Event::RollbackStarted { .. } => self.rolling_back = true,
            // A partial rollback leaves the run resumable, also one that had completed:
            // `apply` applies the undone steps again.
            Event::RollbackFinished { .. } => {
                self.rolling_back = false;
                self.outcome = None;
            }
            Event::StepRolledBack { step, .. } => {
                self.step_mut(step).status = StepStatus::RolledBack
            }
            Event::StepRollbackFailed { step, error } => {
                self.step_mut(step).status = StepStatus::RollbackFailed {
                    error: error.clone(),
                };
            }
            Event::RunFinished { outcome } => self.outcome = Some(outcome.clone()),
            Event::ApplyStarted { .. }
            | Event::StageStarted { .. }
            | Event::CommandStarted { .. }
            | Event::CommandFinished { .. }
            | Event::StateRecorded { .. }
            | Event::Sampled { .. }
            | Event::Progressed { .. }
            | Event::Outage { .. }
            | Event::ProofRecorded { .. }
            | Event::ApplyStopped { .. } => {}
        }
    }
}
