//! The dashboard's page: a fixed frame (the operator's name, the gate's Approve form, Roll
//! back, the event log) around the live part the server pushes.

use super::live::View;
use maud::{html, PreEscaped, DOCTYPE};

/// The page's script.
const SCRIPT: &str = include_str!("dashboard.js");

const STYLE: &str = "
#frame { display: grid; gap: .6em; }
#controls { position: sticky; top: 0; background: #fff; border-bottom: 1px solid var(--line); padding: .4em 0; z-index: 1; }
#controls input { font: inherit; padding: 2px 4px; }
#gate { border: 2px solid var(--warn); padding: .5em .8em; border-radius: 6px; background: #fff8c5; }
#gate button { font: inherit; font-weight: 600; background: var(--ok); color: #fff; border: 0; padding: 4px 14px; border-radius: 4px; cursor: pointer; }
#rollback { font: inherit; background: #fff; color: var(--bad); border: 1px solid var(--bad); padding: 3px 10px; border-radius: 4px; cursor: pointer; }
#said { color: var(--muted); white-space: pre-wrap; }
progress { width: 60%; }
#log { font: 12px ui-monospace, monospace; list-style: none; padding: 0; max-height: 24em; overflow-y: auto; }
#log li { white-space: pre-wrap; overflow-wrap: anywhere; border-bottom: 1px solid #eaeef2; }
";

/// The page, with the view as it is now and the script's nonce.
pub fn page(plan: &str, view: &View, nonce: &str) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "cutover dashboard: " (crate::shown(plan)) }
                style { (PreEscaped(crate::report::STYLE)) (PreEscaped(STYLE)) }
            }
            body {
                h1 { "cutover dashboard: " (crate::shown(plan)) }
                p { "Connection: " span #conn { "connecting…" } ", last event " span #seq { (view.seq) } }
                div #frame {
                    div #controls {
                        label { "Your name " input #by type="text" autocomplete="name" required; }
                        " "
                        label { "Comment " input #comment type="text"; }
                        " "
                        button #rollback type="button" { "Roll back…" }
                        div #said aria-live="polite" {}
                    }
                    form #approve data-gate=(view.gate.as_ref().map_or("", |g| g.id.as_str())) {
                        section #gate hidden[view.gate.is_none()] {
                            strong { "Waiting for approval: " span #gate-id { (view.gate.as_ref().map_or(String::new(), |g| crate::shown(&g.id))) } }
                            p #gate-reason { (view.gate.as_ref().map_or(String::new(), |g| crate::shown(&g.reason))) }
                            button #approve-button type="submit" { "Approve" }
                        }
                    }
                    div #live { (PreEscaped(&view.html)) }
                    section { h2 { "Events" } ul #log {} }
                }
                script nonce=(nonce) { (PreEscaped(SCRIPT)) }
            }
        }
    }
    .into_string()
}
