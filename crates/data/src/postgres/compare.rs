//! Comparing what the two servers reported: schema objects by kind and name, sequences by
//! their next value, tables by row count and checksum. Pure functions, no I/O.

use super::inventory::{Object, Sequence};
use super::normalize::Normalizer;
use super::report::{Definitions, Difference, ObjectCount, SequenceCheck, TableCheck, Tally};
use std::collections::{BTreeMap, BTreeSet};

fn diff(schema: &str, object: &str, object_kind: &str, kind: &str, detail: String) -> Difference {
    Difference {
        schema: schema.to_string(),
        object: object.to_string(),
        object_kind: object_kind.to_string(),
        kind: kind.to_string(),
        detail,
        fatal: true,
        definitions: None,
    }
}

/// Differences between the two object lists (every facet of a definition compared after
/// `normalizer`), and the count of each kind on each side.
pub fn objects(
    source: &[Object],
    target: &[Object],
    normalizer: &Normalizer,
) -> (Vec<Difference>, Vec<ObjectCount>) {
    let key = |o: &Object| (o.kind.clone(), o.schema.clone(), o.name.clone());
    let src: BTreeMap<_, &Object> = source.iter().map(|o| (key(o), o)).collect();
    let tgt: BTreeMap<_, &Object> = target.iter().map(|o| (key(o), o)).collect();
    let mut out = Vec::new();
    for (k, s) in &src {
        match tgt.get(k) {
            None => out.push(diff(
                &s.schema,
                &s.name,
                &s.kind,
                "missing on target",
                summary("on source", s, normalizer),
            )),
            Some(t) => out.extend(facet_differences(s, t, normalizer)),
        }
    }
    for (k, t) in &tgt {
        if !src.contains_key(k) {
            out.push(diff(
                &t.schema,
                &t.name,
                &t.kind,
                "only on target",
                summary("on target", t, normalizer),
            ));
        }
    }
    let kinds: BTreeSet<&str> = source
        .iter()
        .chain(target)
        .map(|o| o.kind.as_str())
        .collect();
    let counts = kinds
        .into_iter()
        .map(|kind| ObjectCount {
            kind: kind.to_string(),
            source: source.iter().filter(|o| o.kind == kind).count(),
            target: target.iter().filter(|o| o.kind == kind).count(),
        })
        .collect();
    (out, counts)
}

/// An object that exists on one side only, in short: its facets as `where: facet value;
/// ...` (what DDL would recreate it), cut at 160 characters; "" when it has none.
fn summary(side: &str, o: &Object, normalizer: &Normalizer) -> String {
    if o.kind == "comment" || o.facets.is_empty() {
        return String::new();
    }
    let text = o
        .facets
        .iter()
        .map(|(f, v)| format!("{f} {}", normalizer.normalize(&o.kind, f, v)))
        .collect::<Vec<_>>()
        .join("; ");
    let cut: String = text.chars().take(160).collect();
    let more = if cut.len() < text.len() { "…" } else { "" };
    format!("{side}: {cut}{more}")
}

/// Each facet whose normalized values differ, named, with both values.
fn facet_differences(s: &Object, t: &Object, normalizer: &Normalizer) -> Vec<Difference> {
    let names: BTreeSet<&str> = s
        .facets
        .iter()
        .chain(&t.facets)
        .map(|(f, _)| f.as_str())
        .collect();
    names
        .into_iter()
        .filter_map(|facet| {
            let a = normalizer.normalize(&s.kind, facet, s.facet(facet));
            let b = normalizer.normalize(&s.kind, facet, t.facet(facet));
            (a != b).then(|| facet_difference(s, facet, a, b))
        })
        .collect()
}

fn facet_difference(s: &Object, facet: &str, a: String, b: String) -> Difference {
    let (kind, fatal) = match (s.kind.as_str(), facet) {
        ("enum", "labels") => ("labels differ".to_string(), true),
        // A newer server often ships a newer extension version: worth seeing, not failing.
        ("extension", "version") => ("version differs".into(), false),
        // Comments are compared by digest: there is nothing to show.
        ("comment", _) => {
            return diff(&s.schema, &s.name, "comment", "text differs", String::new())
        }
        (_, facet) => (format!("{facet} differs"), true),
    };
    Difference {
        fatal,
        definitions: Some(Definitions {
            source: a,
            target: b,
        }),
        ..diff(&s.schema, &s.name, &s.kind, &kind, String::new())
    }
}

