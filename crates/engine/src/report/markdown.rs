//! The report as Markdown: every value from the journal escaped.

use super::{figure, Report};
use cutover_journal::Event;

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
        if !self.users_saw.is_empty() {
            m += "\n## What users saw\n\n| step | window | requests held (s) | requests held | of them writes | longest held (s) | longest write held (s) | unavailable (s) | failed requests | of them writes |\n|---|---|---|---|---|---|---|---|---|---|\n";
            let opt = |v: Option<f64>| v.map_or(String::new(), |x| format!("{x:.3}"));
            let count = |v: Option<u64>| v.map_or(String::new(), |n| n.to_string());
            for w in &self.users_saw {
                m += &format!(
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                    cell(&w.step),
                    cell(&w.window),
                    opt(w.held_seconds),
                    count(w.requests_held),
                    count(w.writes_held),
                    opt(w.longest_held_seconds),
                    opt(w.longest_write_seconds),
                    opt(w.unavailable_seconds),
                    w.failed,
                    count(w.writes_failed)
                );
            }
            m += &format!("\nReads and writes: {}.\n", crate::users_saw::BY_METHOD);
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
pub fn detail(e: &Event) -> String {
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
        Event::Sampled {
            subject, figures, ..
        } => format!(
            "{subject}: {}",
            figures
                .iter()
                .map(|(k, v)| format!("{k} {}", figure(*v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Event::StateRecorded { label, .. } => format!("state `{label}` recorded"),
        Event::OutputCaptured { step, name, value } => match value {
            cutover_journal::OutputValue::Plain { value } => {
                format!("steps.{step}.{name} = {value}")
            }
            cutover_journal::OutputValue::Sealed { .. } => {
                format!("steps.{step}.{name} captured (secret, sealed)")
            }
        },
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
