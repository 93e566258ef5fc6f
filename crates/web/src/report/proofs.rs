//! Each proof: its verdict, both sides' figures side by side, the differences by name, and
//! the verifier's own text.

use crate::shown;
use cutover_engine::report::ProofReport;
use maud::{html, Markup};

/// Every proof of the run.
pub fn proofs(list: &[ProofReport]) -> Markup {
    html! {
        @if list.is_empty() {
            p.none { "No proof was recorded." }
        }
        @for p in list {
            section.proof data-step=(p.step) data-matches=(p.matches) {
                h3 {
                    (shown(&p.step)) " (" (shown(&p.kind)) ", " (shown(&p.host)) "): "
                    @if p.matches { span.ok { "proven identical" } } @else { span.bad { "differences found" } }
                }
                @if let Some(v) = &p.view {
                    table.sides {
                        thead { tr { th { "figure" } th { "source" } th { "target" } th { "" } } }
                        tbody {
                            @for s in &v.sides {
                                tr class=(if s.same { "same" } else { "differs" }) {
                                    td { (shown(&s.name)) }
                                    td.num { (shown(&s.source)) }
                                    td.num { (shown(&s.target)) }
                                    td { @if s.same { "=" } @else { "≠" } }
                                }
                            }
                        }
                    }
                    @if v.differences_total > 0 {
                        p { (v.differences_total) " difference(s)"
                            @if (v.differences.len() as u64) < v.differences_total { ", the first " (v.differences.len()) " listed" } ":" }
                        table.differences {
                            thead { tr { th { "name" } th { "what differs" } th { "detail" } } }
                            tbody {
                                @for d in &v.differences {
                                    tr { td { (shown(&d.name)) } td { (shown(&d.kind)) } td { (shown(&d.detail)) } }
                                }
                            }
                        }
                    }
                }
                details open[p.view.is_none()] {
                    summary { "the verifier's text" }
                    pre { (shown(&p.text)) }
                }
            }
        }
    }
}