/// Sequences compared by the value their next `nextval` returns: the target may be ahead
/// (advanced at a switch), never behind.
pub fn sequences(
    source: &[Sequence],
    target: &[Sequence],
) -> (Vec<SequenceCheck>, Vec<Difference>) {
    let key = |s: &Sequence| (s.schema.clone(), s.name.clone());
    let src: BTreeMap<_, &Sequence> = source.iter().map(|s| (key(s), s)).collect();
    let tgt: BTreeMap<_, &Sequence> = target.iter().map(|s| (key(s), s)).collect();
    let names: BTreeSet<_> = src.keys().chain(tgt.keys()).cloned().collect();
    let mut checks = Vec::new();
    let mut diffs = Vec::new();
    for (schema, name) in names {
        let (s, t) = (
            src.get(&(schema.clone(), name.clone())),
            tgt.get(&(schema.clone(), name.clone())),
        );
        let status = match (s, t) {
            (Some(s), Some(t)) => {
                let (a, b) = (s.next_value(), t.next_value());
                let behind = if s.increment >= 0 { b < a } else { b > a };
                if behind {
                    diffs.push(diff(
                        &schema,
                        &name,
                        "sequence",
                        "behind",
                        format!("next value {a} on source, {b} on target"),
                    ));
                    "behind"
                } else {
                    "ok"
                }
            }
            (Some(_), None) => "missing",
            (None, _) => "extra",
        };
        checks.push(SequenceCheck {
            schema,
            name,
            source_next: s.map(|s| s.next_value()),
            target_next: t.map(|t| t.next_value()),
            status: status.into(),
        });
    }
    (checks, diffs)
}

/// One table's tallies: `None` when the table is absent on that side, `Some(None)` when it
/// is there but its rows could not be read (a materialized view never populated).
pub struct TableTallies {
    /// Schema.
    pub schema: String,
    /// Name.
    pub name: String,
    /// Its kind for messages ("table", "materialized view", "large objects").
    pub kind: String,
    /// On the source.
    pub source: Option<Option<Tally>>,
    /// On the target.
    pub target: Option<Option<Tally>>,
}

