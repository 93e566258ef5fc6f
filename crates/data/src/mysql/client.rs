//! The agent's connections to a server (the `mysql` crate, synchronous: the agent has no
//! runtime), and failures classified for the controller: `mysql-auth` (wrong credentials),
//! `mysql-unreachable` (nothing answers), `mysql-ERRNO` (the server refused a statement),
//! `mysql-io` (the connection broke).

use super::protocol::{Conn, Rows};
use mysql::prelude::Queryable;
use std::time::Duration;

/// How long connecting may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A failed request, as the agent reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The class (`mysql-auth`, `mysql-unreachable`, `mysql-1290`, `mysql-io`...).
    pub code: String,
    /// What went wrong, naming the server.
    pub message: String,
}

impl Failure {
    /// A failure of class `code`.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Failure {
            code: code.into(),
            message: message.into(),
        }
    }

    /// The server error number, for `mysql-ERRNO` failures.
    pub fn server_code(&self) -> Option<u16> {
        self.code.strip_prefix("mysql-")?.parse().ok()
    }
}

/// Classifies a client error met while doing `what` on `server`.
pub fn fail(server: &Conn, what: &str, e: mysql::Error) -> Failure {
    let at = server.describe();
    match e {
        mysql::Error::MySqlError(m) => {
            let code = match m.code {
                // Access denied for the account, to the database, or the plugin refused.
                1044 | 1045 | 1698 => "mysql-auth".to_string(),
                n => format!("mysql-{n}"),
            };
            Failure::new(
                code,
                format!(
                    "{what} on {at}: ERROR {} ({}): {}",
                    m.code, m.state, m.message
                ),
            )
        }
        mysql::Error::IoError(io) => Failure::new("mysql-io", format!("{what} on {at}: {io}")),
        mysql::Error::DriverError(d) => Failure::new("mysql-io", format!("{what} on {at}: {d}")),
        other => Failure::new("mysql-io", format!("{what} on {at}: {other}")),
    }
}

/// Opens a connection: UTC, the session's character set `binary` when `binary` (rows travel
/// as the bytes stored), else `utf8mb4`; no statement timeout.
pub fn connect(server: &Conn, binary: bool) -> Result<mysql::Conn, Failure> {
    let mut o = mysql::OptsBuilder::new()
        .user(Some(server.user.clone()))
        .pass(server.password.clone())
        .tcp_connect_timeout(Some(CONNECT_TIMEOUT))
        .prefer_socket(false)
        .stmt_cache_size(Some(64))
        .init(vec![
            if binary {
                "SET NAMES binary"
            } else {
                "SET NAMES utf8mb4"
            },
            "SET time_zone = '+00:00'",
            super::sql::SESSION_SQL_MODE,
        ]);
    o = match &server.socket {
        Some(path) => o.socket(Some(path.clone())),
        None => o
            .ip_or_hostname(Some(server.address.clone()))
            .tcp_port(server.port),
    };
    mysql::Conn::new(o).map_err(|e| connect_failure(server, e))
}

fn connect_failure(server: &Conn, e: mysql::Error) -> Failure {
    let at = server.describe();
    match e {
        mysql::Error::IoError(io) => {
            Failure::new("mysql-unreachable", format!("cannot connect to {at}: {io}"))
        }
        mysql::Error::DriverError(mysql::DriverError::ConnectTimeout) => Failure::new(
            "mysql-unreachable",
            format!(
                "cannot connect to {at}: no answer within {}s",
                CONNECT_TIMEOUT.as_secs()
            ),
        ),
        mysql::Error::DriverError(d) => {
            Failure::new("mysql-unreachable", format!("cannot connect to {at}: {d}"))
        }
        other => fail(server, "connect", other),
    }
}

/// Runs `sql` and returns its rows as text (NULL as `None`).
pub fn rows(c: &mut mysql::Conn, server: &Conn, sql: &str) -> Result<Rows, Failure> {
    result(c, server, sql).map(|(_, rows)| rows)
}

/// Runs `sql` and returns its column names and rows as text.
pub fn result(
    c: &mut mysql::Conn,
    server: &Conn,
    sql: &str,
) -> Result<(Vec<String>, Rows), Failure> {
    let mut result = c
        .query_iter(sql)
        .map_err(|e| fail(server, &short(sql), e))?;
    let names: Vec<String> = result
        .columns()
        .as_ref()
        .iter()
        .map(|c| c.name_str().into_owned())
        .collect();
    let mut out = Vec::new();
    for row in result.by_ref() {
        let row = row.map_err(|e| fail(server, &short(sql), e))?;
        out.push(row.unwrap().into_iter().map(text).collect());
    }
    Ok((names, out))
}

/// Runs `sql`, dropping its result.
pub fn run(c: &mut mysql::Conn, server: &Conn, sql: &str) -> Result<(), Failure> {
    c.query_drop(sql).map_err(|e| fail(server, &short(sql), e))
}

/// The first column of the first row of `sql`, when there is one and it is not NULL.
pub fn value(c: &mut mysql::Conn, server: &Conn, sql: &str) -> Result<Option<String>, Failure> {
    Ok(rows(c, server, sql)?
        .into_iter()
        .next()
        .and_then(|r| r.into_iter().next().flatten()))
}

/// A value as text (administration answers only: bytes shown lossily).
pub fn text(v: mysql::Value) -> Option<String> {
    match v {
        mysql::Value::NULL => None,
        mysql::Value::Bytes(b) => Some(String::from_utf8_lossy(&b).into_owned()),
        mysql::Value::Int(i) => Some(i.to_string()),
        mysql::Value::UInt(u) => Some(u.to_string()),
        mysql::Value::Float(f) => Some(f.to_string()),
        mysql::Value::Double(d) => Some(d.to_string()),
        other => Some(other.as_sql(true).trim_matches('\'').to_string()),
    }
}

/// The statement as named in messages: its first line, at most 100 characters.
pub fn short(sql: &str) -> String {
    let line = sql.trim().lines().next().unwrap_or_default();
    match line.char_indices().nth(100) {
        Some((cut, _)) => format!("`{}…`", &line[..cut]),
        None => format!("`{line}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_keep_their_number_and_denials_are_auth() {
        let server = Conn {
            address: "10.0.0.1".into(),
            port: 3306,
            socket: None,
            user: "app".into(),
            password: Some("pw".into()),
        };
        let e = mysql::Error::MySqlError(mysql::MySqlError {
            state: "28000".into(),
            message: "Access denied for user 'app'@'10.0.0.2' (using password: YES)".into(),
            code: 1045,
        });
        let f = fail(&server, "connect", e);
        assert_eq!(f.code, "mysql-auth");
        assert_eq!(f.message, "connect on app@10.0.0.1:3306: ERROR 1045 (28000): Access denied for user 'app'@'10.0.0.2' (using password: YES)");
        let e = mysql::Error::MySqlError(mysql::MySqlError {
            state: "HY000".into(),
            message: "read only".into(),
            code: 1290,
        });
        assert_eq!(fail(&server, "x", e).server_code(), Some(1290));
        assert!(!format!("{server:?}").contains("pw\""), "{server:?}");
    }
}
