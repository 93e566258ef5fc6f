//! Replication statements and state, per flavor: pointing a server at a primary, its status
//! (threads, errors, lag in seconds and in transactions), GTID positions compared, waiting
//! for a position, freezing writes. MariaDB's statements are the tested ones; MySQL's follow
//! its 8.0 documentation.

use super::error::MysqlError;
use super::flavor::Flavor;
use super::protocol::Position;
use super::session::Agent;
use super::sql::literal;
use cutover_exec::{FailureClass, SecretValue};
use std::collections::BTreeMap;

/// A primary as its replica reaches it.
#[derive(Debug, Clone)]
pub struct Primary {
    /// Host or address the replica's server connects to.
    pub address: String,
    /// Port.
    pub port: u16,
    /// The replication account.
    pub user: String,
    /// Its password.
    pub password: Option<SecretValue>,
}

/// Where replication starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// After this GTID position (MariaDB `MASTER_USE_GTID = slave_pos`).
    Gtid(String),
    /// At this binary log file and offset.
    File(String, u64),
}

impl Start {
    /// GTID when the position has one and the flavor follows it here, else the file.
    pub fn from(p: &Position, flavor: Flavor) -> Start {
        if flavor == Flavor::MariaDb && !p.gtid.is_empty() {
            Start::Gtid(p.gtid.clone())
        } else {
            Start::File(p.file.clone(), p.offset)
        }
    }
}

/// The statements making a server replicate from `primary` starting at `start` (the
/// replica's threads stopped; the caller starts them).
pub fn point_at(flavor: Flavor, primary: &Primary, start: &Start) -> Vec<String> {
    let password = primary
        .password
        .as_ref()
        .map(|p| p.expose().to_string())
        .unwrap_or_default();
    match flavor {
        Flavor::MariaDb => {
            let mut s = Vec::new();
            let position = match start {
                Start::Gtid(g) => {
                    s.push(format!("SET GLOBAL gtid_slave_pos = {}", literal(g)));
                    "MASTER_USE_GTID = slave_pos".to_string()
                }
                Start::File(f, o) => format!(
                    "MASTER_LOG_FILE = {}, MASTER_LOG_POS = {o}, MASTER_USE_GTID = no",
                    literal(f)
                ),
            };
            s.push(format!(
                "CHANGE MASTER TO MASTER_HOST = {}, MASTER_PORT = {}, MASTER_USER = {}, MASTER_PASSWORD = {}, MASTER_CONNECT_RETRY = 1, {position}",
                literal(&primary.address),
                primary.port,
                literal(&primary.user),
                literal(&password)
            ));
            s
        }
        Flavor::MySql => {
            let position = match start {
                Start::Gtid(_) => "SOURCE_AUTO_POSITION = 1".to_string(),
                Start::File(f, o) => {
                    format!("SOURCE_LOG_FILE = {}, SOURCE_LOG_POS = {o}", literal(f))
                }
            };
            vec![format!(
                "CHANGE REPLICATION SOURCE TO SOURCE_HOST = {}, SOURCE_PORT = {}, SOURCE_USER = {}, SOURCE_PASSWORD = {}, SOURCE_CONNECT_RETRY = 1, GET_SOURCE_PUBLIC_KEY = 1, {position}",
                literal(&primary.address),
                primary.port,
                literal(&primary.user),
                literal(&password)
            )]
        }
    }
}

/// `START SLAVE` / `START REPLICA`.
pub fn start(flavor: Flavor) -> &'static str {
    match flavor {
        Flavor::MariaDb => "START SLAVE",
        Flavor::MySql => "START REPLICA",
    }
}

/// `STOP SLAVE` / `STOP REPLICA`.
pub fn stop(flavor: Flavor) -> &'static str {
    match flavor {
        Flavor::MariaDb => "STOP SLAVE",
        Flavor::MySql => "STOP REPLICA",
    }
}

/// Forgets the primary entirely.
pub fn reset(flavor: Flavor) -> &'static str {
    match flavor {
        Flavor::MariaDb => "RESET SLAVE ALL",
        Flavor::MySql => "RESET REPLICA ALL",
    }
}

