//! `sync`: the target replicates from the source, starting where the copy's snapshot was
//! taken (its GTID position on MariaDB), limited to the copied databases, the target kept
//! read-only meanwhile. A copy resumed from a later snapshot is caught up idempotently
//! (`slave_exec_mode = IDEMPOTENT` until the later position, replaying row images the target
//! may already hold). Lag is watched in seconds and in transactions.

use super::endpoint::Endpoint;
use super::error::MysqlError;
use super::flavor::Flavor;
use super::protocol::{MysqlReply, MysqlRequest, Position};
use super::replication::{self, Primary, Start};
use super::session::{open_pair, Agent};
use super::sql::literal;
pub use super::sync_watch::{lag, watch, Lag, SyncReport, Watch};
use crate::agent::AgentBinary;
use cutover_exec::{Executor, FailureClass};
use std::time::{Duration, Instant};

/// How a sync runs.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// The copied databases (only they are replicated).
    pub databases: Vec<String>,
    /// The source as the target's *server* reaches it, with the replication account.
    pub primary: Primary,
    /// Where replication starts: the copy's snapshot (its earliest, when resumed).
    pub start: Position,
    /// A resumed copy's latest snapshot: changes up to it are replayed idempotently.
    pub converge: Option<Position>,
    /// Tables without a primary key are replicated anyway (each change scans them).
    pub allow_no_primary_key: bool,
    /// The step is done once the target is at most this many transactions behind.
    pub max_behind: u64,
    /// Give up waiting for that after this long.
    pub timeout: Duration,
    /// The agent binary for remote hosts.
    pub agent: AgentBinary,
}

/// What the target was before the sync, restored by its undo and by the switch.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Previous {
    /// `read_only` was on.
    pub read_only: bool,
    /// `replicate_wild_do_table` (MariaDB).
    pub wild_do_table: String,
}

/// Checks that replication can work: the source's binary log in ROW format, distinct server
/// ids, tables with primary keys, the replication account reaching the source from the
/// target's host. Returns the source's flavor.
pub async fn preflight(
    s: &mut Agent,
    t: &mut Agent,
    o: &SyncOptions,
) -> Result<Flavor, MysqlError> {
    let flavor = replication::flavor(s).await?;
    let rows = s
        .named("SELECT @@GLOBAL.log_bin AS log_bin, @@GLOBAL.binlog_format AS format, @@GLOBAL.server_id AS id, @@GLOBAL.binlog_row_image AS image")
        .await?;
    let get = |k: &str| {
        rows.first()
            .and_then(|r| r.get(k).cloned().flatten())
            .unwrap_or_default()
    };
    let at = s.endpoint.describe();
    if get("log_bin") != "1" {
        return Err(MysqlError::precondition(
            format!("the source at {at} has its binary log off (log_bin = OFF): replication reads the binary log"),
            "turn it on in the source's configuration and restart it: `[mysqld]` `log_bin = mysql-bin`, `server_id = 1` (unique), `binlog_format = ROW`",
        ));
    }
    if get("format") != "ROW" {
        return Err(MysqlError::precondition(
            format!("the source at {at} logs in {} format: cutover replicates row images only (binlog_format = ROW)", get("format")),
            "run `SET GLOBAL binlog_format = 'ROW'` on the source, reconnect the application (sessions keep the format they started with), and set `binlog_format = ROW` in its configuration",
        ));
    }
    if o.converge.is_some() && get("image") != "FULL" {
        return Err(MysqlError::precondition(
            format!("the source at {at} logs {} row images, and the copy was resumed from a later snapshot: catching up replays whole rows (binlog_row_image = FULL)", get("image")),
            "run `SET GLOBAL binlog_row_image = 'FULL'` on the source, or roll the copy back and copy again in one go",
        ));
    }
    let target_id = t
        .value("SELECT @@GLOBAL.server_id")
        .await?
        .unwrap_or_default();
    if target_id == get("id") {
        return Err(MysqlError::precondition(
            format!("the source and the target both have server_id = {target_id}: a replica ignores changes carrying its own id"),
            "give the target another `server_id` (`SET GLOBAL server_id = 2`, and in its configuration)",
        ));
    }
    if !o.allow_no_primary_key {
        no_primary_key(s, &o.databases).await?;
    }
    if o.start.file.is_empty() {
        return Err(MysqlError::precondition(
            "the copy was taken while the source's binary log was off: the writes made since are in no binary log, so replication cannot start from the copy",
            "roll the copy back (`cutover rollback`) and apply again now that the binary log is on",
        ));
    }
    reach(t, &o.primary).await?;
    Ok(flavor)
}

