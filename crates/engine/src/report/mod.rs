//! `cutover report`: the journal rendered as an audit record, in Markdown or JSON.

use crate::error::EngineError;
use crate::preview::status_name;
use crate::session::Session;
use cutover_journal::{format_ms, ChainStatus, Event, Record, RunState};
use serde::Serialize;

mod incidents;
mod markdown;
pub mod proofs;
mod series;
mod spans;
pub use incidents::{DowntimeWindow, RollbackReport};
pub use markdown::detail;
pub use proofs::{ProofDifference, ProofView, SideBySide};
pub use series::{Point, Series, Threshold};
pub use spans::{SpanKind, StepSpan};

/// One step in the report.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    /// Stage.
    pub stage: String,
    /// Step id.
    pub id: String,
    /// Kind.
    pub kind: String,
    /// Outcome word.
    pub outcome: String,
    /// Times started.
    pub attempts: u32,
    /// Seconds from first start to finish.
    pub seconds: Option<f64>,
    /// First start (unix ms).
    pub started_ms: Option<i64>,
    /// Finish (unix ms).
    pub finished_ms: Option<i64>,
    /// What it did, or its error.
    pub summary: Option<String>,
    /// Figures it measured.
    pub measurements: Vec<cutover_journal::state::Measurement>,
}

/// An approval in the report.
#[derive(Debug, Clone, Serialize)]
pub struct ApprovalReport {
    /// The gate.
    pub gate: String,
    /// Who.
    pub by: String,
    /// When.
    pub at: String,
    /// When (unix ms).
    pub at_ms: i64,
    /// Their comment.
    pub comment: Option<String>,
}

/// A timeline entry.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineEntry {
    /// Position in the journal.
    pub seq: i64,
    /// When.
    pub at: String,
    /// When (unix ms).
    pub at_ms: i64,
    /// What happened.
    #[serde(flatten)]
    pub event: Event,
}

/// A proof's full output (a `*.verify` step's table of counts and checksums on both sides).
#[derive(Debug, Clone, Serialize)]
pub struct ProofReport {
    /// The verifying step.
    pub step: String,
    /// The step's kind.
    pub kind: String,
    /// Where it ran.
    pub host: String,
    /// True when both sides matched.
    pub matches: bool,
    /// The verifier's own rendering, as it printed it.
    pub text: String,
    /// Its data side by side and its differences by name (for kinds with a reader).
    pub view: Option<ProofView>,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The plan's name.
    pub plan: String,
    /// The run.
    pub run: String,
    /// When it began.
    pub started: String,
    /// When it began (unix ms).
    pub started_ms: i64,
    /// Its last event.
    pub last_event: Option<String>,
    /// Its last event (unix ms).
    pub last_event_ms: Option<i64>,
    /// Seconds from start to last event.
    pub seconds: f64,
    /// "completed", "rolled_back", or "in progress".
    pub outcome: String,
    /// Steps in plan order.
    pub steps: Vec<StepReport>,
    /// Approvals.
    pub approvals: Vec<ApprovalReport>,
    /// What users saw during each coordinated move and each probed switch.
    pub users_saw: Vec<crate::users_saw::UserWindow>,
    /// The latest output of every verification step.
    pub proofs: Vec<ProofReport>,
    /// When each step worked and waited.
    pub spans: Vec<StepSpan>,
    /// Time series the steps sampled (lag, soak checks).
    pub series: Vec<Series>,
    /// The soak triggers' limits on sampled figures.
    pub thresholds: Vec<Threshold>,
    /// Measured downtime windows.
    pub downtime: Vec<DowntimeWindow>,
    /// Rollbacks, with their causes.
    pub rollbacks: Vec<RollbackReport>,
    /// Every event.
    pub timeline: Vec<TimelineEntry>,
    /// Whether the journal's events still hash as cutover wrote them.
    pub journal: ChainStatus,
}

/// The report of the newest run (or run `run_id`) of the plan at `plan_path`.
pub fn report(plan_path: &std::path::Path, run_id: Option<&str>) -> Result<Report, EngineError> {
    let session = Session::open_read_only(plan_path)?;
    let run = session
        .find_run(run_id)?
        .ok_or_else(|| EngineError::Invalid("no run yet: nothing to report".into()))?;
    let records = session.journal.events(&run.id)?;
    Ok(build(
        &session.plan,
        &run,
        &records,
        session.journal.verify_chain()?,
    ))
}

