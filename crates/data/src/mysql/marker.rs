//! The copy's completion marker, kept on the target server itself so that it outlives the
//! journal: a run with a fresh journal (another controller, the journal lost) finds a
//! finished copy in place instead of copying again into databases that are no longer empty,
//! and its sync finds where replication starts.
//!
//! It is one row per copy in the table `cutover`.`copies` on the target, keyed by the copied
//! databases, naming the source and the binary-log/GTID position the copy was consistent at.
//! A table in a database of cutover's own rather than a database comment: MySQL has no
//! database comments, MariaDB's would replace the one the copy brought from the source, and
//! a copy of several databases has no one database to mark. Every write skips the target's
//! binary log (`sql_log_bin = 0`): the marker is never replicated (nor is it in the copied
//! databases a sync filters on) and takes no GTID on the server that becomes the primary.
//! The copy's undo and `mysql.finish` remove the row, and the database with its last row.

use super::error::MysqlError;
use super::protocol::Position;
use super::session::Agent;
use super::sql::{ident, literal, qualified};
use super::Endpoint;
use crate::agent::AgentBinary;
use cutover_exec::Executor;
use serde::{Deserialize, Serialize};

/// The database cutover keeps its markers in on the target.
pub const DATABASE: &str = "cutover";

/// Its table of finished copies.
const TABLE: &str = "copies";

/// What a finished copy left on its target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopyMarker {
    /// The source it was copied from ([`Endpoint::describe`]).
    pub source: String,
    /// Where replication from the source starts (the copy's earliest snapshot used);
    /// `None` when no table was loaded.
    pub start: Option<Position>,
    /// A resumed copy's latest snapshot: a sync replays idempotently up to it.
    pub converge: Option<Position>,
}

/// The marker's key: the copied databases, in the step's order.
fn key(databases: &[String]) -> String {
    databases.join("\n")
}

/// Records that the copy of `databases` into `target` finished (replacing an older marker of
/// the same databases).
pub async fn record(
    exec: &Executor,
    target: &Endpoint,
    agent: &AgentBinary,
    databases: &[String],
    marker: &CopyMarker,
) -> Result<(), MysqlError> {
    let body = serde_json::to_string(marker)
        .map_err(|e| MysqlError::failed(format!("the copy marker cannot be written: {e}")))?;
    let table = qualified(DATABASE, TABLE);
    let k = literal(&key(databases));
    let statements = [
        "SET SESSION sql_log_bin = 0".to_string(),
        format!("CREATE DATABASE IF NOT EXISTS {}", ident(DATABASE)),
        format!("CREATE TABLE IF NOT EXISTS {table} (databases_copied TEXT NOT NULL, marker TEXT NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"),
        format!("DELETE FROM {table} WHERE databases_copied = {k}"),
        format!("INSERT INTO {table} VALUES ({k}, {})", literal(&body)),
        "SET SESSION sql_log_bin = 1".to_string(),
    ];
    let refs: Vec<&str> = statements.iter().map(String::as_str).collect();
    let mut t = Agent::open(exec, agent, target, "target").await?;
    let result = t.run(&refs).await;
    t.close().await;
    result
}

/// The marker of the copy of `databases` on `target`, if one finished there.
pub async fn read(
    exec: &Executor,
    target: &Endpoint,
    agent: &AgentBinary,
    databases: &[String],
) -> Result<Option<CopyMarker>, MysqlError> {
    let mut t = Agent::open(exec, agent, target, "target").await?;
    let result = read_with(&mut t, databases).await;
    t.close().await;
    result
}

async fn read_with(t: &mut Agent, databases: &[String]) -> Result<Option<CopyMarker>, MysqlError> {
    let exists = t
        .value(&format!(
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = {} AND TABLE_NAME = {}",
            literal(DATABASE),
            literal(TABLE)
        ))
        .await?;
    if exists.as_deref() != Some("1") {
        return Ok(None);
    }
    let body = t
        .value(&format!(
            "SELECT marker FROM {} WHERE databases_copied = {} LIMIT 1",
            qualified(DATABASE, TABLE),
            literal(&key(databases))
        ))
        .await?;
    let at = t.endpoint.describe();
    body.map(|b| parse(&b, &at)).transpose()
}

/// Removes the marker of the copy of `databases` (and cutover's database once it holds no
/// other); true when there was one.
pub async fn remove(
    exec: &Executor,
    target: &Endpoint,
    agent: &AgentBinary,
    databases: &[String],
) -> Result<bool, MysqlError> {
    let mut t = Agent::open(exec, agent, target, "target").await?;
    let result = remove_with(&mut t, databases).await;
    t.close().await;
    result
}

async fn remove_with(t: &mut Agent, databases: &[String]) -> Result<bool, MysqlError> {
    if read_with(t, databases).await?.is_none() {
        return Ok(false);
    }
    let table = qualified(DATABASE, TABLE);
    t.run(&[
        "SET SESSION sql_log_bin = 0",
        &format!(
            "DELETE FROM {table} WHERE databases_copied = {}",
            literal(&key(databases))
        ),
        "SET SESSION sql_log_bin = 1",
    ])
    .await?;
    let left = t.value(&format!("SELECT COUNT(*) FROM {table}")).await?;
    if left.as_deref() == Some("0") {
        t.run(&[
            "SET SESSION sql_log_bin = 0",
            &format!("DROP DATABASE IF EXISTS {}", ident(DATABASE)),
            "SET SESSION sql_log_bin = 1",
        ])
        .await?;
    }
    Ok(true)
}

/// A marker's text, refused with where it is when it is not one cutover wrote.
fn parse(body: &str, at: &str) -> Result<CopyMarker, MysqlError> {
    serde_json::from_str(body).map_err(|e| {
        MysqlError::precondition(
            format!("the copy marker in `{DATABASE}`.`{TABLE}` on the target at {at} is unreadable: {e}"),
            format!("cutover keeps only its own markers there: drop the database `{DATABASE}` on the target if nothing else uses it, and apply again"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_round_trips_and_a_foreign_one_is_refused_with_where_it_is() {
        let m = CopyMarker {
            source: "root@10.0.0.1:3306 (agent on host `old`)".into(),
            start: Some(Position {
                gtid: "0-1-42".into(),
                file: "mysql-bin.000002".into(),
                offset: 1234,
            }),
            converge: None,
        };
        let text = serde_json::to_string(&m).expect("json");
        assert_eq!(parse(&text, "new").expect("parse"), m);
        let e = parse("hello", "root@127.0.0.1:3306").expect_err("foreign");
        assert!(
            e.to_string()
                .starts_with("the copy marker in `cutover`.`copies` on the target at root@127.0.0.1:3306 is unreadable: "),
            "{e}"
        );
    }
}