/// Tables without a primary key, refused with the fix.
async fn no_primary_key(s: &mut Agent, databases: &[String]) -> Result<(), MysqlError> {
    let list = databases
        .iter()
        .map(|d| literal(d))
        .collect::<Vec<_>>()
        .join(", ");
    let rows = s
        .rows(&format!(
            "SELECT CONCAT(t.TABLE_SCHEMA, '.', t.TABLE_NAME) FROM information_schema.TABLES t \
             WHERE t.TABLE_SCHEMA IN ({list}) AND t.TABLE_TYPE = 'BASE TABLE' AND NOT EXISTS (\
             SELECT 1 FROM information_schema.TABLE_CONSTRAINTS c WHERE c.TABLE_SCHEMA = t.TABLE_SCHEMA \
             AND c.TABLE_NAME = t.TABLE_NAME AND c.CONSTRAINT_TYPE = 'PRIMARY KEY') ORDER BY 1"
        ))
        .await?;
    let names: Vec<String> = rows
        .into_iter()
        .filter_map(|r| r.into_iter().next().flatten())
        .collect();
    if names.is_empty() {
        return Ok(());
    }
    Err(MysqlError::precondition(
        format!("table(s) without a primary key on the source: {}: the target would scan the whole table for each row changed", names.join(", ")),
        "add a primary key to each (`ALTER TABLE ... ADD PRIMARY KEY (...)`, or an invisible `id` column), or set `allow_no_primary_key = true` on the step",
    ))
}

/// The replication account, from the target's host, at the address its server will use.
async fn reach(t: &mut Agent, p: &Primary) -> Result<(), MysqlError> {
    let server = super::protocol::Conn {
        address: p.address.clone(),
        port: p.port,
        socket: None,
        user: p.user.clone(),
        password: p.password.as_ref().map(|x| x.expose().to_string()),
    };
    let request = MysqlRequest::Sql {
        server,
        session: "reach".into(),
        statements: vec!["SHOW GRANTS".into()],
        ignore: Vec::new(),
    };
    let grants = match t.call(request, &mut |_, _| {}).await {
        Ok(MysqlReply::Results { results, .. }) => results.concat(),
        Ok(other) => return Err(t.unexpected(&other)),
        Err(MysqlError::Failed { message, class, .. }) => {
            return Err(MysqlError::Failed {
                message: format!("the replication account `{}` cannot log in to the source at {}:{} from the target's host: {message}", p.user, p.address, p.port),
                hint: Some(if class == FailureClass::Auth {
                    format!("create it on the source: CREATE USER '{}'@'%' IDENTIFIED BY '...'; GRANT REPLICATION SLAVE ON *.* TO '{}'@'%'; and check its secret", p.user, p.user)
                } else {
                    "`source_address` is how the target's server reaches the source's: check it, the source's bind-address and firewalls".into()
                }),
                class,
            })
        }
        Err(e) => return Err(e),
    };
    let _ = t
        .send(MysqlRequest::Close {
            server: super::protocol::Conn {
                address: p.address.clone(),
                port: p.port,
                socket: None,
                user: p.user.clone(),
                password: None,
            },
            session: "reach".into(),
        })
        .await;
    let _ = t.recv().await;
    let text = grants
        .iter()
        .flatten()
        .flatten()
        .map(|g| g.to_uppercase())
        .collect::<Vec<_>>()
        .join("\n");
    if ["REPLICATION SLAVE", "REPLICATION REPLICA", "ALL PRIVILEGES"]
        .iter()
        .any(|g| text.contains(g))
    {
        return Ok(());
    }
    Err(MysqlError::Failed {
        message: format!("the replication account `{}` may not replicate (no REPLICATION SLAVE grant on the source)", p.user),
        hint: Some(format!("run on the source: GRANT REPLICATION SLAVE ON *.* TO '{}'@'%'", p.user)),
        class: FailureClass::Permission,
    })
}

/// Starts replication on the target (or, when it already replicates from the source, makes
/// sure it runs: its position is never reset); `previous` gets what the target was before
/// anything changes there (journal it: the undo puts it back).
pub async fn start(
    exec: &Executor,
    source: &Endpoint,
    target: &Endpoint,
    o: &SyncOptions,
    previous: &(dyn Fn(&Previous) + Send + Sync),
    progress: &(dyn Fn(String) + Send + Sync),
) -> Result<Previous, MysqlError> {
    let (mut s, mut t) = open_pair(exec, &o.agent, source, target).await?;
    if let Some(pw) = &o.primary.password {
        t.hide("replication_password", pw);
    }
    let result = start_with(&mut s, &mut t, o, previous, progress).await;
    tokio::join!(s.close(), t.close());
    result
}