/// The report of run `run` of `plan` from its events `records` (all of them, in order), with
/// the journal's chain status as verified by the caller: what a live view rebuilds as events
/// arrive, without reading the journal again.
pub fn build(
    plan: &cutover_plan::Plan,
    run: &cutover_journal::RunInfo,
    records: &[Record],
    journal: ChainStatus,
) -> Report {
    let state = RunState::fold(run.clone(), records);
    let steps = plan
        .steps()
        .map(|(stage, step)| {
            let st = state.step(&step.id.value);
            StepReport {
                stage: stage.name.value.clone(),
                id: step.id.value.clone(),
                kind: step.kind.name().into(),
                outcome: st.map_or("not run".into(), |s| status_name(&s.status)),
                attempts: st.map_or(0, |s| s.attempts),
                seconds: st.and_then(|s| Some((s.finished_ms? - s.started_ms?) as f64 / 1000.0)),
                started_ms: st.and_then(|s| s.started_ms),
                finished_ms: st.and_then(|s| s.finished_ms),
                summary: st.and_then(|s| match &s.status {
                    cutover_journal::StepStatus::Failed { error } => Some(error.clone()),
                    cutover_journal::StepStatus::Skipped { reason } => Some(reason.clone()),
                    _ => s.summary.clone(),
                }),
                measurements: st.map(|s| s.measurements.clone()).unwrap_or_default(),
            }
        })
        .collect::<Vec<_>>();
    let users_saw = steps
        .iter()
        .flat_map(|s| crate::users_saw::windows(&s.id, &s.measurements))
        .collect();
    let approvals = state
        .approvals
        .iter()
        .flat_map(|(gate, list)| {
            list.iter().map(move |a| ApprovalReport {
                gate: gate.clone(),
                by: a.by.clone(),
                at: format_ms(a.at_ms),
                at_ms: a.at_ms,
                comment: a.comment.clone(),
            })
        })
        .collect();
    let last = records.last().map(|r| r.at_ms);
    Report {
        plan: plan.name.clone(),
        run: run.id.clone(),
        started: format_ms(run.started_ms),
        started_ms: run.started_ms,
        last_event: last.map(format_ms),
        last_event_ms: last,
        seconds: last.map_or(0.0, |l| (l - run.started_ms) as f64 / 1000.0),
        outcome: state
            .outcome
            .clone()
            .unwrap_or_else(|| "in progress".into()),
        proofs: proofs(plan, records),
        users_saw,
        spans: spans::spans(records),
        series: series::series(records),
        thresholds: series::thresholds(plan),
        downtime: incidents::downtime(&steps),
        rollbacks: incidents::rollbacks(records),
        steps,
        approvals,
        timeline: records.iter().map(timeline_entry).collect(),
        journal,
    }
}

/// The latest proof of each step that recorded one, in plan order, in full.
fn proofs(plan: &cutover_plan::Plan, records: &[Record]) -> Vec<ProofReport> {
    plan.steps()
        .filter_map(|(_, step)| {
            records.iter().rev().find_map(|r| match &r.event {
                Event::ProofRecorded {
                    step: id,
                    hosts,
                    text,
                    matches,
                    data,
                } if *id == step.id.value => Some(ProofReport {
                    step: id.clone(),
                    kind: step.kind.name().into(),
                    host: hosts.clone(),
                    matches: *matches,
                    text: text.clone(),
                    view: proofs::view(Some(step.kind.kind()), data),
                }),
                _ => None,
            })
        })
        .collect()
}

/// A measured value as people read it: whole above 100, else four decimals at most.
pub fn figure(v: f64) -> String {
    if v.fract() == 0.0 || v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

fn timeline_entry(r: &Record) -> TimelineEntry {
    TimelineEntry {
        seq: r.seq,
        at: format_ms(r.at_ms),
        at_ms: r.at_ms,
        event: r.event.clone(),
    }
}
