//! A `files.verify` proof: both manifests' figures and digests, and the differences by path.

use super::{row, text, ProofDifference, ProofView};
use serde_json::Value;

const FIGURES: &[&str] = &["entries", "files", "dirs", "symlinks", "bytes", "problems"];

pub(super) fn view(v: &Value) -> ProofView {
    let side = |s: &str, k: &str| text(v.pointer(&format!("/{s}/summary/{k}")));
    let mut sides: Vec<_> = FIGURES
        .iter()
        .map(|k| row(*k, side("source", k), side("target", k)))
        .collect();
    sides.push(row(
        format!("{} digest", text(v.get("algorithm")))
            .trim()
            .to_string(),
        side("source", "digest"),
        side("target", "digest"),
    ));
    let d = v.get("differences");
    let differences = d
        .and_then(|d| d.get("listed"))
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|x| ProofDifference {
                    name: text(x.get("path")),
                    kind: text(x.get("kind")),
                    detail: detail(x),
                })
                .collect()
        })
        .unwrap_or_default();
    ProofView {
        sides,
        differences,
        differences_total: d
            .and_then(|d| d.get("total"))
            .and_then(Value::as_u64)
            .unwrap_or(0),
    }
}

fn detail(x: &Value) -> String {
    match (text(x.get("source")), text(x.get("target"))) {
        (a, b) if a.is_empty() && b.is_empty() => String::new(),
        (a, b) if b.is_empty() => format!("source {a}"),
        (a, b) if a.is_empty() => format!("target {b}"),
        (a, b) => format!("source {a}, target {b}"),
    }
}
