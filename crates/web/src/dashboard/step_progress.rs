//! The running step's own progress (bytes, rows, tables of the whole) with an ETA, from the
//! `progressed` events its try journaled: the rate is measured between the try's first and
//! latest samples, so that a resumed copy's earlier work does not inflate it.

use crate::shown;
use crate::svg::figure;
use cutover_engine::report::{StepSpan, TimelineEntry};
use cutover_journal::Event;
use maud::{html, Markup};

/// One `progressed` event: when, how much of how much.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample<'a> {
    at_ms: i64,
    unit: &'a str,
    done: f64,
    total: Option<f64>,
    figures: &'a std::collections::BTreeMap<String, f64>,
}

/// The progress samples of the try `span` (oldest first).
fn samples<'a>(timeline: &'a [TimelineEntry], span: &StepSpan) -> Vec<Sample<'a>> {
    timeline
        .iter()
        .filter(|t| t.at_ms >= span.from_ms)
        .filter_map(|t| match &t.event {
            Event::Progressed {
                step,
                unit,
                done,
                total,
                figures,
            } if *step == span.step => Some(Sample {
                at_ms: t.at_ms,
                unit,
                done: *done,
                total: *total,
                figures,
            }),
            _ => None,
        })
        .collect()
}

/// Seconds left at the rate measured between the first and the last sample, when known.
fn eta_seconds(first: &Sample<'_>, last: &Sample<'_>) -> Option<f64> {
    let total = last.total?;
    let secs = (last.at_ms - first.at_ms) as f64 / 1000.0;
    let rate = (last.done - first.done) / secs;
    (secs > 0.0 && rate > 0.0 && rate.is_finite()).then(|| (total - last.done).max(0.0) / rate)
}

/// An amount in its unit: bytes in B/kB/MB/GB, anything else as a figure and the unit.
fn amount(v: f64, unit: &str) -> String {
    if unit != "bytes" {
        return format!("{} {unit}", figure(v));
    }
    let (scaled, suffix) = [(1e9, "GB"), (1e6, "MB"), (1e3, "kB")]
        .into_iter()
        .find(|(scale, _)| v >= *scale)
        .map_or((v, "B"), |(scale, s)| (v / scale, s));
    format!("{scaled:.1} {suffix}")
}

fn eta_text(secs: f64) -> String {
    let secs = secs.ceil() as u64;
    match secs {
        0..=99 => format!("{secs} s"),
        100..=5999 => format!("{} min {} s", secs / 60, secs % 60),
        _ => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
    }
}

/// The bar, figures and ETA of the running try `span`; nothing before its first sample.
pub fn progress(timeline: &[TimelineEntry], span: &StepSpan) -> Option<Markup> {
    let all = samples(timeline, span);
    let (first, last) = (all.first()?, all.last()?);
    let others: Vec<String> = last
        .figures
        .iter()
        .filter(|(k, _)| !k.starts_with("total_"))
        .map(|(k, v)| match last.figures.get(&format!("total_{k}")) {
            Some(t) => format!("{} of {} {k}", figure(*v), figure(*t)),
            None if k == "bytes" => amount(*v, k),
            None => format!("{} {k}", figure(*v)),
        })
        .collect();
    let eta = eta_seconds(first, last);
    Some(html! {
        div #step-progress data-step=(span.step) data-done=(last.done) data-total=[last.total] {
            @match last.total {
                Some(t) => progress #step-bar max=(t.max(last.done).max(1e-9)) value=(last.done) {},
                None => progress #step-bar {},
            }
            " "
            span #step-done {
                @match last.total {
                    Some(t) => { (amount(last.done, last.unit)) " of " (amount(t, last.unit)) },
                    None => { (amount(last.done, last.unit)) },
                }
                @for o in &others { ", " (shown(o)) }
            }
            @if let Some(s) = eta { ", ETA " span #step-eta { (eta_text(s)) } }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cutover_engine::report::SpanKind;
    use std::collections::BTreeMap;

    fn entry(seq: i64, at_ms: i64, done: f64) -> TimelineEntry {
        TimelineEntry {
            seq,
            at: String::new(),
            at_ms,
            event: Event::Progressed {
                step: "copy".into(),
                unit: "bytes".into(),
                done,
                total: Some(100e6),
                figures: BTreeMap::from([("files".into(), 3.0), ("total_files".into(), 10.0)]),
            },
        }
    }

    fn span(from_ms: i64) -> StepSpan {
        StepSpan {
            step: "copy".into(),
            kind: SpanKind::Run,
            attempt: 2,
            from_ms,
            to_ms: None,
            end: String::new(),
        }
    }

    #[test]
    fn the_bar_shows_this_tries_figures_and_an_eta_at_its_own_rate() {
        // An earlier try's sample (before the span) must not count in the rate.
        let t = [
            entry(1, 0, 90e6),
            entry(2, 10_000, 20e6),
            entry(3, 12_000, 40e6),
        ];
        let html = progress(&t, &span(5_000)).unwrap().into_string();
        assert!(
            html.contains(r#"<progress id="step-bar" max="100000000" value="40000000">"#),
            "{html}"
        );
        // 20 MB in 2 s: 60 MB left take 6 s.
        assert!(
            html.contains(
                r#"40.0 MB of 100.0 MB, 3 of 10 files</span>, ETA <span id="step-eta">6 s</span>"#
            ),
            "{html}"
        );
    }

    #[test]
    fn no_bar_before_the_first_sample_and_no_eta_from_one() {
        assert!(progress(&[], &span(0)).is_none());
        let html = progress(&[entry(1, 1_000, 1e6)], &span(0))
            .unwrap()
            .into_string();
        assert!(!html.contains("ETA"), "{html}");
    }
}