/// Row counts and checksums compared table by table.
pub fn tables(items: Vec<TableTallies>) -> (Vec<TableCheck>, Vec<Difference>) {
    let mut checks = Vec::new();
    let mut diffs = Vec::new();
    for it in items {
        let status = match (it.source, it.target) {
            (Some(Some(s)), Some(Some(t))) if s.rows != t.rows => {
                diffs.push(diff(
                    &it.schema,
                    &it.name,
                    &it.kind,
                    "row count differs",
                    format!("{} rows on source, {} on target", s.rows, t.rows),
                ));
                "differs"
            }
            (Some(Some(s)), Some(Some(t))) if s.sum != t.sum => {
                diffs.push(diff(
                    &it.schema,
                    &it.name,
                    &it.kind,
                    "content differs",
                    format!(
                        "same {} rows, different checksums {} and {}",
                        s.rows,
                        s.fingerprint(),
                        t.fingerprint()
                    ),
                ));
                "differs"
            }
            (Some(Some(_)), Some(Some(_))) => "ok",
            (Some(None), Some(None)) => "skipped",
            (Some(s), Some(_)) => {
                let side = if s.is_none() { "source" } else { "target" };
                diffs.push(diff(
                    &it.schema,
                    &it.name,
                    &it.kind,
                    "not populated",
                    format!("not populated on the {side}"),
                ));
                "differs"
            }
            // Missing relations are reported once, with the schema objects.
            (Some(_), None) => "missing",
            (None, _) => "extra",
        };
        checks.push(TableCheck {
            schema: it.schema,
            name: it.name,
            source: it.source.flatten(),
            target: it.target.flatten(),
            status: status.into(),
        });
    }
    (checks, diffs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(kind: &str, name: &str, facets: &[(&str, &str)]) -> Object {
        Object {
            kind: kind.into(),
            schema: "public".into(),
            name: name.into(),
            facets: facets
                .iter()
                .map(|(f, v)| (f.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn names_missing_changed_and_extra_objects() {
        let src = vec![
            obj("index", "t_a_idx", &[("definition", "USING btree (a)")]),
            obj("enum", "mood", &[("labels", "'a', 'b'")]),
            obj("trigger", "t.audit", &[]),
            obj("extension", "hstore", &[("version", "1.7")]),
        ];
        let tgt = vec![
            obj("enum", "mood", &[("labels", "'a', 'c'")]),
            obj("trigger", "t.audit", &[("enabled", "disabled")]),
            obj("index", "t_b_idx", &[("definition", "USING btree (a)")]),
            obj("extension", "hstore", &[("version", "1.8")]),
        ];
        let (d, counts) = objects(&src, &tgt, &Normalizer::default());
        let lines: Vec<String> = d.iter().map(|d| d.to_string()).collect();
        assert_eq!(
            lines,
            vec![
                "enum public.mood: labels differ (source: 'a', 'b'; target: 'a', 'c')",
                "extension public.hstore: version differs (source: 1.7; target: 1.8)",
                "index public.t_a_idx: missing on target (on source: definition USING btree (a))",
                "trigger public.t.audit: enabled differs (source: (none); target: disabled)",
                "index public.t_b_idx: only on target (on target: definition USING btree (a))",
            ]
        );
        assert!(
            !d[1].fatal,
            "a newer extension version does not fail the proof"
        );
        assert_eq!(
            counts
                .iter()
                .find(|c| c.kind == "index")
                .map(|c| (c.source, c.target)),
            Some((1, 1))
        );
    }

    #[test]
    fn definitions_are_compared_normalized_and_shown_both() {
        let src = [obj("view", "v", &[("query", "SELECT id,\n  name FROM t;")])];
        let same = [obj("view", "v", &[("query", " SELECT id, name\nFROM t;")])];
        assert!(objects(&src, &same, &Normalizer::default()).0.is_empty());
        let other = [obj("view", "v", &[("query", "SELECT id, name FROM u;")])];
        let (d, _) = objects(&src, &other, &Normalizer::default());
        assert_eq!(
            d[0].to_string(),
            "view public.v: query differs (source: SELECT id, name FROM t;; target: SELECT id, name FROM u;)"
        );
    }

    #[test]
    fn a_sequence_behind_is_named_and_one_ahead_is_fine() {
        let seq = |name: &str, last: Option<i64>| Sequence {
            schema: "public".into(),
            name: name.into(),
            last_value: last,
            start: 1,
            increment: 1,
        };
        let (checks, d) = sequences(
            &[seq("a", Some(10)), seq("b", Some(10))],
            &[seq("a", Some(9)), seq("b", Some(20))],
        );
        assert_eq!(d.len(), 1);
        assert_eq!(
            d[0].to_string(),
            "sequence public.a: behind (next value 11 on source, 10 on target)"
        );
        assert_eq!(checks[1].status, "ok");
    }

    #[test]
    fn tables_differ_by_count_or_content() {
        let t = |rows, sum| Some(Some(Tally { rows, sum }));
        let item = |name: &str, s, tg| TableTallies {
            schema: "public".into(),
            name: name.into(),
            kind: "table".into(),
            source: s,
            target: tg,
        };
        let (checks, d) = tables(vec![
            item("a", t(3, 7), t(3, 7)),
            item("b", t(3, 7), t(2, 7)),
            item("c", t(3, 7), t(3, 8)),
        ]);
        assert_eq!(
            checks.iter().map(|c| c.status.as_str()).collect::<Vec<_>>(),
            vec!["ok", "differs", "differs"]
        );
        assert_eq!(d[0].kind, "row count differs");
        assert_eq!(d[1].kind, "content differs");
        assert_eq!(d[1].object, "c");
    }
}
