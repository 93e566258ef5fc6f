//! Time series the steps sampled (replication lag, soak checks) and the soak triggers'
//! thresholds to draw over them.

use cutover_journal::{Event, Record};
use cutover_plan::steps::StepKind;
use serde::Serialize;
use std::collections::BTreeMap;

/// One moment of a series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    /// When (unix ms).
    pub at_ms: i64,
    /// The figures then, by name.
    pub figures: BTreeMap<String, f64>,
}

/// Everything a step sampled about one subject.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Series {
    /// The step.
    pub step: String,
    /// What ("lag", a soak check's name).
    pub subject: String,
    /// The points, oldest first.
    pub points: Vec<Point>,
}

/// A soak trigger's limit on a sampled figure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Threshold {
    /// The soak step.
    pub step: String,
    /// The check it watches (`None`: each).
    pub check: Option<String>,
    /// The sampled figure it limits ("p95_ms", "error_rate").
    pub figure: String,
    /// The limit.
    pub value: f64,
    /// The trigger in words.
    pub description: String,
}

/// The series in the order they first appear.
pub fn series(records: &[Record]) -> Vec<Series> {
    let mut out: Vec<Series> = Vec::new();
    for r in records {
        if let Event::Sampled {
            step,
            subject,
            figures,
        } = &r.event
        {
            let point = Point {
                at_ms: r.at_ms,
                figures: figures.clone(),
            };
            match out
                .iter_mut()
                .find(|s| s.step == *step && s.subject == *subject)
            {
                Some(s) => s.points.push(point),
                None => out.push(Series {
                    step: step.clone(),
                    subject: subject.clone(),
                    points: vec![point],
                }),
            }
        }
    }
    out
}

/// The chartable limits of every soak step's triggers.
pub fn thresholds(plan: &cutover_plan::Plan) -> Vec<Threshold> {
    let mut out = Vec::new();
    for (_, step) in plan.steps() {
        let StepKind::Soak(soak) = &step.kind else {
            continue;
        };
        // A trigger is one condition, chosen as `TriggerSpec::from_plan` chooses it.
        for t in soak
            .triggers
            .iter()
            .filter(|t| t.consecutive_failures.is_none())
        {
            let spec = cutover_checks::trigger::TriggerSpec::from_plan(t);
            let latency = |d: Option<std::time::Duration>| d.map(|d| d.as_secs_f64() * 1000.0);
            let limit = [
                ("error_rate", t.error_rate),
                ("p50_ms", latency(t.p50)),
                ("p90_ms", latency(t.p90)),
                ("p95_ms", latency(t.p95)),
                ("p99_ms", latency(t.p99)),
            ]
            .into_iter()
            .find_map(|(k, v)| v.map(|v| (k, v)));
            if let Some((figure, value)) = limit {
                out.push(Threshold {
                    step: step.id.value.clone(),
                    check: t.check.as_ref().map(|c| c.value.clone()),
                    figure: figure.into(),
                    value,
                    description: spec.describe(),
                });
            }
        }
    }
    out
}
