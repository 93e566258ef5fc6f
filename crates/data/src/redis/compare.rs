//! Naming differences: one key on each side compared (missing, extra, type, value, TTL within
//! the tolerance), and, for a value that differs, its elements compared to say where (a hash
//! field, a set member, a sorted-set score, a list's order, a stream entry or group).

use super::digest::from_hex;
use super::protocol::{Element, KeyEntry};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What differs about a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiffKind {
    /// On the source only.
    Missing,
    /// On the target only.
    Extra,
    /// Of another type.
    Type,
    /// Its value.
    Value,
    /// Its expiry.
    Ttl,
}

impl DiffKind {
    /// The words for it.
    pub fn label(self) -> &'static str {
        match self {
            DiffKind::Missing => "missing on target",
            DiffKind::Extra => "only on target",
            DiffKind::Type => "type differs",
            DiffKind::Value => "value differs",
            DiffKind::Ttl => "TTL differs",
        }
    }
}

/// One difference, named.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// The database.
    pub db: u32,
    /// The key, printable (bytes outside printable ASCII as `\xNN`).
    pub key: String,
    /// What differs.
    pub kind: DiffKind,
    /// How (values seen on each side).
    pub detail: String,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "db {} key \"{}\": {}",
            self.db,
            self.key,
            self.kind.label()
        )?;
        if !self.detail.is_empty() {
            write!(f, " ({})", self.detail)?;
        }
        Ok(())
    }
}

