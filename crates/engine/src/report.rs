//! `cutover report`: the journal rendered as an audit record, in Markdown or JSON.

use crate::error::EngineError;
use crate::preview::status_name;
use crate::session::Session;
use cutover_journal::{format_ms, ChainStatus, Event, Record, RunState};
use serde::Serialize;

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
    /// Their comment.
    pub comment: Option<String>,
}

/// A timeline entry.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineEntry {
    /// When.
    pub at: String,
    /// What happened.
    #[serde(flatten)]
    pub event: Event,
}

/// A proof's full output (a `*.verify` step's table of counts and checksums on both sides).
#[derive(Debug, Clone, Serialize)]
pub struct ProofReport {
    /// The verifying step.
    pub step: String,
    /// Where it ran.
    pub host: String,
    /// The verifier's own rendering, as it printed it.
    pub text: String,
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
    /// Its last event.
    pub last_event: Option<String>,
    /// Seconds from start to last event.
    pub seconds: f64,
    /// "completed", "rolled_back", or "in progress".
    pub outcome: String,
    /// Steps in plan order.
    pub steps: Vec<StepReport>,
    /// Approvals.
    pub approvals: Vec<ApprovalReport>,
    /// The latest output of every verification step.
    pub proofs: Vec<ProofReport>,
    /// Every event.
    pub timeline: Vec<TimelineEntry>,
    /// Whether the journal's events still hash as cutover wrote them.
    pub journal: ChainStatus,
}

/// The report of the newest run (or run `run_id`) of the plan at `plan_path`.
pub fn report(plan_path: &std::path::Path, run_id: Option<&str>) -> Result<Report, EngineError> {
    let session = Session::open_read_only(plan_path)?;
    let runs = session.journal.runs()?;
    let run = match run_id {
        Some(id) => runs
            .into_iter()
            .find(|r| r.id == id)
            .ok_or_else(|| EngineError::Invalid(format!("no run `{id}` in the journal")))?,
        None => runs
            .into_iter()
            .last()
            .ok_or_else(|| EngineError::Invalid("no run yet: nothing to report".into()))?,
    };
    let records = session.journal.events(&run.id)?;
    let state = RunState::fold(run.clone(), &records);
    let steps = session
        .plan
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
                summary: st.and_then(|s| match &s.status {
                    cutover_journal::StepStatus::Failed { error } => Some(error.clone()),
                    cutover_journal::StepStatus::Skipped { reason } => Some(reason.clone()),
                    _ => s.summary.clone(),
                }),
                measurements: st.map(|s| s.measurements.clone()).unwrap_or_default(),
            }
        })
        .collect();
    let approvals = state
        .approvals
        .iter()
        .flat_map(|(gate, list)| {
            list.iter().map(move |a| ApprovalReport {
                gate: gate.clone(),
                by: a.by.clone(),
                at: format_ms(a.at_ms),
                comment: a.comment.clone(),
            })
        })
        .collect();
    let last = records.last().map(|r| r.at_ms);
    Ok(Report {
        plan: session.plan.name.clone(),
        run: run.id.clone(),
        started: format_ms(run.started_ms),
        last_event: last.map(format_ms),
        seconds: last.map_or(0.0, |l| (l - run.started_ms) as f64 / 1000.0),
        outcome: state
            .outcome
            .clone()
            .unwrap_or_else(|| "in progress".into()),
        proofs: proofs(&session.plan, &records),
        steps,
        approvals,
        timeline: records.iter().map(timeline_entry).collect(),
        journal: session.journal.verify_chain()?,
    })
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
                    ..
                } if *id == step.id.value => Some(ProofReport {
                    step: id.clone(),
                    host: hosts.clone(),
                    text: text.clone(),
                }),
                _ => None,
            })
        })
        .collect()
}

