//! `cutover report --format html`: the report as one self-contained page, built from the
//! same [`Report`] as the JSON report. Inline CSS (with a print style), SVG drawn here, no
//! script and no reference outside the file: it reads the same from an email attachment.

pub(crate) mod charts;
mod proofs;
mod sections;
pub(crate) mod timeline;

use crate::shown;
use cutover_engine::Report;
use maud::{html, Markup, PreEscaped, DOCTYPE};

/// The page's style sheet, inlined into every report.
pub const STYLE: &str = include_str!("style.css");

/// The report as an HTML document.
pub fn page(r: &Report) -> String {
    document(r).into_string()
}

fn document(r: &Report) -> Markup {
    let title = format!("cutover report: {}", shown(&r.plan));
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                // Nothing outside this file may load, whatever a value in it says.
                meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:";
                title { (title) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    h1 { (title) }
                    (summary(r))
                }
                section #timeline { h2 { "Timeline" } (timeline::timeline(r)) (legend()) }
                section #downtime { h2 { "Downtime" } (sections::downtime(r)) }
                section #rollbacks { h2 { "Rollback" } (sections::rollbacks(r)) }
                section #approvals { h2 { "Approvals" } (sections::approvals(r)) }
                section #proofs { h2 { "Proofs" } (proofs::proofs(&r.proofs)) }
                @if !r.series.is_empty() {
                    section #charts { h2 { "Replication lag and soak windows" } (charts::charts(r)) }
                }
                section #steps { h2 { "Steps" } (sections::steps(r)) }
                section #measurements { h2 { "Measurements" } (sections::measurements(r)) }
                section #events { h2 { "Every event" } (sections::events(r)) }
            }
        }
    }
}

fn summary(r: &Report) -> Markup {
    html! {
        dl.summary {
            dt { "run" } dd #run { (shown(&r.run)) }
            dt { "outcome" } dd #outcome class={"outcome-" (r.outcome.replace(' ', "-"))} { (shown(&r.outcome)) }
            dt { "started" } dd { (r.started) }
            dt { "last event" } dd { (r.last_event.as_deref().unwrap_or("")) }
            dt { "duration" } dd #duration data-seconds=(r.seconds) { (format!("{:.1}", r.seconds)) " s" }
            dt { "journal" } dd #journal { (r.journal.to_string()) }
        }
    }
}

fn legend() -> Markup {
    html! {
        ul.legend {
            li { span.swatch.run.end-applied {} "applied" }
            li { span.swatch.run.end-skipped {} "already in place" }
            li { span.swatch.run.end-failed {} "failed" }
            li { span.swatch.run.end-interrupted {} "interrupted or stopped" }
            li { span.swatch.wait {} "waiting at a gate" }
            li { span.swatch.approval {} "approval" }
            li { span.swatch.band.downtime {} "downtime window" }
            li { span.swatch.band.outage {} "writes frozen or requests held" }
            li { span.swatch.band.rollback {} "rollback" }
        }
    }
}
