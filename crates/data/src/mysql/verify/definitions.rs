//! Definitions compared: databases, tables (`SHOW CREATE TABLE` with the auto-increment
//! counter taken out and compared on its own, keys in any order), views, routines, triggers
//! and events (with the `sql_mode` each runs under; an event's enabled state left out: a
//! replicating target holds them `DISABLE ON SLAVE` until the switch).

use super::report::Difference;
use crate::mysql::inventory::{Inventory, Object, Table};
use std::collections::BTreeMap;

/// Every definition difference between `source` and `target`.
pub fn compare(source: &Inventory, target: &Inventory) -> Vec<Difference> {
    let mut out = Vec::new();
    for (db, _) in &source.databases {
        if !target.databases.iter().any(|(n, _)| n == db) {
            out.push(diff(db, "", "database", "missing on target", String::new()));
        }
    }
    let tables = |inv: &Inventory| -> BTreeMap<(String, String), Table> {
        inv.tables
            .iter()
            .map(|t| ((t.db.clone(), t.name.clone()), t.clone()))
            .collect()
    };
    let (st, tt) = (tables(source), tables(target));
    for (key, s) in &st {
        let Some(t) = tt.get(key) else {
            out.push(diff(
                &s.db,
                &s.name,
                "table",
                "missing on target",
                String::new(),
            ));
            continue;
        };
        let (a, b) = (normalize_table(&s.create), normalize_table(&t.create));
        if a != b {
            out.push(diff(
                &s.db,
                &s.name,
                "table",
                "definition",
                first_difference(&a, &b),
            ));
        }
        if let (Some(sa), Some(ta)) = (s.auto_increment, t.auto_increment) {
            if ta < sa {
                out.push(diff(
                    &s.db,
                    &s.name,
                    "table",
                    "auto-increment behind",
                    format!("source next {sa}, target next {ta}"),
                ));
            }
        }
    }
    for (key, t) in &tt {
        if !st.contains_key(key) {
            out.push(diff(
                &t.db,
                &t.name,
                "table",
                "only on target",
                String::new(),
            ));
        }
    }
    let objects = |inv: &Inventory| -> BTreeMap<(String, &'static str, String), Object> {
        inv.objects
            .iter()
            .map(|o| ((o.db.clone(), o.kind.word(), o.name.clone()), o.clone()))
            .collect()
    };
    let (so, to) = (objects(source), objects(target));
    for ((db, kind, name), s) in &so {
        match to.get(&(db.clone(), kind, name.clone())) {
            None => out.push(diff(db, name, kind, "missing on target", String::new())),
            Some(t) => {
                let (a, b) = (normalize_object(s), normalize_object(t));
                if a != b {
                    out.push(diff(db, name, kind, "definition", first_difference(&a, &b)));
                }
            }
        }
    }
    for (db, kind, name) in to.keys() {
        if !so.contains_key(&(db.clone(), kind, name.clone())) {
            out.push(diff(db, name, kind, "only on target", String::new()));
        }
    }
    out
}

fn diff(db: &str, object: &str, kind: &str, what: &str, detail: String) -> Difference {
    Difference {
        db: db.into(),
        object: object.into(),
        object_kind: kind.into(),
        kind: what.into(),
        detail,
    }
}

/// `SHOW CREATE TABLE` without ` AUTO_INCREMENT=N` and with its key and constraint lines in
/// name order (InnoDB lists keys in the order they were added; the copy adds them later).
pub fn normalize_table(create: &str) -> String {
    let mut columns = Vec::new();
    let mut keys = Vec::new();
    let mut other = Vec::new();
    for line in create.lines() {
        let item = line.trim_end().trim_end_matches(',');
        if line.starts_with("  `") {
            columns.push(item.to_string());
        } else if line.starts_with("  ") {
            keys.push(item.to_string());
        } else {
            other.push(strip_auto_increment(item));
        }
    }
    keys.sort();
    let mut out = other.first().cloned().unwrap_or_default();
    for l in columns.iter().chain(&keys) {
        out.push('\n');
        out.push_str(l);
    }
    for l in other.iter().skip(1) {
        out.push('\n');
        out.push_str(l);
    }
    out
}

