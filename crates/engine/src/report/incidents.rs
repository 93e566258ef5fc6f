//! The moments users could notice: each measured downtime window (the `[downtime]` prober
//! around a switch, a database freeze) and each rollback with its cause.

use super::StepReport;
use cutover_journal::{Event, Record};
use serde::Serialize;

/// A switch's measured unavailability.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DowntimeWindow {
    /// The step it was measured around.
    pub step: String,
    /// The step's first start (unix ms).
    pub from_ms: Option<i64>,
    /// Its end (unix ms).
    pub to_ms: Option<i64>,
    /// Requests the prober sent.
    pub requests: Option<f64>,
    /// Of which failed.
    pub failed: Option<f64>,
    /// The outages' total length (s).
    pub unavailable_s: Option<f64>,
    /// The longest outage (s).
    pub longest_outage_s: Option<f64>,
    /// A database's write freeze (s).
    pub freeze_s: Option<f64>,
}

/// A rollback and why it happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RollbackReport {
    /// When it began (unix ms).
    pub from_ms: i64,
    /// When it ended (unix ms), if it did.
    pub to_ms: Option<i64>,
    /// Its cause, as journaled (operator request, failed step, soak trigger with evidence).
    pub cause: String,
    /// Steps whose undo ran, in order.
    pub undone: Vec<String>,
    /// A step whose undo failed, with the error.
    pub failed: Option<(String, String)>,
}

/// The downtime windows of the steps that measured one, in plan order.
pub fn downtime(steps: &[StepReport]) -> Vec<DowntimeWindow> {
    steps
        .iter()
        .filter_map(|s| {
            let get = |n: &str| {
                s.measurements
                    .iter()
                    .rev()
                    .find(|m| m.name == n)
                    .map(|m| m.value)
            };
            let w = DowntimeWindow {
                step: s.id.clone(),
                from_ms: s.started_ms,
                to_ms: s.finished_ms,
                requests: get("downtime_requests"),
                failed: get("downtime_failed"),
                unavailable_s: get("downtime_unavailable"),
                longest_outage_s: get("downtime_longest_outage"),
                freeze_s: get("freeze_window"),
            };
            (w.requests.is_some() || w.freeze_s.is_some()).then_some(w)
        })
        .collect()
}

/// Every rollback of the run, in order.
pub fn rollbacks(records: &[Record]) -> Vec<RollbackReport> {
    let mut out: Vec<RollbackReport> = Vec::new();
    let mut open = false;
    for r in records {
        match &r.event {
            Event::RollbackStarted { reason } => {
                out.push(RollbackReport {
                    from_ms: r.at_ms,
                    to_ms: None,
                    cause: reason.clone(),
                    undone: Vec::new(),
                    failed: None,
                });
                open = true;
            }
            Event::StepRolledBack { step, .. } if open => {
                if let Some(last) = out.last_mut() {
                    last.undone.push(step.clone());
                }
            }
            Event::StepRollbackFailed { step, error } if open => {
                if let Some(last) = out.last_mut() {
                    last.failed = Some((step.clone(), error.clone()));
                    last.to_ms = Some(r.at_ms);
                }
                open = false;
            }
            Event::RollbackFinished { .. } | Event::RunFinished { .. } if open => {
                if let Some(last) = out.last_mut() {
                    last.to_ms = Some(r.at_ms);
                }
                open = false;
            }
            _ => {}
        }
    }
    out
}
