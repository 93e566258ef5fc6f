//! What a copy creates once every table is loaded, run by the target's agent: foreign keys
//! (without checking the rows again: they came from a consistent snapshot), views (in an
//! order that satisfies their dependencies), routines, triggers (after the rows, so loading
//! fired none), events, and accounts with their grants on the copied databases. Each object
//! is created under the `sql_mode`, collation and time zone it was created with on the
//! source; running it again replaces what is there.

use super::client::{self, Failure};
use super::inventory::{Account, Object, ObjectKind};
use super::protocol::Conn;
use super::sql::{ident, literal, qualified};
use serde::{Deserialize, Serialize};

/// Everything created after the rows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Objects {
    /// `(db, table, ADD CONSTRAINT ... clauses)`.
    pub foreign_keys: Vec<(String, String, Vec<String>)>,
    /// Views, routines, triggers and events.
    pub objects: Vec<Object>,
    /// Accounts to create, with their grants.
    pub accounts: Vec<Account>,
    /// The copied databases (grants on others are left out).
    pub databases: Vec<String>,
    /// Events enabled on the source are created `DISABLE ON SLAVE` (the switch enables
    /// them): while the target replicates, the source's events already write there.
    pub events_off: bool,
}

/// What [`create`] did, for the report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Created {
    /// Objects created.
    pub objects: usize,
    /// Accounts created or updated.
    pub accounts: usize,
    /// Grants left out (on databases not copied), as text.
    pub skipped_grants: Vec<String>,
}

/// Creates `o` on `server`.
pub fn create(server: &Conn, o: &Objects) -> Result<Created, Failure> {
    let mut c = client::connect(server, false)?;
    let run = |c: &mut mysql::Conn, sql: &str| client::run(c, server, sql);
    run(&mut c, "SET SESSION foreign_key_checks = 0")?;
    // What the copy creates stays out of the target's binary log (see `load`).
    let _ = mysql::prelude::Queryable::query_drop(&mut c, "SET SESSION sql_log_bin = 0");
    let mut done = Created::default();
    for (db, table, clauses) in &o.foreign_keys {
        run(
            &mut c,
            &format!(
                "ALTER TABLE {} {}",
                qualified(db, table),
                clauses.join(", ")
            ),
        )?;
    }
    let (views, rest): (Vec<&Object>, Vec<&Object>) =
        o.objects.iter().partition(|x| x.kind == ObjectKind::View);
    done.objects += create_views(&mut c, server, &views)?;
    for x in rest {
        create_one(&mut c, server, x, o.events_off)?;
        done.objects += 1;
    }
    for a in &o.accounts {
        run(&mut c, &create_user_if_missing(&a.create))?;
        for g in &a.grants {
            if grant_applies(g, &o.databases) {
                run(&mut c, g)?;
            } else {
                done.skipped_grants.push(g.clone());
            }
        }
        done.accounts += 1;
    }
    Ok(done)
}

/// Views may read other views: each round creates those whose dependencies exist, until
/// all are in or a round makes no progress (then the first error is the answer).
fn create_views(c: &mut mysql::Conn, server: &Conn, views: &[&Object]) -> Result<usize, Failure> {
    let mut left: Vec<&Object> = views.to_vec();
    let mut created = 0;
    while !left.is_empty() {
        let mut failed = Vec::new();
        let mut first = None;
        for v in &left {
            match create_one(c, server, v, false) {
                Ok(()) => created += 1,
                Err(f) => {
                    first.get_or_insert(f);
                    failed.push(*v);
                }
            }
        }
        if failed.len() == left.len() {
            return Err(
                first.unwrap_or_else(|| Failure::new("mysql-io", "no view could be created"))
            );
        }
        left = failed;
    }
    Ok(created)
}

/// The statements recreating one object, in order.
pub fn statements(x: &Object, events_off: bool) -> Vec<String> {
    let mut s = vec![format!("USE {}", ident(&x.db))];
    if let Some(mode) = &x.sql_mode {
        s.push(format!("SET SESSION sql_mode = {}", literal(mode)));
    }
    // The text arrives as UTF-8: the original client character set is kept when that text
    // means the same in it (any UTF-8 set, or plain ASCII), so the object's metadata matches.
    if let Some(cs) = &x.charset {
        if cs.starts_with("utf8") || x.create.is_ascii() {
            s.push(format!(
                "SET SESSION character_set_client = {}",
                literal(cs)
            ));
        }
    }
    if let Some(coll) = &x.collation {
        s.push(format!(
            "SET SESSION collation_connection = {}",
            literal(coll)
        ));
    }
    if let Some(tz) = &x.time_zone {
        s.push(format!("SET SESSION time_zone = {}", literal(tz)));
    }
    let name = qualified(&x.db, &x.name);
    match x.kind {
        ObjectKind::View => {
            s.push(replace_create(&x.create, "CREATE OR REPLACE "));
        }
        kind => {
            s.push(format!(
                "DROP {} IF EXISTS {name}",
                kind.word().to_uppercase()
            ));
            s.push(x.create.clone());
            let enabled = x.create.contains(" ENABLE") || !x.create.contains(" DISABLE");
            if kind == ObjectKind::Event && events_off && enabled {
                s.push(format!("ALTER EVENT {name} DISABLE ON SLAVE"));
            }
        }
    }
    s.push(super::sql::SESSION_SQL_MODE.to_string());
    s.push("SET SESSION time_zone = '+00:00'".into());
    s.push("SET NAMES utf8mb4".into());
    s
}