async fn start_with(
    s: &mut Agent,
    t: &mut Agent,
    o: &SyncOptions,
    on_previous: &(dyn Fn(&Previous) + Send + Sync),
    progress: &(dyn Fn(String) + Send + Sync),
) -> Result<Previous, MysqlError> {
    let flavor = preflight(s, t, o).await?;
    let current = replication::status(t, flavor).await?;
    if current.configured()
        && (current.primary != o.primary.address || current.port != o.primary.port)
    {
        return Err(MysqlError::precondition(
            format!("the target already replicates from {}:{}", current.primary, current.port),
            "stop that replication first (`STOP SLAVE; RESET SLAVE ALL`) if it is not needed, or use another target",
        ));
    }
    let previous = Previous {
        read_only: t.value("SELECT @@GLOBAL.read_only").await?.as_deref() == Some("1"),
        wild_do_table: t
            .value("SELECT @@GLOBAL.replicate_wild_do_table")
            .await
            .ok()
            .flatten()
            .unwrap_or_default(),
    };
    on_previous(&previous);
    if current.configured() {
        // An earlier attempt set it up: its position stands (setting it again would replay).
        if let Some(e) = replication::broken("target", &current) {
            return Err(e);
        }
        if !current.running() {
            t.run(&[replication::start(flavor)]).await?;
        }
        progress(format!(
            "target already replicates from {}:{}",
            current.primary, current.port
        ));
        if let Some(later) = &o.converge {
            converge(t, flavor, later, o.timeout, progress).await?;
        }
        return Ok(previous);
    }
    let start = Start::from(&o.start, flavor);
    let mut statements: Vec<String> = vec![replication::stop(flavor).into()];
    statements.extend(replication::read_only(flavor, true));
    statements.push(replication::only(flavor, &o.databases));
    statements.extend(replication::point_at(flavor, &o.primary, &start));
    if o.converge.is_some() {
        statements.push("SET GLOBAL slave_exec_mode = 'IDEMPOTENT'".into());
    }
    statements.push(replication::start(flavor).into());
    let refs: Vec<&str> = statements.iter().map(String::as_str).collect();
    t.run(&refs).await?;
    progress(format!(
        "target replicates from {}:{} from {}",
        o.primary.address,
        o.primary.port,
        o.start.describe()
    ));
    if let Some(later) = &o.converge {
        converge(t, flavor, later, o.timeout, progress).await?;
    }
    Ok(previous)
}

/// Replays idempotently up to `later`, then strictly again.
async fn converge(
    t: &mut Agent,
    flavor: Flavor,
    later: &Position,
    timeout: Duration,
    progress: &(dyn Fn(String) + Send + Sync),
) -> Result<(), MysqlError> {
    progress(format!(
        "replaying idempotently up to the resumed copy's snapshot at {}",
        later.describe()
    ));
    let started = Instant::now();
    loop {
        let done = t
            .value(&replication::wait_for(flavor, &later.gtid, 5))
            .await?;
        if done.as_deref() == Some("0") {
            break;
        }
        let status = replication::status(t, flavor).await?;
        if let Some(e) = replication::broken("target", &status) {
            return Err(e);
        }
        if started.elapsed() > timeout {
            return Err(MysqlError::failed(format!(
                "the target did not reach the resumed copy's snapshot ({}) within {}s",
                later.describe(),
                timeout.as_secs()
            )));
        }
    }
    t.run(&[
        "STOP SLAVE SQL_THREAD",
        "SET GLOBAL slave_exec_mode = 'STRICT'",
        "START SLAVE SQL_THREAD",
    ])
    .await
}

/// Stops replication on the target and puts back what the sync changed there (`previous`
/// when the journal has it, else: writable, no filter). The copied data stays (the copy's
/// undo removes it).
pub async fn undo(
    exec: &Executor,
    target: &Endpoint,
    previous: Option<&Previous>,
    agent: &AgentBinary,
) -> Result<String, MysqlError> {
    let mut t = Agent::open(exec, agent, target, "target").await?;
    let result = async {
        let flavor = replication::flavor(&mut t).await?;
        let status = replication::status(&mut t, flavor).await?;
        let default = Previous::default();
        let p = previous.unwrap_or(&default);
        let mut statements: Vec<String> = Vec::new();
        if status.configured() {
            statements.push(replication::stop(flavor).into());
            statements.push(replication::reset(flavor).into());
        }
        if flavor == Flavor::MariaDb {
            statements.push(format!(
                "SET GLOBAL replicate_wild_do_table = {}",
                literal(&p.wild_do_table)
            ));
            statements.push("SET GLOBAL slave_exec_mode = 'STRICT'".into());
        }
        statements.extend(replication::read_only(flavor, p.read_only));
        let refs: Vec<&str> = statements.iter().map(String::as_str).collect();
        t.run(&refs).await?;
        Ok(if status.configured() {
            format!(
                "replication from {}:{} stopped and removed on the target",
                status.primary, status.port
            )
        } else {
            "the target did not replicate (nothing to stop)".to_string()
        })
    }
    .await;
    t.close().await;
    result
}
