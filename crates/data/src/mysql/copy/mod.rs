//! `copy`: databases moved to another server with no temporary file anywhere, in this order:
//!
//! 1. preflight (versions, `local_infile` on the target, the target's databases missing or
//!    empty unless this resumes an interrupted copy, objects cutover cannot copy);
//! 2. the source's inventory, each table's statement split so its secondary keys and foreign
//!    keys wait for the rows ([`schema`]);
//! 3. the databases and tables created on the target ([`load::prepare`]);
//! 4. one consistent snapshot on the source shared by `workers` sessions, its binary-log
//!    position recorded, and the tables streamed in primary-key ranges from the source's agent
//!    straight to the target's ([`dump`], [`load`]), each table's keys built as soon as its
//!    last range is in;
//! 5. foreign keys, views, routines, triggers, events, and accounts on request
//!    ([`crate::mysql::objects`]).
//!
//! Each table loaded is reported as it completes ([`CopyEvent::Table`]); a copy resumed with
//! those tables in [`CopyOptions::done`] leaves them as they are and copies the rest from a
//! new snapshot.

pub mod dump;
pub mod encode;
pub mod load;
pub mod schema;
pub mod wire;

use super::endpoint::Endpoint;
use super::error::MysqlError;
use super::flavor::{version_number, Flavor};
use super::inventory::{Inventory, ObjectKind};
use super::objects::{Created, Objects};
use super::protocol::{MysqlReply, MysqlRequest, Position, TableLoaded};
use super::session::{open_pair, Agent};
use crate::agent::AgentBinary;
use cutover_exec::Executor;
use std::time::Instant;
use wire::{
    DumpOptions, DumpTable, LoadOptions, LoadTable, PrepareOptions, PrepareTable, SnapshotLock,
};

/// How a copy runs.
#[derive(Debug, Clone)]
pub struct CopyOptions {
    /// The databases to copy (same names on the target).
    pub databases: Vec<String>,
    /// Parallel workers (snapshot sessions on the source, loaders on the target).
    pub workers: usize,
    /// Tables are split into primary-key ranges of about this many bytes.
    pub chunk_bytes: u64,
    /// Copy accounts (other than the server's own) with their grants on these databases.
    pub users: bool,
    /// The address the source host reaches the target host at (the loader listens there).
    pub address: String,
    /// The loader's port (0: any free one).
    pub port: u16,
    /// Seconds the snapshot may wait for the source's running commits.
    pub lock_timeout: u64,
    /// Tables already copied by an interrupted attempt: kept as they are.
    pub done: Vec<(String, String)>,
    /// An earlier attempt of this copy started writing to the target (it reported
    /// [`CopyEvent::Created`]): the target's databases may hold its partial tables, which are
    /// made again, so they need not be empty.
    pub resume: bool,
    /// Create events enabled on the source `DISABLE ON SLAVE` (the target is to replicate).
    pub events_off: bool,
    /// The agent binary for remote hosts.
    pub agent: AgentBinary,
}

impl CopyOptions {
    /// Defaults for `databases`, reaching the target at `address`.
    pub fn new(databases: Vec<String>, address: String, agent: AgentBinary) -> Self {
        CopyOptions {
            databases,
            workers: 4,
            chunk_bytes: 64 << 20,
            users: false,
            address,
            port: 0,
            lock_timeout: 30,
            done: Vec::new(),
            resume: false,
            events_off: false,
            agent,
        }
    }
}

/// What a copy reports as it goes.
#[derive(Debug, Clone)]
pub enum CopyEvent {
    /// A line of progress.
    Note(String),
    /// The source's snapshot is taken at this position.
    Snapshot {
        /// Where the source stood.
        position: Position,
        /// Milliseconds commits were held.
        lock_ms: u64,
    },
    /// Rows and bytes loaded so far.
    Progress {
        /// Rows.
        rows: u64,
        /// Bytes.
        bytes: u64,
    },
    /// A table is loaded and its keys built.
    Table(TableLoaded),
    /// The databases the copy creates (they did not exist; possibly none): what its undo
    /// drops. Reported once per attempt before anything is written to the target.
    Created(Vec<String>),
}

