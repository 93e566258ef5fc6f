//! `switch`: the target of a sync becomes the primary. Writes are frozen on the source
//! (`read_only`, its client sessions ended as the plan says, or the plan's own command), the
//! target waits for the source's last GTID (`MASTER_GTID_WAIT`), replication is stopped, the
//! auto-increment counters the target is behind are advanced, and the target is made
//! writable; the freeze window is measured. Optionally the source then replicates from the
//! target (reverse), so a rollback loses nothing written on the target.
//!
//! Every step can be cut off and run again: the target's position at promotion is reported
//! ([`SwitchEvent::Promoting`]) before the target takes writes, so a resumed switch sets the
//! reverse replication up from there, and [`undo`] finds where an attempt stopped from the
//! servers' own state.

use super::endpoint::Endpoint;
use super::error::MysqlError;
use super::flavor::Flavor;
use super::protocol::Position;
use super::replication::{self, Primary, Start, Status};
use super::session::{open_pair, Agent};
use super::sql::{literal, qualified};
use super::sync::Previous;
use crate::agent::AgentBinary;
use cutover_exec::{Command, Executor};
use std::time::{Duration, Instant};

/// How writes are frozen on the source.
#[derive(Debug, Clone)]
pub enum Freeze {
    /// `read_only = 1` (MySQL: `super_read_only`): accounts with `READ_ONLY ADMIN` (MariaDB)
    /// or `SUPER` (MySQL without super_read_only) could still write.
    ReadOnly,
    /// The plan's commands (stop the application, put it in maintenance...), `read_only` too.
    Command {
        /// Run before the freeze.
        freeze: Box<Command>,
        /// Run once the target takes writes (or on undo).
        unfreeze: Option<Box<Command>>,
    },
}

/// What happens to the source's client sessions at the freeze.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sessions {
    /// Ended (`KILL CONNECTION`), so no session holds a transaction open across the switch
    /// and clients reconnect (to the new server, once they are pointed at it).
    Kill,
    /// Left alone (their writes fail while read-only).
    Keep,
}

/// How a switch runs.
#[derive(Debug, Clone)]
pub struct SwitchOptions {
    /// The replicated databases.
    pub databases: Vec<String>,
    /// How writes are frozen.
    pub freeze: Freeze,
    /// The source's sessions.
    pub sessions: Sessions,
    /// The longest the target may take to catch up (then the freeze is lifted).
    pub max_wait: Duration,
    /// The target as the source's *server* reaches it, with the replication account: the
    /// source then replicates from the target.
    pub reverse: Option<Primary>,
    /// The source as the target's *server* reaches it, with the replication account (the
    /// sync's): a rollback after the promotion that carried the target's writes back points
    /// the target at the source again, so that the sync runs on and the switch can be made
    /// again (a coordinated move rolled back by a soak, then applied again).
    pub forward: Option<Primary>,
    /// What the sync changed on the target (its filter is put back).
    pub previous: Option<Previous>,
    /// The target's position at promotion, reported by an earlier attempt.
    pub promoted: Option<Position>,
    /// The agent binary for remote hosts.
    pub agent: AgentBinary,
}

/// What a switch reports as it goes.
#[derive(Debug, Clone)]
pub enum SwitchEvent {
    /// The target is about to take writes at this position of its binary log (journal it:
    /// the reverse replication starts there).
    Promoting(Position),
    /// A line of progress.
    Note(String),
}

/// What a switch did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SwitchReport {
    /// Seconds from the freeze to the target taking writes.
    pub freeze_window: f64,
    /// When the freeze began (unix ms; 0 for a resumed switch, whose freeze is not known).
    pub frozen_from_ms: i64,
    /// Seconds the target took to reach the source's last position.
    pub catch_up: f64,
    /// The source's last position.
    pub position: String,
    /// Client sessions ended on the source.
    pub sessions_ended: usize,
    /// Auto-increment counters advanced on the target.
    pub counters: usize,
    /// Events enabled on the target.
    pub events: usize,
    /// The source replicates from the target.
    pub reverse: bool,
    /// An earlier attempt had already made the target the primary.
    pub resumed: bool,
}