/// Bytes as printable text: `\xNN` for anything outside printable ASCII, `\"` and `\\`.
pub fn printable(b: &[u8]) -> String {
    let mut s = String::new();
    for &c in b {
        match c {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(c as char),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s
}

/// A hex-encoded name, printable and cut at 60 characters.
pub fn show(hex: &str) -> String {
    let text = printable(&from_hex(hex).unwrap_or_default());
    match text.char_indices().nth(60) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

fn expiry(at: Option<i64>, now_ms: i64) -> String {
    match at {
        Some(at) => format!("expires in {:.1} s", (at - now_ms) as f64 / 1000.0),
        None => "no TTL".into(),
    }
}

fn what(e: &KeyEntry) -> String {
    let unit = if e.kind == "string" {
        "bytes"
    } else {
        "elements"
    };
    format!("{}, {} {unit}", e.kind, e.len)
}

/// Compares one key as each side has it (`None`: absent). A key absent on one side whose
/// TTL on the other ends within the tolerance is expiring, not a difference.
pub fn compare_key(
    db: u32,
    source: Option<&KeyEntry>,
    target: Option<&KeyEntry>,
    tolerance_ms: i64,
    now_ms: i64,
) -> Vec<Difference> {
    let expiring = |e: &KeyEntry| e.expire_ms.is_some_and(|at| at - now_ms <= tolerance_ms);
    let diff = |key: &str, kind, detail: String| Difference {
        db,
        key: show(key),
        kind,
        detail,
    };
    match (source, target) {
        (None, None) => Vec::new(),
        (Some(s), None) if !expiring(s) => vec![diff(&s.key, DiffKind::Missing, what(s))],
        (None, Some(t)) if !expiring(t) => vec![diff(&t.key, DiffKind::Extra, what(t))],
        (Some(_), None) | (None, Some(_)) => Vec::new(),
        (Some(s), Some(t)) => {
            if s.kind != t.kind {
                return vec![diff(
                    &s.key,
                    DiffKind::Type,
                    format!("{} on source, {} on target", s.kind, t.kind),
                )];
            }
            let mut out = Vec::new();
            if s.value != t.value {
                out.push(diff(
                    &s.key,
                    DiffKind::Value,
                    format!("{} on source, {} on target", what(s), what(t)),
                ));
            }
            let ttl = match (s.expire_ms, t.expire_ms) {
                (Some(a), Some(b)) => (a - b).abs() > tolerance_ms,
                (None, None) => false,
                _ => true,
            };
            if ttl {
                let detail = match (s.expire_ms, t.expire_ms) {
                    (Some(_), None) => format!(
                        "dropped on target: {} on source",
                        expiry(s.expire_ms, now_ms)
                    ),
                    (None, Some(_)) => {
                        format!("added on target: {} there", expiry(t.expire_ms, now_ms))
                    }
                    _ => format!(
                        "{} on source, {} on target",
                        expiry(s.expire_ms, now_ms),
                        expiry(t.expire_ms, now_ms)
                    ),
                };
                out.push(diff(&s.key, DiffKind::Ttl, detail));
            }
            out
        }
    }
}

/// Says where two values of type `kind` differ, from their elements.
pub fn describe(kind: &str, source: &[Element], target: &[Element]) -> String {
    let mut notes = match kind {
        "list" => return describe_list(source, target),
        "string" => return "the bytes differ".into(),
        _ => by_name(kind, source, target),
    };
    if notes.is_empty() {
        return "the elements are equal now (it changed while being compared)".into();
    }
    let more = notes.len().saturating_sub(3);
    notes.truncate(3);
    let mut text = notes.join("; ");
    if more > 0 {
        text.push_str(&format!("; and {more} more"));
    }
    text
}

fn describe_list(source: &[Element], target: &[Element]) -> String {
    let mut a: Vec<&str> = source.iter().map(|e| e.value.as_str()).collect();
    let mut b: Vec<&str> = target.iter().map(|e| e.value.as_str()).collect();
    if a.len() != b.len() {
        return format!("{} elements on source, {} on target", a.len(), b.len());
    }
    if let Some(i) = a.iter().zip(&b).position(|(x, y)| x != y) {
        a.sort_unstable();
        b.sort_unstable();
        return if a == b {
            format!("the same elements in another order (first at index {i})")
        } else {
            format!("element {i} differs")
        };
    }
    "the elements are equal now (it changed while being compared)".into()
}

/// Differences of elements matched by name (fields, members, entries, groups).
fn by_name(kind: &str, source: &[Element], target: &[Element]) -> Vec<String> {
    let a: BTreeMap<&str, &str> = source
        .iter()
        .map(|e| (e.name.as_str(), e.value.as_str()))
        .collect();
    let b: BTreeMap<&str, &str> = target
        .iter()
        .map(|e| (e.name.as_str(), e.value.as_str()))
        .collect();
    let noun = match kind {
        "hash" => "field",
        "set" => "member",
        "zset" => "member",
        _ => "",
    };
    let name = |n: &str| {
        let shown = show(n);
        if noun.is_empty() {
            shown
        } else {
            format!("{noun} \"{shown}\"")
        }
    };
    let mut notes = Vec::new();
    let order: Vec<&str> = source
        .iter()
        .map(|e| e.name.as_str())
        .chain(
            target
                .iter()
                .map(|e| e.name.as_str())
                .filter(|n| !a.contains_key(n)),
        )
        .collect();
    for n in order {
        match (a.get(n), b.get(n)) {
            (Some(_), None) => notes.push(format!("{} missing on target", name(n))),
            (None, Some(_)) => notes.push(format!("{} only on target", name(n))),
            (Some(x), Some(y)) if x != y => notes.push(match kind {
                "zset" => format!("score of {}: {x} on source, {y} on target", name(n)),
                "stream" if !n.starts_with(&super::digest::to_hex(b"entry ")) => {
                    format!("{}: `{x}` on source, `{y}` on target", name(n))
                }
                _ => format!("{} differs", name(n)),
            }),
            _ => {}
        }
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis::digest::to_hex;

    fn entry(key: &str, kind: &str, value: &str, expire: Option<i64>) -> KeyEntry {
        KeyEntry {
            bucket: 0,
            key: to_hex(key.as_bytes()),
            kind: kind.into(),
            value: value.into(),
            len: 3,
            expire_ms: expire,
        }
    }

    fn el(name: &str, value: &str) -> Element {
        Element {
            name: to_hex(name.as_bytes()),
            value: value.into(),
        }
    }

    #[test]
    fn names_each_kind_of_difference() {
        let now = 1_000_000;
        let s = entry("k\x01", "hash", "aa", Some(now + 60_000));
        let text = |d: Vec<Difference>| d.iter().map(|d| d.to_string()).collect::<Vec<_>>();
        assert_eq!(
            text(compare_key(2, Some(&s), None, 1000, now)),
            ["db 2 key \"k\\x01\": missing on target (hash, 3 elements)"]
        );
        assert_eq!(
            text(compare_key(0, None, Some(&s), 1000, now)),
            ["db 0 key \"k\\x01\": only on target (hash, 3 elements)"]
        );
        let t = entry("k\x01", "string", "aa", None);
        assert_eq!(
            text(compare_key(0, Some(&s), Some(&t), 1000, now)),
            ["db 0 key \"k\\x01\": type differs (hash on source, string on target)"]
        );
        let t = entry("k\x01", "hash", "bb", None);
        assert_eq!(
            text(compare_key(0, Some(&s), Some(&t), 1000, now)),
            [
                "db 0 key \"k\\x01\": value differs (hash, 3 elements on source, hash, 3 elements on target)",
                "db 0 key \"k\\x01\": TTL differs (dropped on target: expires in 60.0 s on source)"
            ]
        );
        let t = entry("k\x01", "hash", "aa", Some(now + 60_500));
        assert!(
            compare_key(0, Some(&s), Some(&t), 1000, now).is_empty(),
            "within the tolerance"
        );
        let t = entry("k\x01", "hash", "aa", Some(now + 10_000));
        assert_eq!(text(compare_key(0, Some(&s), Some(&t), 1000, now)), ["db 0 key \"k\\x01\": TTL differs (expires in 60.0 s on source, expires in 10.0 s on target)"]);
        let soon = entry("gone", "string", "aa", Some(now + 500));
        assert!(
            compare_key(0, Some(&soon), None, 1000, now).is_empty(),
            "expiring"
        );
    }

    #[test]
    fn says_where_inside_a_value() {
        assert_eq!(
            describe(
                "hash",
                &[el("f1", "a"), el("f2", "b")],
                &[el("f1", "a"), el("f2", "c")]
            ),
            "field \"f2\" differs"
        );
        assert_eq!(
            describe("set", &[el("m1", ""), el("m2", "")], &[el("m1", "")]),
            "member \"m2\" missing on target"
        );
        assert_eq!(
            describe("zset", &[el("z", "1.1")], &[el("z", "4.1")]),
            "score of member \"z\": 1.1 on source, 4.1 on target"
        );
        assert_eq!(
            describe(
                "list",
                &[el("0", "a"), el("1", "b")],
                &[el("0", "b"), el("1", "a")]
            ),
            "the same elements in another order (first at index 0)"
        );
        assert_eq!(
            describe(
                "list",
                &[el("0", "a"), el("1", "b")],
                &[el("0", "a"), el("1", "c")]
            ),
            "element 1 differs"
        );
        assert_eq!(
            describe("stream", &[el("entry 1-1", "x")], &[el("entry 1-1", "y")]),
            "entry 1-1 differs"
        );
        assert_eq!(
            describe(
                "stream",
                &[el("group g", "0-0 0")],
                &[el("group g", "1-1 0")]
            ),
            "group g: `0-0 0` on source, `1-1 0` on target"
        );
    }
}