/// Replicates only `databases` (every table of each).
pub fn only(flavor: Flavor, databases: &[String]) -> String {
    let patterns: Vec<String> = databases.iter().map(|d| format!("{d}.%")).collect();
    match flavor {
        Flavor::MariaDb => format!(
            "SET GLOBAL replicate_wild_do_table = {}",
            literal(&patterns.join(","))
        ),
        Flavor::MySql => format!(
            "CHANGE REPLICATION FILTER REPLICATE_WILD_DO_TABLE = ({})",
            patterns
                .iter()
                .map(|p| literal(p))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Writes frozen (`true`) or allowed: `read_only` (MariaDB: accounts with `READ_ONLY ADMIN`
/// still write), `super_read_only` too on MySQL.
pub fn read_only(flavor: Flavor, on: bool) -> Vec<String> {
    let v = u8::from(on);
    match (flavor, on) {
        (Flavor::MariaDb, _) => vec![format!("SET GLOBAL read_only = {v}")],
        (Flavor::MySql, true) => vec!["SET GLOBAL super_read_only = 1".into()],
        (Flavor::MySql, false) => vec![
            "SET GLOBAL super_read_only = 0".into(),
            "SET GLOBAL read_only = 0".into(),
        ],
    }
}

/// The statement waiting until the server has applied `gtid` (answers 0 when it has, -1 on
/// time-out).
pub fn wait_for(flavor: Flavor, gtid: &str, seconds: u64) -> String {
    match flavor {
        Flavor::MariaDb => format!("SELECT MASTER_GTID_WAIT({}, {seconds})", literal(gtid)),
        Flavor::MySql => format!(
            "SELECT WAIT_FOR_EXECUTED_GTID_SET({}, {seconds})",
            literal(gtid)
        ),
    }
}

/// The statement waiting until the replica has applied the primary's `file`:`offset`.
pub fn wait_for_file(flavor: Flavor, file: &str, offset: u64, seconds: u64) -> String {
    match flavor {
        Flavor::MariaDb => format!(
            "SELECT MASTER_POS_WAIT({}, {offset}, {seconds})",
            literal(file)
        ),
        Flavor::MySql => format!(
            "SELECT SOURCE_POS_WAIT({}, {offset}, {seconds})",
            literal(file)
        ),
    }
}

/// A replica's state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    /// The primary it replicates from (empty: none configured).
    pub primary: String,
    /// Its port.
    pub port: u16,
    /// The I/O thread runs (`Yes`), or connects (`Connecting`).
    pub io: String,
    /// The SQL thread runs.
    pub sql: bool,
    /// `Seconds_Behind_Master`, when known.
    pub seconds_behind: Option<u64>,
    /// The I/O thread's last error.
    pub io_error: String,
    /// The SQL thread's last error.
    pub sql_error: String,
}

impl Status {
    /// True when a primary is configured.
    pub fn configured(&self) -> bool {
        !self.primary.is_empty()
    }

    /// True when both threads run.
    pub fn running(&self) -> bool {
        self.io == "Yes" && self.sql
    }
}

/// The replica state of the server behind `a`.
pub async fn status(a: &mut Agent, flavor: Flavor) -> Result<Status, MysqlError> {
    let (query, host, port, io, sql, behind, io_err, sql_err) = match flavor {
        Flavor::MariaDb => (
            "SHOW SLAVE STATUS",
            "Master_Host",
            "Master_Port",
            "Slave_IO_Running",
            "Slave_SQL_Running",
            "Seconds_Behind_Master",
            "Last_IO_Error",
            "Last_SQL_Error",
        ),
        Flavor::MySql => (
            "SHOW REPLICA STATUS",
            "Source_Host",
            "Source_Port",
            "Replica_IO_Running",
            "Replica_SQL_Running",
            "Seconds_Behind_Source",
            "Last_IO_Error",
            "Last_SQL_Error",
        ),
    };
    let rows = a.named(query).await?;
    let Some(row) = rows.into_iter().next() else {
        return Ok(Status::default());
    };
    let field = |name: &str| -> String { row.get(name).cloned().flatten().unwrap_or_default() };
    Ok(Status {
        primary: field(host),
        port: field(port).parse().unwrap_or(0),
        io: field(io),
        sql: field(sql) == "Yes",
        seconds_behind: field(behind).parse().ok(),
        io_error: field(io_err),
        sql_error: field(sql_err),
    })
}

/// A GTID position by replication domain: `domain -> sequence number`.
pub fn gtid_seqs(pos: &str) -> BTreeMap<u32, u64> {
    pos.split(',')
        .filter_map(|g| {
            let mut parts = g.trim().split('-');
            let domain = parts.next()?.parse().ok()?;
            let _server: u32 = parts.next()?.parse().ok()?;
            let seq = parts.next()?.parse().ok()?;
            Some((domain, seq))
        })
        .collect()
}

/// Transactions in `primary` that `replica` has not applied (MariaDB GTID positions).
pub fn behind(primary: &str, replica: &str) -> u64 {
    let r = gtid_seqs(replica);
    gtid_seqs(primary)
        .into_iter()
        .map(|(d, seq)| seq.saturating_sub(r.get(&d).copied().unwrap_or(0)))
        .sum()
}

/// The server's current position (GTID and binary log file).
pub async fn position(a: &mut Agent, flavor: Flavor) -> Result<Position, MysqlError> {
    let status = match a.rows("SHOW MASTER STATUS").await {
        Ok(r) => r,
        Err(_) => a.rows("SHOW BINARY LOG STATUS").await?,
    };
    let mut p = Position::default();
    if let Some(r) = status.first() {
        p.file = r.first().cloned().flatten().unwrap_or_default();
        p.offset = r
            .get(1)
            .cloned()
            .flatten()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if flavor == Flavor::MySql {
            p.gtid = r
                .get(4)
                .cloned()
                .flatten()
                .unwrap_or_default()
                .replace('\n', "");
        }
    }
    if flavor == Flavor::MariaDb {
        p.gtid = a
            .value("SELECT @@GLOBAL.gtid_binlog_pos")
            .await?
            .unwrap_or_default();
    }
    Ok(p)
}

/// The flavor of the server behind `a`.
pub async fn flavor(a: &mut Agent) -> Result<Flavor, MysqlError> {
    Ok(Flavor::of(
        &a.value("SELECT VERSION()").await?.unwrap_or_default(),
    ))
}

/// The replica's failure as an error naming the thread and the server's own words.
pub fn broken(side: &str, s: &Status) -> Option<MysqlError> {
    if !s.sql_error.is_empty() {
        return Some(MysqlError::Failed {
            message: format!("replication on the {side} stopped applying changes: {}", s.sql_error),
            hint: Some("fix the cause on the target (a row changed there, a table missing), then `cutover apply` again; or roll back and copy again".into()),
            class: FailureClass::Failed,
        });
    }
    if s.io != "Yes" && !s.io_error.is_empty() {
        let auth = s.io_error.contains("Access denied");
        return Some(MysqlError::Failed {
            message: format!(
                "replication on the {side} cannot read from the source: {}",
                s.io_error
            ),
            hint: Some(if auth {
                "check the replication account's password (its secret) and that it may connect from the target host".into()
            } else {
                "can the target's server reach the source's at `source_address`? (a firewall, `bind-address`, `skip-networking`)".into()
            }),
            class: if auth {
                FailureClass::Auth
            } else {
                FailureClass::Unreachable
            },
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_transactions_behind_per_domain() {
        assert_eq!(behind("0-1-100,1-5-20", "0-1-90,1-5-20"), 10);
        assert_eq!(behind("0-1-100", ""), 100);
        assert_eq!(behind("0-1-100", "0-1-120"), 0);
        assert_eq!(gtid_seqs("0-1-5, 2-3-7"), BTreeMap::from([(0, 5), (2, 7)]));
    }

    #[test]
    fn the_replica_is_pointed_with_the_password_in_the_statement_only() {
        let p = Primary {
            address: "198.51.100.10".into(),
            port: 3306,
            user: "repl".into(),
            password: Some(SecretValue::new("r'pw".into())),
        };
        let s = point_at(Flavor::MariaDb, &p, &Start::Gtid("0-1-42".into()));
        assert_eq!(s[0], "SET GLOBAL gtid_slave_pos = '0-1-42'");
        assert_eq!(s[1], "CHANGE MASTER TO MASTER_HOST = '198.51.100.10', MASTER_PORT = 3306, MASTER_USER = 'repl', MASTER_PASSWORD = 'r''pw', MASTER_CONNECT_RETRY = 1, MASTER_USE_GTID = slave_pos");
        let s = point_at(
            Flavor::MariaDb,
            &p,
            &Start::File("binlog.000002".into(), 1234),
        );
        assert!(
            s[0].ends_with(
                "MASTER_LOG_FILE = 'binlog.000002', MASTER_LOG_POS = 1234, MASTER_USE_GTID = no"
            ),
            "{}",
            s[0]
        );
        assert_eq!(
            only(Flavor::MariaDb, &["shop".into(), "crm".into()]),
            "SET GLOBAL replicate_wild_do_table = 'shop.%,crm.%'"
        );
    }
}