/// Makes the target the primary.
pub async fn switch(
    exec: &Executor,
    source: &Endpoint,
    target: &Endpoint,
    o: &SwitchOptions,
    events: &(dyn Fn(SwitchEvent) + Send + Sync),
) -> Result<SwitchReport, MysqlError> {
    let (mut s, mut t) = open_pair(exec, &o.agent, source, target).await?;
    if let Some(pw) = o.reverse.as_ref().and_then(|r| r.password.as_ref()) {
        s.hide("replication_password", pw);
    }
    let result = run(exec, &mut s, &mut t, o, events).await;
    tokio::join!(s.close(), t.close());
    result
}

pub(super) async fn read_only(a: &mut Agent) -> Result<bool, MysqlError> {
    Ok(a.value("SELECT @@GLOBAL.read_only").await?.as_deref() == Some("1"))
}

async fn run(
    exec: &Executor,
    s: &mut Agent,
    t: &mut Agent,
    o: &SwitchOptions,
    events: &(dyn Fn(SwitchEvent) + Send + Sync),
) -> Result<SwitchReport, MysqlError> {
    let flavor = replication::flavor(s).await?;
    let status = replication::status(t, flavor).await?;
    if !status.configured() {
        // Promoted by an attempt that was cut off, or there was never a sync.
        if read_only(s).await? && o.promoted.is_some() {
            let mut report = SwitchReport {
                resumed: true,
                ..SwitchReport::default()
            };
            finish(exec, s, t, o, flavor, &mut report).await?;
            return Ok(report);
        }
        return Err(MysqlError::precondition(
            "the target does not replicate from the source: there is nothing to switch",
            "run the mysql.sync step first (`cutover apply`), or roll back",
        ));
    }
    if let Some(e) = replication::broken("target", &status) {
        return Err(e);
    }
    let mut report = SwitchReport::default();
    if status.running() {
        let (took, caught) = close_in(s, t, o, flavor).await?;
        events(SwitchEvent::Note(if caught {
            format!(
                "before the freeze, the target caught up with the source's writes in {took:.3}s"
            )
        } else {
            format!("before the freeze, the target did not catch up within {took:.0}s (max_wait): it catches up inside the freeze")
        }));
    }
    let frozen_at = Instant::now();
    report.frozen_from_ms = crate::unix_ms();
    freeze(exec, s, o, flavor, &mut report).await?;
    events(SwitchEvent::Note(format!(
        "source frozen; {} session(s) ended",
        report.sessions_ended
    )));
    let caught = catch_up(s, t, o, flavor, &status, &mut report).await;
    if let Err(e) = caught {
        // Writes go back to the source: the switch did not happen.
        let thawed = thaw(exec, s, o, flavor).await;
        return Err(match thawed {
            Ok(()) => e,
            Err(t) => MysqlError::failed(format!("{e}\nand lifting the freeze failed too: {t}")),
        });
    }
    t.run(&[replication::stop(flavor)]).await?;
    let promoted = match &o.promoted {
        Some(p) => p.clone(),
        None => replication::position(t, flavor).await?,
    };
    events(SwitchEvent::Promoting(promoted.clone()));
    report.counters = counters(s, t, &o.databases).await?;
    let writable: Vec<String> = replication::read_only(flavor, false);
    let refs: Vec<&str> = writable.iter().map(String::as_str).collect();
    t.run(&refs).await?;
    report.freeze_window = frozen_at.elapsed().as_secs_f64();
    let o = SwitchOptions {
        promoted: Some(promoted),
        ..o.clone()
    };
    finish(exec, s, t, &o, flavor, &mut report).await?;
    Ok(report)
}