/// Progress callback.
pub type Progress<'a> = &'a (dyn Fn(CopyEvent) + Send + Sync);

/// What a finished copy did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CopyReport {
    /// Source server version.
    pub source_version: String,
    /// Target server version.
    pub target_version: String,
    /// The snapshot's position (`None` when every table was copied by earlier attempts).
    pub position: Option<Position>,
    /// Milliseconds the source's commits were held.
    pub lock_ms: u64,
    /// Tables copied now.
    pub tables: Vec<TableLoaded>,
    /// Tables kept from an interrupted attempt.
    pub resumed: usize,
    /// Rows copied now.
    pub rows: u64,
    /// Bytes streamed.
    pub bytes: u64,
    /// Databases the copy created.
    pub created: Vec<String>,
    /// Objects and accounts created.
    pub objects: Created,
    /// Seconds in all.
    pub seconds: f64,
}

/// Copies `options.databases` from `source` to `target`.
pub async fn copy(
    exec: &Executor,
    source: &Endpoint,
    target: &Endpoint,
    options: &CopyOptions,
    progress: Progress<'_>,
) -> Result<CopyReport, MysqlError> {
    let (mut s, mut t) = open_pair(exec, &options.agent, source, target).await?;
    let result = run(&mut s, &mut t, options, progress).await;
    tokio::join!(s.close(), t.close());
    result
}

