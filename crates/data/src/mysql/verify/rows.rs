//! Narrowing: the ranges whose digests differ are listed row by row on both servers (key and
//! row hash, never the row), and each row that differs, is missing or is extra is named by
//! its primary key (by its first values in a table without one).

use super::digest::{sig_class, RowHash, TableChunks, ValueClass};
use super::report::Difference;
use crate::mysql::error::MysqlError;
use crate::mysql::protocol::{MysqlReply, MysqlRequest};
use crate::mysql::session::Agent;
use std::collections::HashMap;

/// Ranges listed per table at most.
const MAX_RANGES: usize = 8;

/// A difference about table `plan`.
pub fn difference(plan: &TableChunks, kind: &str, detail: String) -> Difference {
    Difference {
        db: plan.db.clone(),
        object: plan.name.clone(),
        object_kind: "table".into(),
        kind: kind.into(),
        detail,
    }
}

/// The rows that differ in the `differing` ranges of `plan`, at most `max` named.
pub async fn narrow(
    s: &mut Agent,
    t: &mut Agent,
    plan: &TableChunks,
    differing: &[usize],
    max: usize,
) -> Result<Vec<Difference>, MysqlError> {
    let mut found: Vec<(String, &'static str)> = Vec::new();
    for &chunk in differing.iter().take(MAX_RANGES) {
        let (a, b) = tokio::join!(rows(s, plan, chunk), rows(t, plan, chunk));
        found.extend(compare(plan, &a?, &b?));
    }
    let mut out: Vec<Difference> = found
        .iter()
        .take(max)
        .map(|(key, kind)| difference(plan, kind, key.clone()))
        .collect();
    let unnamed = found.len().saturating_sub(max);
    let unlisted = differing.len().saturating_sub(MAX_RANGES);
    if unnamed > 0 || unlisted > 0 {
        let mut detail = format!("{unnamed} more row(s) not named");
        if unlisted > 0 {
            detail.push_str(&format!(", {unlisted} more differing range(s) not listed"));
        }
        out.push(difference(plan, "more rows differ", detail));
    }
    Ok(out)
}

async fn rows(a: &mut Agent, plan: &TableChunks, chunk: usize) -> Result<Vec<RowHash>, MysqlError> {
    let request = MysqlRequest::RowHashes {
        server: a.conn(),
        table: plan.clone(),
        chunk,
    };
    match a.call(request, &mut |_, _| {}).await? {
        MysqlReply::RowHashes { rows } => Ok(rows),
        other => Err(a.unexpected(&other)),
    }
}

/// `(row named, what)` for every row that is not the same on both sides, in source order
/// then target order.
pub fn compare(
    plan: &TableChunks,
    source: &[RowHash],
    target: &[RowHash],
) -> Vec<(String, &'static str)> {
    let mut out = Vec::new();
    if plan.key.is_empty() {
        // Without a key, rows are a multiset: each source row cancels one equal target row.
        let mut left: HashMap<u128, usize> = HashMap::new();
        for r in target {
            *left.entry(r.hash).or_default() += 1;
        }
        for r in source {
            match left.get_mut(&r.hash) {
                Some(n) if *n > 0 => *n -= 1,
                _ => out.push((name(plan, &r.key), "row missing on target")),
            }
        }
        let mut seen: HashMap<u128, usize> = HashMap::new();
        for r in target {
            let n = seen.entry(r.hash).or_default();
            *n += 1;
            if *n <= left.get(&r.hash).copied().unwrap_or(0) {
                out.push((name(plan, &r.key), "row only on target"));
            }
        }
        return out;
    }
    let by_key: HashMap<&Vec<Option<String>>, &RowHash> =
        target.iter().map(|r| (&r.key, r)).collect();
    let in_source: std::collections::HashSet<&Vec<Option<String>>> =
        source.iter().map(|r| &r.key).collect();
    for r in source {
        match by_key.get(&r.key) {
            None => out.push((name(plan, &r.key), "row missing on target")),
            Some(t) if t.hash != r.hash => out.push((
                format!("{}{}", name(plan, &r.key), columns_differing(plan, r, t)),
                "row differs",
            )),
            Some(_) => {}
        }
    }
    for r in target {
        if !in_source.contains(&r.key) {
            out.push((name(plan, &r.key), "row only on target"));
        }
    }
    out
}

/// ` in `note` (NULL on source, empty on target), `total``: the columns whose signatures
/// differ (empty when either side sent none: an older agent).
fn columns_differing(plan: &TableChunks, source: &RowHash, target: &RowHash) -> String {
    if source.columns.len() != target.columns.len() || source.columns.len() != plan.columns.len() {
        return String::new();
    }
    let class = |c: ValueClass| match c {
        ValueClass::Null => "NULL",
        ValueClass::Empty => "empty",
        ValueClass::Other => "a value",
    };
    let named: Vec<String> = plan
        .columns
        .iter()
        .zip(source.columns.iter().zip(&target.columns))
        .filter(|(_, (a, b))| a != b)
        .map(|(col, (a, b))| {
            let (ca, cb) = (sig_class(*a), sig_class(*b));
            if ca == cb {
                format!("`{col}`")
            } else {
                format!("`{col}` ({} on source, {} on target)", class(ca), class(cb))
            }
        })
        .collect();
    if named.is_empty() {
        String::new()
    } else {
        format!(" in {}", named.join(", "))
    }
}

/// `id=42`, `(a=1, b="x")`, or for a table without a key `first values: 1, "x", NULL`.
fn name(plan: &TableChunks, key: &[Option<String>]) -> String {
    let value = |v: &Option<String>| match v {
        None => "NULL".to_string(),
        Some(s)
            if !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_digit() || c == '-' || c == '.') =>
        {
            s.clone()
        }
        Some(s) => format!("{s:?}"),
    };
    if plan.key.is_empty() {
        let values: Vec<String> = key.iter().map(value).collect();
        return format!("first values: {}", values.join(", "));
    }
    let pairs: Vec<String> = plan
        .key
        .iter()
        .zip(key)
        .map(|(k, v)| format!("{k}={}", value(v)))
        .collect();
    if pairs.len() == 1 {
        pairs.concat()
    } else {
        format!("({})", pairs.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(key: &[&str]) -> TableChunks {
        TableChunks {
            db: "shop".into(),
            name: "t".into(),
            columns: vec![],
            key: key.iter().map(|k| k.to_string()).collect(),
            split_key: None,
            bounds: vec![],
        }
    }

    fn row(key: &[&str], hash: u128) -> RowHash {
        RowHash {
            key: key.iter().map(|k| Some(k.to_string())).collect(),
            hash,
            columns: Vec::new(),
        }
    }

    #[test]
    fn a_row_that_differs_names_its_columns_and_null_against_empty() {
        use super::super::digest::column_sig;
        use mysql::Value;
        let mut p = plan(&["code"]);
        p.columns = vec!["note".into(), "total".into(), "city".into()];
        let sigs = |vals: Vec<Value>| vals.iter().map(column_sig).collect::<Vec<_>>();
        let mut a = row(&["7"], 1);
        a.columns = sigs(vec![
            Value::NULL,
            Value::Int(5),
            Value::Bytes(b"Oslo".to_vec()),
        ]);
        let mut b = row(&["7"], 2);
        b.columns = sigs(vec![
            Value::Bytes(vec![]),
            Value::Int(6),
            Value::Bytes(b"Oslo".to_vec()),
        ]);
        assert_eq!(
            compare(&p, &[a], &[b]),
            vec![(
                "code=7 in `note` (NULL on source, empty on target), `total`".into(),
                "row differs"
            )]
        );
    }

    #[test]
    fn rows_are_named_by_key() {
        let p = plan(&["id"]);
        let got = compare(
            &p,
            &[row(&["1"], 10), row(&["2"], 20), row(&["3"], 30)],
            &[row(&["1"], 10), row(&["2"], 21), row(&["4"], 40)],
        );
        assert_eq!(
            got,
            vec![
                ("id=2".into(), "row differs"),
                ("id=3".into(), "row missing on target"),
                ("id=4".into(), "row only on target"),
            ]
        );
        let p = plan(&["a", "b"]);
        assert_eq!(
            name(&p, &[Some("1".into()), Some("x y".into())]),
            "(a=1, b=\"x y\")"
        );
    }

    #[test]
    fn rows_without_a_key_are_a_multiset() {
        let p = plan(&[]);
        let got = compare(
            &p,
            &[row(&["a"], 1), row(&["a"], 1), row(&["b"], 2)],
            &[row(&["a"], 1), row(&["b"], 2), row(&["c"], 3)],
        );
        assert_eq!(
            got,
            vec![
                ("first values: \"a\"".into(), "row missing on target"),
                ("first values: \"c\"".into(), "row only on target"),
            ]
        );
    }
}