/// Freezes writes on the source and ends its client sessions as asked.
async fn freeze(
    exec: &Executor,
    s: &mut Agent,
    o: &SwitchOptions,
    flavor: Flavor,
    report: &mut SwitchReport,
) -> Result<(), MysqlError> {
    if let Freeze::Command { freeze, .. } = &o.freeze {
        run_command(exec, freeze, "freeze_command").await?;
    }
    let statements = replication::read_only(flavor, true);
    let refs: Vec<&str> = statements.iter().map(String::as_str).collect();
    s.run(&refs).await?;
    if o.sessions == Sessions::Kill {
        let ids = s
            .rows(
                "SELECT ID FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() \
                 AND COMMAND NOT IN ('Binlog Dump', 'Binlog Dump GTID', 'Daemon', 'Slave_IO', 'Slave_SQL', 'Slave_worker', 'Killed') \
                 AND USER NOT IN ('system user', 'event_scheduler')",
            )
            .await?;
        let kills: Vec<String> = ids
            .into_iter()
            .filter_map(|r| r.into_iter().next().flatten())
            .filter(|id| id.chars().all(|c| c.is_ascii_digit()))
            .map(|id| format!("KILL CONNECTION {id}"))
            .collect();
        report.sessions_ended = kills.len();
        if !kills.is_empty() {
            // 1094: the session ended by itself meanwhile.
            s.run_ignoring(&kills, &[1094]).await?;
        }
    }
    Ok(())
}

async fn run_command(exec: &Executor, c: &Command, field: &str) -> Result<(), MysqlError> {
    let out = exec
        .run(c)
        .await
        .map_err(|e| MysqlError::failed(format!("{field}: {e}")))?;
    if !out.success() {
        return Err(MysqlError::failed(format!(
            "{field} on host `{}` failed (exit {}): {}",
            c.host,
            out.code.unwrap_or(-1),
            out.stderr.trim()
        )));
    }
    Ok(())
}

/// Lifts the freeze (undo of [`freeze`]).
async fn thaw(
    exec: &Executor,
    s: &mut Agent,
    o: &SwitchOptions,
    flavor: Flavor,
) -> Result<(), MysqlError> {
    let statements = replication::read_only(flavor, false);
    let refs: Vec<&str> = statements.iter().map(String::as_str).collect();
    s.run(&refs).await?;
    if let Freeze::Command {
        unfreeze: Some(c), ..
    } = &o.freeze
    {
        run_command(exec, c, "unfreeze_command").await?;
    }
    Ok(())
}

/// Waits until the target has applied the frozen source's last position.
async fn catch_up(
    s: &mut Agent,
    t: &mut Agent,
    o: &SwitchOptions,
    flavor: Flavor,
    status: &Status,
    report: &mut SwitchReport,
) -> Result<(), MysqlError> {
    if !status.running() {
        t.run(&[replication::start(flavor)]).await?;
    }
    let position = replication::position(s, flavor).await?;
    report.position = position.describe();
    let started = Instant::now();
    let secs = o.max_wait.as_secs().max(1);
    let reached = reaches(t, flavor, &position, secs).await?;
    report.catch_up = started.elapsed().as_secs_f64();
    match reached {
        true => Ok(()),
        false => {
            let status = replication::status(t, flavor).await?;
            if let Some(e) = replication::broken("target", &status) {
                return Err(e);
            }
            Err(MysqlError::failed(format!(
                "the target did not reach the source's position {} within {secs}s (max_wait); the source takes writes again",
                report.position
            )))
        }
    }
}

/// Whether the target reaches `position` of the source's binary log within `secs`.
async fn reaches(
    t: &mut Agent,
    flavor: Flavor,
    position: &Position,
    secs: u64,
) -> Result<bool, MysqlError> {
    let wait = match Start::from(position, flavor) {
        Start::Gtid(g) => replication::wait_for(flavor, &g, secs),
        Start::File(f, off) => replication::wait_for_file(flavor, &f, off, secs),
    };
    let answer = t.value(&wait).await?;
    Ok(answer
        .as_deref()
        .is_some_and(|v| v.parse::<i64>().is_ok_and(|n| n >= 0)))
}

/// Before the freeze, lets the target apply what the source has written so far (writes go
/// on meanwhile), so that the catch-up inside the freeze covers only the last moment's
/// writes, not the replication lag the load built up. Bounded by `max_wait`: a target that
/// cannot get that close is switched anyway, its catch-up then inside the freeze as before.
/// Returns the seconds it took and whether the target got there.
async fn close_in(
    s: &mut Agent,
    t: &mut Agent,
    o: &SwitchOptions,
    flavor: Flavor,
) -> Result<(f64, bool), MysqlError> {
    let started = Instant::now();
    let position = replication::position(s, flavor).await?;
    let reached = reaches(t, flavor, &position, o.max_wait.as_secs().max(1)).await?;
    Ok((started.elapsed().as_secs_f64(), reached))
}