fn strip_auto_increment(line: &str) -> String {
    match line.find(" AUTO_INCREMENT=") {
        Some(i) => {
            let rest = &line[i + 16..];
            let end = rest.find(' ').unwrap_or(rest.len());
            format!("{}{}", &line[..i], &rest[end..])
        }
        None => line.to_string(),
    }
}

/// An object's text as compared: its `sql_mode` and statement; an event without its state.
pub fn normalize_object(o: &Object) -> String {
    let mut text = o.create.clone();
    if o.kind == crate::mysql::inventory::ObjectKind::Event {
        if let Some(at) = text.find(" DO ") {
            let (head, body) = text.split_at(at);
            let head = [
                " DISABLE ON SLAVE",
                " DISABLE ON REPLICA",
                " ENABLE",
                " DISABLE",
            ]
            .iter()
            .fold(head.to_string(), |h, w| h.replace(w, ""));
            text = format!("{head}{body}");
        }
    }
    match &o.sql_mode {
        Some(mode) => format!("sql_mode={mode}\n{text}"),
        None => text,
    }
}

/// Where two texts first differ, as `source: ...; target: ...` around that point.
pub fn first_difference(a: &str, b: &str) -> String {
    let at = a
        .char_indices()
        .zip(b.chars())
        .find(|((_, x), y)| x != y)
        .map(|((i, _), _)| i)
        .unwrap_or(a.len().min(b.len()));
    let window = |s: &str| {
        let mut start = at.saturating_sub(30);
        while !s.is_char_boundary(start) {
            start -= 1;
        }
        let tail: String = s[start.min(s.len())..].chars().take(80).collect();
        let shown = tail.replace('\n', "\\n");
        if start > 0 {
            format!("…{shown}")
        } else {
            shown
        }
    };
    format!("source: {}; target: {}", window(a), window(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mysql::inventory::ObjectKind;

    #[test]
    fn tables_compare_without_counter_or_key_order() {
        let a = "CREATE TABLE `t` (\n  `id` int(11) NOT NULL AUTO_INCREMENT,\n  PRIMARY KEY (`id`),\n  KEY `b` (`id`),\n  KEY `a` (`id`)\n) ENGINE=InnoDB AUTO_INCREMENT=501 DEFAULT CHARSET=utf8mb4";
        let b = "CREATE TABLE `t` (\n  `id` int(11) NOT NULL AUTO_INCREMENT,\n  PRIMARY KEY (`id`),\n  KEY `a` (`id`),\n  KEY `b` (`id`)\n) ENGINE=InnoDB AUTO_INCREMENT=9 DEFAULT CHARSET=utf8mb4";
        assert_eq!(normalize_table(a), normalize_table(b));
        assert!(normalize_table(a).ends_with(") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"));
    }

    #[test]
    fn events_compare_without_their_state_but_with_their_schedule() {
        let event = |create: &str| Object {
            kind: ObjectKind::Event,
            db: "shop".into(),
            name: "e".into(),
            create: create.into(),
            sql_mode: None,
            charset: None,
            collation: None,
            time_zone: None,
            table: None,
        };
        let on = event("CREATE EVENT `e` ON SCHEDULE EVERY 1 DAY STARTS '2026-01-01 00:00:00' ON COMPLETION NOT PRESERVE ENABLE DO DELETE FROM t");
        let off = event("CREATE EVENT `e` ON SCHEDULE EVERY 1 DAY STARTS '2026-01-01 00:00:00' ON COMPLETION NOT PRESERVE DISABLE ON SLAVE DO DELETE FROM t");
        let hourly = event("CREATE EVENT `e` ON SCHEDULE EVERY 1 HOUR STARTS '2026-01-01 00:00:00' ON COMPLETION NOT PRESERVE ENABLE DO DELETE FROM t");
        assert_eq!(normalize_object(&on), normalize_object(&off));
        assert_ne!(normalize_object(&on), normalize_object(&hourly));
        assert_eq!(
            first_difference(&normalize_object(&on), &normalize_object(&hourly)),
            "source: …EVENT `e` ON SCHEDULE EVERY 1 DAY STARTS '2026-01-01 00:00:00' ON COMPLETION NOT; target: …EVENT `e` ON SCHEDULE EVERY 1 HOUR STARTS '2026-01-01 00:00:00' ON COMPLETION NO"
        );
    }
}