fn create_one(
    c: &mut mysql::Conn,
    server: &Conn,
    x: &Object,
    events_off: bool,
) -> Result<(), Failure> {
    for sql in statements(x, events_off) {
        client::run(c, server, &sql).map_err(|f| Failure {
            message: format!(
                "create {} {}.{}: {}",
                x.kind.word(),
                x.db,
                x.name,
                f.message
            ),
            ..f
        })?;
    }
    Ok(())
}

/// `CREATE ...` with its leading `CREATE ` replaced.
fn replace_create(create: &str, with: &str) -> String {
    match create.strip_prefix("CREATE ") {
        Some(rest) => format!("{with}{rest}"),
        None => create.to_string(),
    }
}

/// `CREATE USER` made idempotent.
pub fn create_user_if_missing(create: &str) -> String {
    match create.strip_prefix("CREATE USER ") {
        Some(rest) if !rest.starts_with("IF NOT EXISTS") => {
            format!("CREATE USER IF NOT EXISTS {rest}")
        }
        _ => create.to_string(),
    }
}

/// True for a grant on everything (`*.*`) or on one of `databases`.
pub fn grant_applies(grant: &str, databases: &[String]) -> bool {
    let Some(at) = grant.find(" ON ") else {
        return false;
    };
    let target = grant[at + 4..].trim_start();
    let target = target
        .strip_prefix("PROCEDURE ")
        .or_else(|| target.strip_prefix("FUNCTION "))
        .unwrap_or(target);
    if target.starts_with("*.*") {
        return true;
    }
    databases
        .iter()
        .any(|db| target.starts_with(&format!("{}.", ident(db))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_follow_the_copied_databases() {
        let dbs = vec!["shop".to_string()];
        assert!(grant_applies(
            "GRANT USAGE ON *.* TO `app`@`%` IDENTIFIED BY PASSWORD '*AB'",
            &dbs
        ));
        assert!(grant_applies(
            "GRANT SELECT, INSERT ON `shop`.* TO `app`@`%`",
            &dbs
        ));
        assert!(grant_applies(
            "GRANT EXECUTE ON PROCEDURE `shop`.`p` TO `app`@`%`",
            &dbs
        ));
        assert!(!grant_applies(
            "GRANT ALL PRIVILEGES ON `crm`.* TO `app`@`%`",
            &dbs
        ));
        assert!(!grant_applies(
            "GRANT SELECT ON `shopping`.* TO `app`@`%`",
            &dbs
        ));
        assert_eq!(
            create_user_if_missing("CREATE USER `app`@`%` IDENTIFIED BY PASSWORD '*AB'"),
            "CREATE USER IF NOT EXISTS `app`@`%` IDENTIFIED BY PASSWORD '*AB'"
        );
    }

    #[test]
    fn objects_are_recreated_under_their_own_settings() {
        let event = Object {
            kind: ObjectKind::Event,
            db: "shop".into(),
            name: "purge".into(),
            create: "CREATE DEFINER=`root`@`localhost` EVENT `purge` ON SCHEDULE EVERY 1 HOUR STARTS '2026-01-01 00:00:00' ON COMPLETION NOT PRESERVE ENABLE DO DELETE FROM t".into(),
            sql_mode: Some("STRICT_TRANS_TABLES".into()),
            charset: Some("utf8mb4".into()),
            collation: Some("utf8mb4_general_ci".into()),
            time_zone: Some("SYSTEM".into()),
            table: None,
        };
        let s = statements(&event, true);
        assert_eq!(s[0], "USE `shop`");
        assert_eq!(s[1], "SET SESSION sql_mode = 'STRICT_TRANS_TABLES'");
        assert_eq!(s[2], "SET SESSION character_set_client = 'utf8mb4'");
        assert_eq!(s[4], "SET SESSION time_zone = 'SYSTEM'");
        assert_eq!(s[5], "DROP EVENT IF EXISTS `shop`.`purge`");
        assert_eq!(s[7], "ALTER EVENT `shop`.`purge` DISABLE ON SLAVE");
        let view = Object {
            kind: ObjectKind::View,
            create: "CREATE ALGORITHM=UNDEFINED DEFINER=`root`@`localhost` SQL SECURITY DEFINER VIEW `v` AS select 1".into(),
            sql_mode: None,
            time_zone: None,
            ..event
        };
        assert_eq!(
            statements(&view, false)[3],
            "CREATE OR REPLACE ALGORITHM=UNDEFINED DEFINER=`root`@`localhost` SQL SECURITY DEFINER VIEW `v` AS select 1"
        );
    }
}