/// Advances each auto-increment counter the target has behind the source's.
async fn counters(s: &mut Agent, t: &mut Agent, databases: &[String]) -> Result<usize, MysqlError> {
    let list = databases
        .iter()
        .map(|d| literal(d))
        .collect::<Vec<_>>()
        .join(", ");
    let q = format!(
        "SELECT TABLE_SCHEMA, TABLE_NAME, AUTO_INCREMENT FROM information_schema.TABLES \
         WHERE TABLE_SCHEMA IN ({list}) AND AUTO_INCREMENT IS NOT NULL"
    );
    let (a, b) = tokio::join!(s.rows(&q), t.rows(&q));
    let (a, b) = (a?, b?);
    let value = |r: &Vec<Option<String>>, i: usize| r.get(i).cloned().flatten().unwrap_or_default();
    let mut alters = Vec::new();
    for r in &a {
        let next: u64 = value(r, 2).parse().unwrap_or(0);
        let theirs = b
            .iter()
            .find(|x| value(x, 0) == value(r, 0) && value(x, 1) == value(r, 1))
            .and_then(|x| value(x, 2).parse::<u64>().ok());
        if theirs.is_some_and(|n| n < next) {
            alters.push(format!(
                "ALTER TABLE {} AUTO_INCREMENT = {next}",
                qualified(&value(r, 0), &value(r, 1))
            ));
        }
    }
    if !alters.is_empty() {
        let refs: Vec<&str> = alters.iter().map(String::as_str).collect();
        t.run(&refs).await?;
    }
    Ok(alters.len())
}

/// After promotion: the sync's settings put back, events enabled, the reverse set up, the
/// plan's unfreeze command run. Each part can run again.
async fn finish(
    exec: &Executor,
    s: &mut Agent,
    t: &mut Agent,
    o: &SwitchOptions,
    flavor: Flavor,
    report: &mut SwitchReport,
) -> Result<(), MysqlError> {
    let mut statements: Vec<String> = vec![replication::reset(flavor).into()];
    statements.extend(replication::read_only(flavor, false));
    if flavor == Flavor::MariaDb {
        let filter = o
            .previous
            .as_ref()
            .map(|p| p.wild_do_table.clone())
            .unwrap_or_default();
        statements.push(format!(
            "SET GLOBAL replicate_wild_do_table = {}",
            literal(&filter)
        ));
        statements.push("SET GLOBAL slave_exec_mode = 'STRICT'".into());
    }
    let refs: Vec<&str> = statements.iter().map(String::as_str).collect();
    t.run(&refs).await?;
    report.events = enable_events(t, &o.databases).await?;
    if let (Some(primary), Some(at)) = (&o.reverse, &o.promoted) {
        let already = replication::status(s, flavor).await?;
        if !already.configured() {
            let mut statements: Vec<String> = vec![replication::stop(flavor).into()];
            statements.extend(replication::point_at(
                flavor,
                primary,
                &Start::File(at.file.clone(), at.offset),
            ));
            statements.push(replication::start(flavor).into());
            let refs: Vec<&str> = statements.iter().map(String::as_str).collect();
            s.run(&refs).await?;
        }
        report.reverse = true;
    }
    if let Freeze::Command {
        unfreeze: Some(c), ..
    } = &o.freeze
    {
        run_command(exec, c, "unfreeze_command").await?;
    }
    Ok(())
}

/// Events the copy created `DISABLE ON SLAVE` are enabled on the new primary.
async fn enable_events(t: &mut Agent, databases: &[String]) -> Result<usize, MysqlError> {
    let list = databases
        .iter()
        .map(|d| literal(d))
        .collect::<Vec<_>>()
        .join(", ");
    let rows = t
        .rows(&format!(
            "SELECT EVENT_SCHEMA, EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA IN ({list}) AND STATUS = 'SLAVESIDE_DISABLED'"
        ))
        .await?;
    let alters: Vec<String> = rows
        .iter()
        .map(|r| {
            let v = |i: usize| r.get(i).cloned().flatten().unwrap_or_default();
            format!("ALTER EVENT {} ENABLE", qualified(&v(0), &v(1)))
        })
        .collect();
    if !alters.is_empty() {
        let refs: Vec<&str> = alters.iter().map(String::as_str).collect();
        t.run(&refs).await?;
    }
    Ok(alters.len())
}

