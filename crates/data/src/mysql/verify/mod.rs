//! `verify`: the proof that a copy is whole. Each server's agent digests its tables in
//! primary-key ranges (the same ranges on both, cut on the source), in parallel sessions
//! each reading a consistent snapshot; only one line per range travels back. A range whose
//! digests differ is narrowed to its rows, named by key. Definitions and auto-increment
//! counters are compared from both inventories. Verify a source that takes no writes (after
//! the switch's freeze, or a stopped application): a live source moves on while it is read.

pub mod definitions;
pub mod digest;
pub mod report;
pub mod rows;

use super::endpoint::Endpoint;
use super::error::MysqlError;
use super::flavor::Flavor;
use super::inventory::{Inventory, ObjectKind, Table};
use super::protocol::{MysqlReply, MysqlRequest};
use super::session::{open_pair, Agent};
use crate::agent::AgentBinary;
use cutover_exec::Executor;
use digest::{ChunkDigest, DigestOptions, TableChunks};
use report::{ObjectCount, Side, TableCheck, Tally, VerifyReport};
use std::collections::BTreeMap;
use std::time::Instant;

/// How a verification runs.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// The databases to compare.
    pub databases: Vec<String>,
    /// Parallel sessions per server.
    pub workers: usize,
    /// Rows per range, about.
    pub chunk_rows: u64,
    /// Rows named per table at most (the rest are counted).
    pub max_rows_named: usize,
    /// The agent binary for remote hosts.
    pub agent: AgentBinary,
}

impl VerifyOptions {
    /// Defaults for `databases`.
    pub fn new(databases: Vec<String>, agent: AgentBinary) -> Self {
        VerifyOptions {
            databases,
            workers: 4,
            chunk_rows: 200_000,
            max_rows_named: 20,
            agent,
        }
    }
}

/// Progress lines while verifying.
pub type Progress<'a> = &'a (dyn Fn(String) + Send + Sync);

/// Compares `options.databases` on `source` and `target`.
pub async fn verify(
    exec: &Executor,
    source: &Endpoint,
    target: &Endpoint,
    options: &VerifyOptions,
    progress: Progress<'_>,
) -> Result<VerifyReport, MysqlError> {
    let (mut s, mut t) = open_pair(exec, &options.agent, source, target).await?;
    let result = run(&mut s, &mut t, options, progress).await;
    tokio::join!(s.close(), t.close());
    result
}

async fn run(
    s: &mut Agent,
    t: &mut Agent,
    o: &VerifyOptions,
    progress: Progress<'_>,
) -> Result<VerifyReport, MysqlError> {
    let started = Instant::now();
    let (sv, tv) = tokio::join!(s.value("SELECT VERSION()"), t.value("SELECT VERSION()"));
    let (sv, tv) = (sv?.unwrap_or_default(), tv?.unwrap_or_default());
    let (si, ti) = tokio::join!(inventory(s, o), inventory(t, o));
    let (si, ti) = (si?, ti?);
    let mut differences = definitions::compare(&si, &ti);
    let plans = chunk_plans(s, &si, &ti, o).await?;
    progress(format!(
        "hashing {} table(s) in {} range(s) on both servers",
        plans.len(),
        plans.iter().map(|p| p.chunks()).sum::<usize>()
    ));
    let digest_options = DigestOptions {
        tables: plans.clone(),
        workers: o.workers,
    };
    let (sd, td) = tokio::join!(
        digest(s, &digest_options, progress),
        digest(t, &digest_options, progress)
    );
    let (sd, td) = (sd?, td?);
    let mut tables = Vec::new();
    let mut rows = 0;
    for (i, plan) in plans.iter().enumerate() {
        let (a, b) = (tally(&sd, i), tally(&td, i));
        rows += a.rows;
        let differing: Vec<usize> = (0..plan.chunks())
            .filter(|c| chunk(&sd, i, *c) != chunk(&td, i, *c))
            .collect();
        let status = if differing.is_empty() {
            "ok"
        } else {
            "differs"
        };
        if !differing.is_empty() {
            if a.rows != b.rows {
                differences.push(rows::difference(
                    plan,
                    "row count",
                    format!("{} rows on source, {} on target", a.rows, b.rows),
                ));
            }
            let named = rows::narrow(s, t, plan, &differing, o.max_rows_named).await?;
            if named.is_empty() {
                differences.push(rows::difference(plan, "content", "digests differ".into()));
            }
            differences.extend(named);
        }
        tables.push(TableCheck {
            db: plan.db.clone(),
            name: plan.name.clone(),
            source: Some(a),
            target: Some(b),
            chunks: plan.chunks(),
            status: status.into(),
        });
    }
    add_uncompared(&si, &ti, &plans, &mut tables);
    tables.sort_by(|a, b| (&a.db, &a.name).cmp(&(&b.db, &b.name)));
    Ok(VerifyReport {
        source: Side {
            endpoint: s.endpoint.describe(),
            version: format!("{} {sv}", Flavor::of(&sv).name()),
        },
        target: Side {
            endpoint: t.endpoint.describe(),
            version: format!("{} {tv}", Flavor::of(&tv).name()),
        },
        databases: o.databases.clone(),
        tables,
        objects: counts(&si, &ti),
        differences,
        rows,
        seconds: started.elapsed().as_secs_f64(),
    })
}

async fn inventory(a: &mut Agent, o: &VerifyOptions) -> Result<Inventory, MysqlError> {
    let request = MysqlRequest::Inventory {
        server: a.conn(),
        databases: o.databases.clone(),
        users: false,
    };
    match a.call(request, &mut |_, _| {}).await? {
        MysqlReply::Inventory(i) => Ok(*i),
        other => Err(a.unexpected(&other)),
    }
}

