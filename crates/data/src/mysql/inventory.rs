//! What a server holds in the databases a step names: tables with their columns, keys and
//! `SHOW CREATE` text, views, routines, triggers, events, and (on request) accounts with
//! their grants. Read by the agent next to the server, in one connection.

use super::client::{self, Failure};
use super::protocol::Conn;
use super::sql::{ident, literal, qualified};
use serde::{Deserialize, Serialize};

/// A table's column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    /// Its name.
    pub name: String,
    /// `information_schema.COLUMNS.DATA_TYPE` (`int`, `varchar`...).
    pub data_type: String,
    /// Computed by the server (`VIRTUAL`/`STORED` generated): never copied, never hashed.
    pub generated: bool,
}

/// A base table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Table {
    /// Its database.
    pub db: String,
    /// Its name.
    pub name: String,
    /// Storage engine (`InnoDB`...).
    pub engine: String,
    /// `SHOW CREATE TABLE`.
    pub create: String,
    /// Columns in order.
    pub columns: Vec<Column>,
    /// The primary key's columns in key order (empty: no primary key).
    pub primary_key: Vec<String>,
    /// The server's row estimate.
    pub rows: u64,
    /// Bytes of data (not indexes), as the server estimates them.
    pub data_bytes: u64,
    /// The next `AUTO_INCREMENT` value, when the table has one.
    pub auto_increment: Option<u64>,
}

impl Table {
    /// `` `db`.`name` ``.
    pub fn qualified(&self) -> String {
        qualified(&self.db, &self.name)
    }

    /// `db.name` for messages.
    pub fn label(&self) -> String {
        format!("{}.{}", self.db, self.name)
    }

    /// The single integer primary-key column, when there is one (tables are split into
    /// ranges of it).
    pub fn integer_key(&self) -> Option<&str> {
        let [key] = self.primary_key.as_slice() else {
            return None;
        };
        let column = self.columns.iter().find(|c| &c.name == key)?;
        INTEGER_TYPES
            .contains(&column.data_type.as_str())
            .then_some(key.as_str())
    }

    /// The columns that hold data (generated ones are computed by the server).
    pub fn stored_columns(&self) -> Vec<&str> {
        self.columns
            .iter()
            .filter(|c| !c.generated)
            .map(|c| c.name.as_str())
            .collect()
    }
}

/// Integer types a key range can split.
pub const INTEGER_TYPES: &[&str] = &["tinyint", "smallint", "mediumint", "int", "bigint"];

/// What a schema object is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    /// A view.
    View,
    /// A stored procedure.
    Procedure,
    /// A stored function.
    Function,
    /// A trigger.
    Trigger,
    /// A scheduled event.
    Event,
}

impl ObjectKind {
    /// `view`, `procedure`... as in SQL.
    pub fn word(self) -> &'static str {
        match self {
            ObjectKind::View => "view",
            ObjectKind::Procedure => "procedure",
            ObjectKind::Function => "function",
            ObjectKind::Trigger => "trigger",
            ObjectKind::Event => "event",
        }
    }
}

/// A view, routine, trigger or event with what recreating it takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Object {
    /// What it is.
    pub kind: ObjectKind,
    /// Its database.
    pub db: String,
    /// Its name.
    pub name: String,
    /// `SHOW CREATE ...` text.
    pub create: String,
    /// The `sql_mode` it was created under (routines, triggers, events).
    #[serde(default)]
    pub sql_mode: Option<String>,
    /// `character_set_client` it was created with.
    #[serde(default)]
    pub charset: Option<String>,
    /// `collation_connection` it was created with.
    #[serde(default)]
    pub collation: Option<String>,
    /// The event's `time_zone`.
    #[serde(default)]
    pub time_zone: Option<String>,
    /// The trigger's table (its triggers are created after its rows).
    #[serde(default)]
    pub table: Option<String>,
}

/// An account with its grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// `'user'@'host'`.
    pub name: String,
    /// `SHOW CREATE USER` (with the password hash, never a password).
    pub create: String,
    /// `SHOW GRANTS FOR`.
    pub grants: Vec<String>,
}

/// Everything read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    /// `SHOW CREATE DATABASE` per database found, by name.
    pub databases: Vec<(String, String)>,
    /// Base tables, by database and name.
    pub tables: Vec<Table>,
    /// Views, routines, triggers and events.
    pub objects: Vec<Object>,
    /// Accounts (only when asked for).
    pub accounts: Vec<Account>,
    /// Tables of kinds cutover does not copy (sequences, system-versioned tables), named.
    pub unsupported: Vec<String>,
}

/// Accounts that belong to the server itself, never copied.
const SYSTEM_ACCOUNTS: &[&str] = &[
    "root",
    "mariadb.sys",
    "mysql.sys",
    "mysql.session",
    "mysql.infoschema",
    "mysql",
    "PUBLIC",
    "",
];