async fn run(
    s: &mut Agent,
    t: &mut Agent,
    o: &CopyOptions,
    progress: Progress<'_>,
) -> Result<CopyReport, MysqlError> {
    let started = Instant::now();
    let (source_version, target_version) = preflight(s, t, o).await?;
    // The databases the copy creates are reported before any is, so an undo after a crash
    // knows them (and never drops one it did not create).
    // Reported even when empty: it also marks that this copy is about to write to the
    // target, so that a resumed attempt knows the tables there are its own.
    let missing = missing_on_target(t, &o.databases).await?;
    progress(CopyEvent::Created(missing));
    progress(CopyEvent::Note(format!(
        "{source_version} -> {target_version}"
    )));
    let inventory = inventory(s, o).await?;
    let plan = Plan::new(&inventory, o);
    let created = prepare(t, &inventory, &plan).await?;
    if !plan.resumed.is_empty() {
        progress(CopyEvent::Note(format!(
            "{} table(s) kept from the interrupted copy; copying {} from a new snapshot",
            plan.resumed.len(),
            plan.load.len()
        )));
    }
    let mut report = CopyReport {
        source_version,
        target_version,
        position: None,
        lock_ms: 0,
        tables: Vec::new(),
        resumed: plan.resumed.len(),
        rows: 0,
        bytes: 0,
        created,
        objects: Created::default(),
        seconds: 0.0,
    };
    if !plan.load.is_empty() {
        stream(s, t, o, &plan, &mut report, progress).await?;
    }
    progress(CopyEvent::Note(format!(
        "rows in; creating {} foreign key set(s), {} view(s), routine(s), trigger(s), event(s){}",
        plan.objects.foreign_keys.len(),
        plan.objects.objects.len(),
        if o.users { ", accounts" } else { "" }
    )));
    report.objects = match t
        .call(
            MysqlRequest::Objects {
                server: t.conn(),
                objects: Box::new(plan.objects.clone()),
            },
            &mut |_, _| {},
        )
        .await?
    {
        MysqlReply::Created(c) => c,
        other => return Err(t.unexpected(&other)),
    };
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Checks both servers before anything is written; returns both version texts.
async fn preflight(
    s: &mut Agent,
    t: &mut Agent,
    o: &CopyOptions,
) -> Result<(String, String), MysqlError> {
    let (sv, tv) = tokio::join!(s.value("SELECT VERSION()"), t.value("SELECT VERSION()"));
    let (sv, tv) = (sv?.unwrap_or_default(), tv?.unwrap_or_default());
    let (sf, tf) = (Flavor::of(&sv), Flavor::of(&tv));
    let label = |f: Flavor, v: &str| format!("{} {v}", f.name());
    if sf != tf {
        return Err(MysqlError::precondition(
            format!("the source runs {} and the target {}", label(sf, &sv), label(tf, &tv)),
            "cutover copies between servers of one flavor (MariaDB to MariaDB, MySQL to MySQL); their schemas and replication differ",
        ));
    }
    if version_number(&tv) < version_number(&sv) {
        return Err(MysqlError::precondition(
            format!(
                "the target runs {}, older than the source's {}",
                label(tf, &tv),
                label(sf, &sv)
            ),
            "copy to a server of the same or a newer version",
        ));
    }
    let infile = t.value("SELECT @@GLOBAL.local_infile").await?;
    if infile.as_deref() != Some("1") {
        return Err(MysqlError::precondition(
            format!("the target at {} has local_infile off: the copy loads rows with LOAD DATA LOCAL", t.endpoint.describe()),
            "run `SET GLOBAL local_infile = 1` on the target for the copy (or set local_infile = 1 in its configuration)",
        ));
    }
    check_target_empty(t, o).await?;
    Ok((label(sf, &sv), label(tf, &tv)))
}

/// The databases of `databases` the target does not have.
async fn missing_on_target(t: &mut Agent, databases: &[String]) -> Result<Vec<String>, MysqlError> {
    let mut missing = Vec::new();
    for db in databases {
        let n = t
            .value(&format!(
                "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = {}",
                super::sql::literal(db)
            ))
            .await?;
        if n.as_deref() == Some("0") {
            missing.push(db.clone());
        }
    }
    Ok(missing)
}

/// Drops the databases a copy created (`created`, as it reported them); returns what it did.
pub async fn undo(
    exec: &Executor,
    target: &Endpoint,
    created: &[String],
    agent: &AgentBinary,
) -> Result<String, MysqlError> {
    if created.is_empty() {
        return Ok("the copy created no database (any it copied into existed before: their tables are left)".into());
    }
    let mut t = Agent::open(exec, agent, target, "target").await?;
    let statements: Vec<String> = created
        .iter()
        .map(|d| format!("DROP DATABASE IF EXISTS {}", super::sql::ident(d)))
        .collect();
    let refs: Vec<&str> = statements.iter().map(String::as_str).collect();
    let result = t.run(&refs).await;
    t.close().await;
    result?;
    Ok(format!(
        "dropped database(s) {} (created by the copy)",
        created
            .iter()
            .map(|d| format!("`{d}`"))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// A first attempt copies only into missing or empty databases.
async fn check_target_empty(t: &mut Agent, o: &CopyOptions) -> Result<(), MysqlError> {
    if o.resume || !o.done.is_empty() {
        return Ok(());
    }
    for db in &o.databases {
        let n = t
            .value(&format!(
                "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = {}",
                super::sql::literal(db)
            ))
            .await?
            .unwrap_or_default();
        if n != "0" {
            return Err(MysqlError::precondition(
                format!("database `{db}` on the target is not empty ({n} tables or views)"),
                "cutover copies only into a missing or empty database: drop it (`DROP DATABASE`), empty it, or copy another database",
            ));
        }
    }
    Ok(())
}

async fn inventory(s: &mut Agent, o: &CopyOptions) -> Result<Inventory, MysqlError> {
    let request = MysqlRequest::Inventory {
        server: s.conn(),
        databases: o.databases.clone(),
        users: o.users,
    };
    let inv = match s.call(request, &mut |_, _| {}).await? {
        MysqlReply::Inventory(i) => *i,
        other => return Err(s.unexpected(&other)),
    };
    let missing: Vec<&String> = o
        .databases
        .iter()
        .filter(|d| !inv.databases.iter().any(|(n, _)| n == *d))
        .collect();
    if !missing.is_empty() {
        return Err(MysqlError::precondition(
            format!(
                "database(s) not found on the source at {}: {}",
                s.endpoint.describe(),
                missing
                    .iter()
                    .map(|d| format!("`{d}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "fix `databases` in the step (names are case-sensitive on Linux)",
        ));
    }
    if !inv.unsupported.is_empty() {
        return Err(MysqlError::precondition(
            format!("the source holds objects cutover does not copy: {}", inv.unsupported.join(", ")),
            "recreate them on the target by hand after the copy (SHOW CREATE SEQUENCE ...), or move them out of the databases copied",
        ));
    }
    Ok(inv)
}

/// What this attempt creates and loads.
struct Plan {
    load: Vec<(PrepareTable, LoadTable, DumpTable)>,
    resumed: Vec<(String, String)>,
    objects: Objects,
}

impl Plan {
    fn new(inv: &Inventory, o: &CopyOptions) -> Plan {
        let mut plan = Plan {
            load: Vec::new(),
            resumed: Vec::new(),
            objects: Objects {
                objects: inv.objects.clone(),
                accounts: inv.accounts.clone(),
                databases: o.databases.clone(),
                events_off: o.events_off,
                foreign_keys: Vec::new(),
            },
        };
        for (i, t) in inv.tables.iter().enumerate() {
            let auto = schema::auto_increment_column(&t.create);
            let split = schema::split(&t.create, auto.as_deref());
            if !split.foreign_keys.is_empty() {
                plan.objects.foreign_keys.push((
                    t.db.clone(),
                    t.name.clone(),
                    split.foreign_keys.clone(),
                ));
            }
            let key = (t.db.clone(), t.name.clone());
            if o.done.contains(&key) {
                plan.resumed.push(key);
                continue;
            }
            let columns: Vec<String> = t.stored_columns().iter().map(|c| c.to_string()).collect();
            plan.load.push((
                PrepareTable {
                    db: t.db.clone(),
                    name: t.name.clone(),
                    create: split.create,
                },
                LoadTable {
                    index: i as u32,
                    db: t.db.clone(),
                    name: t.name.clone(),
                    columns: columns.clone(),
                    keys: split.keys,
                },
                DumpTable {
                    index: i as u32,
                    db: t.db.clone(),
                    name: t.name.clone(),
                    columns,
                    key: t.integer_key().map(str::to_string),
                    data_bytes: t.data_bytes,
                },
            ));
        }
        // Triggers last: they refer to tables, and routines they may call.
        plan.objects.objects.sort_by_key(|x| match x.kind {
            ObjectKind::View => 0,
            ObjectKind::Function | ObjectKind::Procedure => 1,
            ObjectKind::Trigger => 2,
            ObjectKind::Event => 3,
        });
        plan
    }
}

async fn prepare(t: &mut Agent, inv: &Inventory, plan: &Plan) -> Result<Vec<String>, MysqlError> {
    let request = MysqlRequest::Prepare {
        server: t.conn(),
        options: PrepareOptions {
            databases: inv.databases.clone(),
            tables: plan.load.iter().map(|(p, _, _)| p.clone()).collect(),
        },
    };
    match t.call(request, &mut |_, _| {}).await? {
        MysqlReply::Prepared { created } => Ok(created),
        other => Err(t.unexpected(&other)),
    }
}

/// The rows: the target's agent listens, the source's agent takes the snapshot and streams.
async fn stream(
    s: &mut Agent,
    t: &mut Agent,
    o: &CopyOptions,
    plan: &Plan,
    report: &mut CopyReport,
    progress: Progress<'_>,
) -> Result<(), MysqlError> {
    let workers = o.workers.clamp(1, 64).min(plan.load.len().max(1) * 8);
    let keys = (0..workers)
        .map(|_| crate::files::sync::wire::new_key())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| MysqlError::failed(format!("no key for the copy stream: {e}")))?;
    let listen = o.address.trim_matches(|c| c == '[' || c == ']').to_string();
    t.send(MysqlRequest::Load {
        server: t.conn(),
        options: LoadOptions {
            listen,
            port: o.port,
            keys: keys.clone(),
            tables: plan.load.iter().map(|(_, l, _)| l.clone()).collect(),
            accept_timeout: 60,
        },
    })
    .await?;
    let port = match t.recv().await? {
        MysqlReply::Listening { port } => port,
        other => return Err(t.unexpected(&other)),
    };
    let connect = if o.address.contains(':') && !o.address.starts_with('[') {
        format!("[{}]:{port}", o.address)
    } else {
        format!("{}:{port}", o.address)
    };
    s.send(MysqlRequest::Dump {
        server: s.conn(),
        options: DumpOptions {
            connect,
            keys,
            tables: plan.load.iter().map(|(_, _, d)| d.clone()).collect(),
            chunk_bytes: o.chunk_bytes.max(1 << 20),
            lock: SnapshotLock::BackupStage,
            lock_timeout: o.lock_timeout,
        },
    })
    .await?;
    let (dumped, loaded) = {
        let src = follow_source(s, progress);
        let tgt = follow_target(t, report, progress);
        tokio::pin!(src, tgt);
        let (mut dumped, mut loaded) = (None, None);
        while dumped.is_none() || loaded.is_none() {
            // Once one side failed, the other gets a few seconds to say its own error (usually
            // the broken stream that follows), then both agents are stopped.
            let grace = async {
                if matches!(dumped, Some(Err(_))) || matches!(loaded, Some(Err(_))) {
                    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                } else {
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                r = &mut src, if dumped.is_none() => dumped = Some(r),
                r = &mut tgt, if loaded.is_none() => loaded = Some(r),
                () = grace => break,
            }
        }
        (dumped, loaded)
    };
    let snapshot = match (dumped, loaded) {
        (Some(Ok(sn)), Some(Ok(()))) => sn,
        // The side that failed first says why; the other side's error is a broken stream.
        (Some(Err(se)), Some(Err(te))) => {
            return Err(if is_stream(&te) && !is_stream(&se) {
                se
            } else {
                te
            })
        }
        (Some(Err(e)), _) | (_, Some(Err(e))) => return Err(e),
        _ => {
            return Err(MysqlError::failed(
                "the copy ended without both agents' answers",
            ))
        }
    };
    if let Some((position, lock_ms)) = snapshot {
        report.position = Some(position);
        report.lock_ms = lock_ms;
    }
    Ok(())
}

fn is_stream(e: &MysqlError) -> bool {
    e.to_string().contains("the copy stream")
        || matches!(
            e,
            MysqlError::Failed {
                class: cutover_exec::FailureClass::Unreachable,
                ..
            }
        )
}

async fn follow_source(
    s: &mut Agent,
    progress: Progress<'_>,
) -> Result<Option<(Position, u64)>, MysqlError> {
    let mut snapshot = None;
    loop {
        match s.recv().await? {
            MysqlReply::Snapshot { position, lock_ms } => {
                progress(CopyEvent::Snapshot {
                    position: position.clone(),
                    lock_ms,
                });
                snapshot = Some((position, lock_ms));
            }
            MysqlReply::Progress { .. } => {}
            MysqlReply::Dumped { .. } => return Ok(snapshot),
            other => return Err(s.unexpected(&other)),
        }
    }
}

async fn follow_target(
    t: &mut Agent,
    report: &mut CopyReport,
    progress: Progress<'_>,
) -> Result<(), MysqlError> {
    loop {
        match t.recv().await? {
            MysqlReply::Progress { rows, bytes } => progress(CopyEvent::Progress { rows, bytes }),
            MysqlReply::TableLoaded(table) => {
                report.rows += table.rows;
                report.bytes += table.bytes;
                progress(CopyEvent::Table(table.clone()));
                report.tables.push(table);
            }
            MysqlReply::Loaded { .. } => return Ok(()),
            other => return Err(t.unexpected(&other)),
        }
    }
}