/// The tables both sides hold with the same columns, cut into ranges on the source.
async fn chunk_plans(
    s: &mut Agent,
    si: &Inventory,
    ti: &Inventory,
    o: &VerifyOptions,
) -> Result<Vec<TableChunks>, MysqlError> {
    let mut plans: Vec<TableChunks> = si
        .tables
        .iter()
        .filter(|st| comparable(st, ti))
        .map(|st| TableChunks {
            db: st.db.clone(),
            name: st.name.clone(),
            columns: st.stored_columns().iter().map(|c| c.to_string()).collect(),
            key: st.primary_key.clone(),
            split_key: st.integer_key().map(str::to_string),
            bounds: Vec::new(),
        })
        .collect();
    let wanted: Vec<(String, String, String, u64)> = si
        .tables
        .iter()
        .filter(|st| comparable(st, ti))
        .map(|st| {
            (
                st.db.clone(),
                st.name.clone(),
                st.integer_key().unwrap_or_default().to_string(),
                st.rows,
            )
        })
        .collect();
    let splittable: Vec<(String, String, String, u64)> =
        wanted.into_iter().filter(|w| !w.2.is_empty()).collect();
    if splittable.is_empty() {
        return Ok(plans);
    }
    let request = MysqlRequest::Bounds {
        server: s.conn(),
        tables: splittable.clone(),
        chunk_rows: o.chunk_rows,
    };
    let bounds = match s.call(request, &mut |_, _| {}).await? {
        MysqlReply::Bounds { bounds } => bounds,
        other => return Err(s.unexpected(&other)),
    };
    for ((db, name, _, _), b) in splittable.iter().zip(bounds) {
        if let Some(p) = plans.iter_mut().find(|p| &p.db == db && &p.name == name) {
            p.bounds = b;
        }
    }
    Ok(plans)
}

/// Same table on the target, with the same stored columns in the same order.
fn comparable(st: &Table, ti: &Inventory) -> bool {
    ti.tables
        .iter()
        .find(|t| t.db == st.db && t.name == st.name)
        .is_some_and(|t| t.stored_columns() == st.stored_columns())
}

async fn digest(
    a: &mut Agent,
    o: &DigestOptions,
    progress: Progress<'_>,
) -> Result<Vec<ChunkDigest>, MysqlError> {
    if o.tables.is_empty() {
        return Ok(Vec::new());
    }
    let side = a.side;
    let mut last = Instant::now();
    let request = MysqlRequest::Digest {
        server: a.conn(),
        options: o.clone(),
    };
    let mut on_progress = |rows: u64, _| {
        if last.elapsed().as_secs() >= 2 {
            last = Instant::now();
            progress(format!("{side}: {rows} rows hashed"));
        }
    };
    match a.call(request, &mut on_progress).await? {
        MysqlReply::Digests { chunks } => Ok(chunks),
        other => Err(a.unexpected(&other)),
    }
}

fn chunk(d: &[ChunkDigest], table: usize, chunk: usize) -> Option<(u64, u128)> {
    d.iter()
        .find(|c| c.table == table && c.chunk == chunk)
        .map(|c| (c.rows, c.sum))
}

fn tally(d: &[ChunkDigest], table: usize) -> Tally {
    d.iter()
        .filter(|c| c.table == table)
        .fold(Tally { rows: 0, sum: 0 }, |t, c| Tally {
            rows: t.rows + c.rows,
            sum: t.sum.wrapping_add(c.sum),
        })
}

/// Tables on one side only, or whose columns differ, listed without digests.
fn add_uncompared(
    si: &Inventory,
    ti: &Inventory,
    plans: &[TableChunks],
    tables: &mut Vec<TableCheck>,
) {
    let compared = |t: &Table| plans.iter().any(|p| p.db == t.db && p.name == t.name);
    for t in si.tables.iter().filter(|t| !compared(t)) {
        let on_target = ti.tables.iter().any(|x| x.db == t.db && x.name == t.name);
        tables.push(TableCheck {
            db: t.db.clone(),
            name: t.name.clone(),
            source: None,
            target: None,
            chunks: 0,
            status: if on_target {
                "not compared (columns differ)"
            } else {
                "missing"
            }
            .into(),
        });
    }
    for t in ti.tables.iter() {
        if !si.tables.iter().any(|x| x.db == t.db && x.name == t.name) {
            tables.push(TableCheck {
                db: t.db.clone(),
                name: t.name.clone(),
                source: None,
                target: None,
                chunks: 0,
                status: "extra".into(),
            });
        }
    }
}

fn counts(si: &Inventory, ti: &Inventory) -> Vec<ObjectCount> {
    let mut map: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    map.insert("tables", (si.tables.len(), ti.tables.len()));
    for kind in [
        ObjectKind::View,
        ObjectKind::Procedure,
        ObjectKind::Function,
        ObjectKind::Trigger,
        ObjectKind::Event,
    ] {
        let n = |inv: &Inventory| inv.objects.iter().filter(|o| o.kind == kind).count();
        map.insert(
            match kind {
                ObjectKind::View => "views",
                ObjectKind::Procedure => "procedures",
                ObjectKind::Function => "functions",
                ObjectKind::Trigger => "triggers",
                ObjectKind::Event => "events",
            },
            (n(si), n(ti)),
        );
    }
    map.into_iter()
        .map(|(kind, (source, target))| ObjectCount {
            kind: kind.into(),
            source,
            target,
        })
        .collect()
}