/// True when the target is the primary and the source frozen: the switch is done.
pub async fn is_switched(
    exec: &Executor,
    source: &Endpoint,
    target: &Endpoint,
    agent: &AgentBinary,
) -> Result<bool, MysqlError> {
    let (mut s, mut t) = open_pair(exec, agent, source, target).await?;
    let result = async {
        let flavor = replication::flavor(&mut t).await?;
        let status = replication::status(&mut t, flavor).await?;
        Ok(!status.configured() && !read_only(&mut t).await? && read_only(&mut s).await?)
    }
    .await;
    tokio::join!(s.close(), t.close());
    result
}

/// Gives writes back to the source, wherever an attempt stopped: before promotion the freeze
/// is lifted (the target keeps replicating); after it, with reverse replication, the target
/// is frozen, the source catches up with it and stops replicating; without, the target is
/// made read-only and what was written on it stays there only.
pub async fn undo(
    exec: &Executor,
    source: &Endpoint,
    target: &Endpoint,
    o: &SwitchOptions,
) -> Result<String, MysqlError> {
    let (mut s, mut t) = open_pair(exec, &o.agent, source, target).await?;
    let result = undo_with(exec, &mut s, &mut t, o).await;
    tokio::join!(s.close(), t.close());
    result
}

async fn undo_with(
    exec: &Executor,
    s: &mut Agent,
    t: &mut Agent,
    o: &SwitchOptions,
) -> Result<String, MysqlError> {
    let flavor = replication::flavor(s).await?;
    let forward = replication::status(t, flavor).await?;
    if forward.configured() {
        if !forward.running() && forward.sql_error.is_empty() {
            t.run(&[replication::start(flavor)]).await?;
        }
        thaw(exec, s, o, flavor).await?;
        return Ok("the source takes writes again; the target still replicates from it".into());
    }
    let back = replication::status(s, flavor).await?;
    let frozen = replication::read_only(flavor, true);
    let refs: Vec<&str> = frozen.iter().map(String::as_str).collect();
    t.run(&refs).await?;
    let message = if back.configured() {
        let at = replication::position(t, flavor).await?;
        let secs = o.max_wait.as_secs().max(1);
        let answer = s
            .value(&replication::wait_for_file(
                flavor, &at.file, at.offset, secs,
            ))
            .await?;
        if !answer
            .as_deref()
            .is_some_and(|v| v.parse::<i64>().is_ok_and(|n| n >= 0))
        {
            return Err(MysqlError::failed(format!(
                "the source did not catch up with the target's writes ({}) within {secs}s; the target stays read-only, the source frozen: run `cutover rollback` again",
                at.describe()
            )));
        }
        s.run(&[replication::stop(flavor), replication::reset(flavor)])
            .await?;
        match &o.forward {
            Some(primary) => {
                // The source is still frozen: its position now is where both servers agree.
                let at = replication::position(s, flavor).await?;
                let mut statements: Vec<String> = vec![replication::stop(flavor).into()];
                statements.push(replication::only(flavor, &o.databases));
                statements.extend(replication::point_at(
                    flavor,
                    primary,
                    &Start::File(at.file.clone(), at.offset),
                ));
                statements.push(replication::start(flavor).into());
                let refs: Vec<&str> = statements.iter().map(String::as_str).collect();
                t.run(&refs).await?;
                "writes made on the target flowed back; the source takes writes again; the target is read-only and replicates from it again (the switch can be made again)"
            }
            None => "writes made on the target flowed back; the source takes writes again; the target is read-only",
        }
    } else {
        "the source takes writes again; the target is read-only (without reverse replication, writes made on it after the switch were not carried back)"
    };
    thaw(exec, s, o, flavor).await?;
    Ok(message.into())
}