/// A measured value as people read it: whole above 100, else four decimals at most.
fn figure(v: f64) -> String {
    if v.fract() == 0.0 || v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

fn timeline_entry(r: &Record) -> TimelineEntry {
    TimelineEntry {
        at: format_ms(r.at_ms),
        event: r.event.clone(),
    }
}

/// A value for a Markdown table cell or heading: nothing in it is rendered as HTML or
/// Markdown, and no control or bidirectional character reaches the reader raw.
fn cell(s: &str) -> String {
    crate::text::markdown_inline(s)
}

impl Report {
    /// The report as Markdown. Every value comes from the journal (hosts' output, file
    /// names, operators' comments) and is escaped.
    pub fn markdown(&self) -> String {
        let mut m = format!("# cutover report: {}\n\n", cell(&self.plan));
        m += &format!(
            "Run {} started {}; outcome **{}** after {:.1} s.\n\nJournal: {}.\n\n## Steps\n\n| stage | step | kind | outcome | tries | seconds | summary |\n|---|---|---|---|---|---|---|\n",
            cell(&self.run),
            cell(&self.started),
            cell(&self.outcome),
            self.seconds,
            self.journal
        );
        for s in &self.steps {
            m += &format!(
                "| {} | {} | {} | {} | {} | {} | {} |\n",
                cell(&s.stage),
                cell(&s.id),
                cell(&s.kind),
                cell(&s.outcome),
                s.attempts,
                s.seconds.map_or("".into(), |x| format!("{x:.2}")),
                cell(s.summary.as_deref().unwrap_or(""))
            );
        }
        let measured: Vec<_> = self
            .steps
            .iter()
            .flat_map(|s| s.measurements.iter().map(move |x| (s, x)))
            .collect();
        if !measured.is_empty() {
            m += "\n## Measurements\n\n| step | measure | value | unit |\n|---|---|---|---|\n";
            for (s, x) in measured {
                m += &format!(
                    "| {} | {} | {} | {} |\n",
                    cell(&s.id),
                    cell(&x.name),
                    figure(x.value),
                    cell(&x.unit)
                );
            }
        }
        for p in &self.proofs {
            m += &format!(
                "\n## Proof: {} ({})\n\n{}",
                cell(&p.step),
                cell(&p.host),
                crate::text::markdown_code_block("text", &p.text)
            );
        }
        if !self.approvals.is_empty() {
            m += "\n## Approvals\n\n| gate | by | at | comment |\n|---|---|---|---|\n";
            for a in &self.approvals {
                m += &format!(
                    "| {} | {} | {} | {} |\n",
                    cell(&a.gate),
                    cell(&a.by),
                    cell(&a.at),
                    cell(a.comment.as_deref().unwrap_or(""))
                );
            }
        }
        m += "\n## Timeline\n\n| time | event | step | detail |\n|---|---|---|---|\n";
        for t in &self.timeline {
            m += &format!(
                "| {} | {} | {} | {} |\n",
                cell(&t.at),
                cell(&t.event.name()),
                cell(t.event.step().unwrap_or("")),
                cell(&detail(&t.event))
            );
        }
        m
    }
}

/// A short description of an event for the timeline.
fn detail(e: &Event) -> String {
    match e {
        Event::RunStarted {
            operator, version, ..
        } => format!("by {operator}, cutover {version}"),
        Event::ApplyStarted { operator, until } => match until {
            Some(u) => format!("by {operator}, until stage {u}"),
            None => format!("by {operator}"),
        },
        Event::StageStarted { stage } => stage.clone(),
        Event::StepStarted { kind, attempt, .. } => format!("{kind}, attempt {attempt}"),
        Event::CommandStarted { command, .. } => command.clone(),
        Event::CommandFinished {
            host,
            code,
            duration_ms,
            ..
        } => {
            format!(
                "{host}: exit {} in {} ms",
                code.map_or("signal".into(), |c| c.to_string()),
                duration_ms
            )
        }
        Event::StepApplied { summary, .. } => summary.clone(),
        Event::StepSkipped { reason, .. }
        | Event::StepWaiting { reason, .. }
        | Event::ApplyStopped { reason }
        | Event::RollbackStarted { reason } => reason.clone(),
        Event::StepFailed { error, .. } | Event::StepRollbackFailed { error, .. } => {
            error.lines().next().unwrap_or("").to_string()
        }
        Event::Approved { by, comment, .. } => format!(
            "by {by}{}",
            comment
                .as_ref()
                .map(|c| format!(": {c}"))
                .unwrap_or_default()
        ),
        Event::Measured {
            name, value, unit, ..
        } => format!("{name} = {} {unit}", figure(*value)),
        Event::SchemaRecorded {
            side,
            digest,
            objects,
            ..
        } => format!(
            "{side} schema: {objects} objects, fingerprint {}",
            digest.get(..16).unwrap_or(digest)
        ),
        Event::RunFinished { outcome } => outcome.clone(),
        Event::RollbackFinished { undone } => format!("undone: {}", undone.join(", ")),
        Event::StateRecorded { label, .. } => format!("state `{label}` recorded"),
        Event::ProofRecorded { hosts, matches, .. } => format!(
            "{hosts}: {}",
            if *matches {
                "proven identical"
            } else {
                "differences found"
            }
        ),
        Event::StepRolledBack { summary, .. } => summary.clone().unwrap_or_default(),
        Event::PlanChanged { .. } => String::new(),
    }
}