/// Reads the inventory of `databases` on `server`.
pub fn read(server: &Conn, databases: &[String], users: bool) -> Result<Inventory, Failure> {
    let mut c = client::connect(server, false)?;
    let mut inv = Inventory::default();
    if databases.is_empty() {
        return Ok(inv);
    }
    let list = databases
        .iter()
        .map(|d| literal(d))
        .collect::<Vec<_>>()
        .join(", ");
    let rows = |c: &mut mysql::Conn, sql: &str| client::rows(c, server, sql);
    for db in databases {
        let found = rows(
            &mut c,
            &format!("SHOW DATABASES LIKE {}", literal(&like(db))),
        )?;
        if found.is_empty() {
            continue;
        }
        let create = rows(&mut c, &format!("SHOW CREATE DATABASE {}", ident(db)))?;
        let text = create.first().and_then(|r| r.get(1).cloned().flatten());
        inv.databases.push((db.clone(), text.unwrap_or_default()));
    }
    let tables = rows(
        &mut c,
        &format!(
            "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE, COALESCE(ENGINE, ''), COALESCE(TABLE_ROWS, 0), COALESCE(DATA_LENGTH, 0), AUTO_INCREMENT \
             FROM information_schema.TABLES WHERE TABLE_SCHEMA IN ({list}) ORDER BY TABLE_SCHEMA, TABLE_NAME"
        ),
    )?;
    let columns = rows(
        &mut c,
        &format!(
            "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, DATA_TYPE, EXTRA FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA IN ({list}) ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION"
        ),
    )?;
    let keys = rows(
        &mut c,
        &format!(
            "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME FROM information_schema.STATISTICS \
             WHERE TABLE_SCHEMA IN ({list}) AND INDEX_NAME = 'PRIMARY' ORDER BY TABLE_SCHEMA, TABLE_NAME, SEQ_IN_INDEX"
        ),
    )?;
    let s = |r: &Vec<Option<String>>, i: usize| r.get(i).cloned().flatten().unwrap_or_default();
    let n = |r: &Vec<Option<String>>, i: usize| s(r, i).parse::<u64>().ok();
    for t in &tables {
        let (db, name, kind) = (s(t, 0), s(t, 1), s(t, 2));
        match kind.as_str() {
            "BASE TABLE" => {}
            "VIEW" => {
                inv.objects.push(view(&mut c, server, &db, &name)?);
                continue;
            }
            other => {
                inv.unsupported
                    .push(format!("{db}.{name} ({})", other.to_lowercase()));
                continue;
            }
        }
        let create = rows(
            &mut c,
            &format!("SHOW CREATE TABLE {}", qualified(&db, &name)),
        )?;
        let is_mine = |r: &&Vec<Option<String>>| s(r, 0) == db && s(r, 1) == name;
        inv.tables.push(Table {
            columns: columns
                .iter()
                .filter(is_mine)
                .map(|r| Column {
                    name: s(r, 2),
                    data_type: s(r, 3).to_lowercase(),
                    generated: s(r, 4).to_uppercase().contains("GENERATED"),
                })
                .collect(),
            primary_key: keys.iter().filter(is_mine).map(|r| s(r, 2)).collect(),
            create: create
                .first()
                .and_then(|r| r.get(1).cloned().flatten())
                .unwrap_or_default(),
            engine: s(t, 3),
            rows: n(t, 4).unwrap_or(0),
            data_bytes: n(t, 5).unwrap_or(0),
            auto_increment: n(t, 6),
            db,
            name,
        });
    }
    for (db, _) in inv.databases.clone() {
        routines(&mut c, server, &db, &mut inv.objects)?;
        triggers(&mut c, server, &db, &mut inv.objects)?;
        events(&mut c, server, &db, &mut inv.objects)?;
    }
    if users {
        inv.accounts = accounts(&mut c, server)?;
    }
    Ok(inv)
}

/// `name` for `LIKE`, with its wildcards escaped.
fn like(name: &str) -> String {
    name.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

fn field(rows: &[Vec<Option<String>>], i: usize) -> Option<String> {
    rows.first().and_then(|r| r.get(i).cloned().flatten())
}

fn view(c: &mut mysql::Conn, server: &Conn, db: &str, name: &str) -> Result<Object, Failure> {
    let r = client::rows(
        c,
        server,
        &format!("SHOW CREATE VIEW {}", qualified(db, name)),
    )?;
    Ok(Object {
        kind: ObjectKind::View,
        db: db.into(),
        name: name.into(),
        create: field(&r, 1).unwrap_or_default(),
        sql_mode: None,
        charset: field(&r, 2),
        collation: field(&r, 3),
        time_zone: None,
        table: None,
    })
}

fn routines(
    c: &mut mysql::Conn,
    server: &Conn,
    db: &str,
    out: &mut Vec<Object>,
) -> Result<(), Failure> {
    let list = client::rows(
        c,
        server,
        &format!(
            "SELECT ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = {} ORDER BY ROUTINE_TYPE, ROUTINE_NAME",
            literal(db)
        ),
    )?;
    for r in list {
        let name = r.first().cloned().flatten().unwrap_or_default();
        let kind = match r.get(1).cloned().flatten().as_deref() {
            Some("FUNCTION") => ObjectKind::Function,
            Some("PROCEDURE") => ObjectKind::Procedure,
            _ => continue,
        };
        let word = kind.word().to_uppercase();
        let d = client::rows(
            c,
            server,
            &format!("SHOW CREATE {word} {}", qualified(db, &name)),
        )?;
        out.push(Object {
            kind,
            db: db.into(),
            name,
            sql_mode: field(&d, 1),
            create: field(&d, 2).unwrap_or_default(),
            charset: field(&d, 3),
            collation: field(&d, 4),
            time_zone: None,
            table: None,
        });
    }
    Ok(())
}

fn triggers(
    c: &mut mysql::Conn,
    server: &Conn,
    db: &str,
    out: &mut Vec<Object>,
) -> Result<(), Failure> {
    let list = client::rows(
        c,
        server,
        &format!(
            "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = {} ORDER BY EVENT_OBJECT_TABLE, ACTION_ORDER",
            literal(db)
        ),
    )?;
    for r in list {
        let name = r.first().cloned().flatten().unwrap_or_default();
        let d = client::rows(
            c,
            server,
            &format!("SHOW CREATE TRIGGER {}", qualified(db, &name)),
        )?;
        out.push(Object {
            kind: ObjectKind::Trigger,
            db: db.into(),
            name,
            sql_mode: field(&d, 1),
            create: field(&d, 2).unwrap_or_default(),
            charset: field(&d, 3),
            collation: field(&d, 4),
            time_zone: None,
            table: r.get(1).cloned().flatten(),
        });
    }
    Ok(())
}

fn events(
    c: &mut mysql::Conn,
    server: &Conn,
    db: &str,
    out: &mut Vec<Object>,
) -> Result<(), Failure> {
    let list = client::rows(
        c,
        server,
        &format!(
            "SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = {} ORDER BY EVENT_NAME",
            literal(db)
        ),
    )?;
    for r in list {
        let name = r.first().cloned().flatten().unwrap_or_default();
        let d = client::rows(
            c,
            server,
            &format!("SHOW CREATE EVENT {}", qualified(db, &name)),
        )?;
        out.push(Object {
            kind: ObjectKind::Event,
            db: db.into(),
            name,
            sql_mode: field(&d, 1),
            time_zone: field(&d, 2),
            create: field(&d, 3).unwrap_or_default(),
            charset: field(&d, 4),
            collation: field(&d, 5),
            table: None,
        });
    }
    Ok(())
}

fn accounts(c: &mut mysql::Conn, server: &Conn) -> Result<Vec<Account>, Failure> {
    let list = client::rows(
        c,
        server,
        "SELECT User, Host FROM mysql.user ORDER BY User, Host",
    )?;
    let mut out = Vec::new();
    for r in list {
        let user = r.first().cloned().flatten().unwrap_or_default();
        let host = r.get(1).cloned().flatten().unwrap_or_default();
        if SYSTEM_ACCOUNTS.contains(&user.as_str()) {
            continue;
        }
        let name = format!("{}@{}", literal(&user), literal(&host));
        let create = client::value(c, server, &format!("SHOW CREATE USER {name}"))?;
        let grants = client::rows(c, server, &format!("SHOW GRANTS FOR {name}"))?
            .into_iter()
            .filter_map(|g| g.into_iter().next().flatten())
            .collect();
        out.push(Account {
            name,
            create: create.unwrap_or_default(),
            grants,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(key: &[&str], types: &[(&str, &str)]) -> Table {
        Table {
            db: "shop".into(),
            name: "t".into(),
            engine: "InnoDB".into(),
            create: String::new(),
            columns: types
                .iter()
                .map(|(n, t)| Column {
                    name: n.to_string(),
                    data_type: t.to_string(),
                    generated: false,
                })
                .collect(),
            primary_key: key.iter().map(|k| k.to_string()).collect(),
            rows: 0,
            data_bytes: 0,
            auto_increment: None,
        }
    }

    #[test]
    fn only_single_integer_keys_split() {
        assert_eq!(
            table(&["id"], &[("id", "bigint"), ("v", "text")]).integer_key(),
            Some("id")
        );
        assert_eq!(table(&["code"], &[("code", "varchar")]).integer_key(), None);
        assert_eq!(
            table(&["a", "b"], &[("a", "int"), ("b", "int")]).integer_key(),
            None
        );
        assert_eq!(table(&[], &[("a", "int")]).integer_key(), None);
        assert_eq!(like("my_db%"), "my\\_db\\%");
    }
}
