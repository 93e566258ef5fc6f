//! `copy`: a database moved to another server (same or newer major version) with no
//! temporary file anywhere, in this order:
//!
//! 1. preflight: client tools of the target's major (pg_dump at least the source's major),
//!    the target database absent or empty, roles and extensions present on the target;
//! 2. a snapshot exported on the source: every stream below reads that one instant;
//! 3. the schema without indexes and constraints (`pg_dump --section=pre-data | psql`);
//! 4. per-table COPY streams in parallel (large tables split into page ranges), each
//!    table's indexes and keys built as soon as its rows are in, overlapping other copies,
//!    then its `ANALYZE`; large objects streamed alongside;
//! 5. sequences set, then the rest of the post-data section in pg_dump's order (foreign keys
//!    in parallel, materialized views refreshed, comments...).
//!
//! The target database carries a marker (its comment) so a finished copy is not redone and
//! an interrupted one (in a database cutover created) is dropped and started again.

pub(crate) mod catalog;
mod pool;
pub mod postdata;
pub mod stream;
pub mod target;

use super::checksum::Chunk;
use super::endpoint::Endpoint;
use super::error::PgError;
use super::inventory::{self, Sequence};
use super::session::{copy_query, run_sql, SnapshotHolder};
use super::sql::{literal, qualified};
use super::tools::{self, major_of};
use super::verify::version_text;
use cutover_exec::Executor;
use pool::{Pool, TableWork};
use postdata::{Entry, PostData};
use std::time::Instant;
use stream::DataUnit;
use target::Marker;

/// How a copy runs.
#[derive(Debug, Clone)]
pub struct CopyOptions {
    /// Parallel sessions (streams and index builds at once).
    pub jobs: usize,
    /// Tables larger than this are split into page ranges copied in parallel (sources on
    /// PostgreSQL 14+, which reads page ranges directly).
    pub split_bytes: u64,
    /// Objects are owned by the target's connecting role (`pg_dump --no-owner`).
    pub no_owner: bool,
    /// Privileges are not copied (`pg_dump --no-privileges`).
    pub no_privileges: bool,
    /// `ANALYZE` every table once built.
    pub analyze: bool,
    /// `maintenance_work_mem` for index builds.
    pub maintenance_work_mem: String,
    /// Stream tables whose columns all allow it in COPY's binary format.
    pub binary: bool,
    /// Create the roles the schema needs that the target lacks (see [`crate::postgres::roles`]).
    pub roles: bool,
    /// Passwords for the roles `roles` creates.
    pub role_passwords: super::roles::RolePasswords,
}

impl Default for CopyOptions {
    fn default() -> Self {
        CopyOptions {
            jobs: 4,
            split_bytes: 4 << 30,
            no_owner: false,
            no_privileges: false,
            analyze: true,
            maintenance_work_mem: "256MB".into(),
            binary: true,
            roles: false,
            role_passwords: Default::default(),
        }
    }
}

/// One table copied.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TableCopy {
    /// Schema.
    pub schema: String,
    /// Name.
    pub name: String,
    /// Rows loaded.
    pub rows: u64,
    /// Bytes streamed (0 when both ends ran on one host).
    pub bytes: u64,
    /// Seconds from its first stream to its last index.
    pub seconds: f64,
}

/// What a copy reports as it goes.
#[derive(Debug, Clone)]
pub enum CopyEvent {
    /// A line of progress.
    Note(String),
    /// A table is loaded and indexed.
    TableDone(TableCopy),
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
    /// Client tools used on the source side.
    pub tools: String,
    /// `host to host through the controller` or `on host X`.
    pub route: String,
    /// Tables copied.
    pub tables: Vec<TableCopy>,
    /// Rows copied.
    pub rows: u64,
    /// Bytes streamed.
    pub bytes: u64,
    /// Large objects copied.
    pub large_objects: u64,
    /// Sequences set.
    pub sequences: usize,
    /// Post-data entries (indexes, constraints, triggers...) created.
    pub post_entries: usize,
    /// Seconds in all.
    pub seconds: f64,
}

/// The preflight's findings: both sides ready, tools chosen.
pub struct Ready {
    /// The source with its tools.
    pub source: Endpoint,
    /// The target with its tools.
    pub target: Endpoint,
    /// Source `server_version_num`.
    pub source_version: u32,
    /// Target `server_version_num`.
    pub target_version: u32,
    /// The tools' version text.
    pub tools: String,
    /// The target database now.
    pub target_state: target::TargetState,
    facts: catalog::SourceFacts,
    /// Roles the schema needs that the target lacks (created by the copy with `roles`).
    pub missing_roles: Vec<String>,
}

/// Checks everything a copy needs without changing anything.
pub async fn preflight(
    exec: &Executor,
    source: &Endpoint,
    target: &Endpoint,
    options: &CopyOptions,
) -> Result<Ready, PgError> {
    let (mut source, mut target) = (source.clone(), target.clone());
    // Any psql can read the versions; then the tools of the target's major are chosen.
    let (s_any, t_any) = tokio::join!(
        tools::select(exec, &source, None, false, 0),
        tools::select(exec, &target, None, false, 0)
    );
    // The target database may not exist yet: its server is asked through `postgres`.
    let (mut s_probe, mut t_probe) = (source.clone(), target.with_db("postgres"));
    s_probe.bin = Some(s_any?.bin);
    t_probe.bin = Some(t_any?.bin);
    let (sv, tv) = tokio::join!(
        tools::server_version(exec, &s_probe),
        tools::server_version(exec, &t_probe)
    );
    let (sv, tv) = (sv?, tv?);
    tools::check_supported(&source, sv)?;
    let (smaj, tmaj) = (major_of(sv), major_of(tv));
    if tmaj < smaj {
        return Err(PgError::precondition(
            format!("the target server runs PostgreSQL {tmaj}, older than the source's {smaj}"),
            "cutover copies to the same or a newer major version; upgrade the target server",
        ));
    }
    let (st, tt) = tokio::join!(
        tools::select(exec, &source, Some(tmaj), true, smaj),
        tools::select(exec, &target, Some(tmaj), false, smaj)
    );
    let st = st?;
    source.bin = Some(st.bin.clone());
    target.bin = Some(tt?.bin);
    let (facts, state) = tokio::join!(catalog::read(exec, &source), target::state(exec, &target));
    let (facts, target_state) = (facts?, state?);
    if target_state.exists && target_state.objects > 0 {
        match target_state.marker {
            Marker::InProgress { created: true } => {}
            Marker::Complete { .. } => {
                return Err(PgError::precondition(
                    format!("database `{}` on the target already holds a finished copy", target.db),
                    "nothing to do; to copy again, drop the target database first",
                ))
            }
            _ => {
                return Err(PgError::precondition(
                    format!(
                        "database `{}` on the target is not empty ({} objects) and was not created by cutover",
                        target.db, target_state.objects
                    ),
                    "cutover copies only into a new or empty database: drop it, empty it, or choose another `db`",
                ))
            }
        }
    }
    let mut roles = std::collections::BTreeSet::new();
    if !options.no_owner {
        roles.extend(facts.owners.iter().cloned());
    }
    if !options.no_privileges {
        roles.extend(facts.grantees.iter().cloned());
    }
    let (missing_roles, missing_ext) =
        catalog::missing_on_target(exec, &target, &roles, &facts.extensions).await?;
    if !missing_ext.is_empty() {
        return Err(PgError::precondition(
            format!("the target server cannot install extension(s) the source uses: {}", missing_ext.join(", ")),
            format!("install them on the target host for PostgreSQL {tmaj} (e.g. the postgresql-{tmaj}-NAME package), then run again"),
        ));
    }
    if !missing_roles.is_empty() && !options.roles {
        return Err(super::roles::missing_refusal(&missing_roles));
    }
    Ok(Ready {
        source,
        target,
        source_version: sv,
        target_version: tv,
        tools: st.version,
        target_state,
        facts,
        missing_roles,
    })
}

/// True when the target database holds a finished copy (applying again would do nothing).
pub async fn is_complete(exec: &Executor, target: &Endpoint) -> Result<bool, PgError> {
    let mut probe = target.clone();
    if probe.bin.is_none() {
        probe.bin = Some(tools::select(exec, target, None, false, 0).await?.bin);
    }
    let state = target::state(exec, &probe).await?;
    Ok(state.exists && matches!(state.marker, Marker::Complete { .. }))
}

/// Undoes a copy: drops the target database when cutover created it. Returns what was done.
pub async fn undo(exec: &Executor, target: &Endpoint) -> Result<String, PgError> {
    let mut probe = target.clone();
    if probe.bin.is_none() {
        probe.bin = Some(tools::select(exec, target, None, false, 0).await?.bin);
    }
    let state = target::state(exec, &probe).await?;
    if !state.exists {
        return Ok(format!("database `{}` is already gone", target.db));
    }
    if state.marker.created() {
        target::drop(exec, &probe).await?;
        return Ok(format!(
            "dropped database `{}` (created by the copy)",
            target.db
        ));
    }
    Ok(format!(
        "left database `{}` in place: it existed before the copy (drop its contents by hand if needed)",
        target.db
    ))
}

/// Copies `source` into `target`.
pub async fn copy(
    exec: &Executor,
    source: &Endpoint,
    target: &Endpoint,
    options: &CopyOptions,
    progress: Progress<'_>,
) -> Result<CopyReport, PgError> {
    let started = Instant::now();
    let ready = preflight(exec, source, target, options).await?;
    let (source, target) = (&ready.source, &ready.target);
    let source_name = source.describe();
    let note = |s: String| progress(CopyEvent::Note(s));
    note(format!(
        "PostgreSQL {} -> {} with {}",
        version_text(ready.source_version),
        version_text(ready.target_version),
        ready.tools
    ));
    if !ready.missing_roles.is_empty() {
        let wanted = ready.missing_roles.iter().cloned().collect();
        let created =
            super::roles::create_missing(exec, source, target, &wanted, &options.role_passwords)
                .await?;
        note(options.role_passwords.summary(&created));
    }
    match (&ready.target_state.exists, &ready.target_state.marker) {
        (false, _) => target::create(exec, target, &ready.facts.encoding, &source_name).await?,
        (true, Marker::InProgress { created: true }) => {
            note("dropping the unfinished copy of an interrupted run".into());
            target::drop(exec, target).await?;
            target::create(exec, target, &ready.facts.encoding, &source_name).await?;
        }
        (true, _) => {
            target::mark(
                exec,
                target,
                &Marker::InProgress { created: false },
                &source_name,
            )
            .await?
        }
    }
    let holder = SnapshotHolder::open(exec, source).await?;
    let result = copy_in_snapshot(exec, &ready, &holder.id, options, progress).await;
    holder.close().await;
    let mut report = result?;
    let created = !ready.target_state.exists || ready.target_state.marker.created();
    target::mark(exec, target, &Marker::Complete { created }, &source_name).await?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

fn dump_args(snapshot: &str, section: &str, options: &CopyOptions) -> Vec<String> {
    let mut a = vec![
        format!("--section={section}"),
        format!("--snapshot={snapshot}"),
        "--no-publications".into(),
        "--no-subscriptions".into(),
    ];
    if options.no_owner {
        a.push("--no-owner".into());
    }
    if options.no_privileges {
        a.push("--no-privileges".into());
    }
    a
}

const PSQL_RESTORE: &[&str] = &[
    "-X",
    "-q",
    "-v",
    "ON_ERROR_STOP=1",
    "--single-transaction",
    "-f",
    "-",
];

async fn copy_in_snapshot(
    exec: &Executor,
    ready: &Ready,
    snapshot: &str,
    options: &CopyOptions,
    progress: Progress<'_>,
) -> Result<CopyReport, PgError> {
    let (source, target) = (&ready.source, &ready.target);
    let note = |s: String| progress(CopyEvent::Note(s));
    let inv = inventory::read_at(
        exec,
        source,
        ready.source_version,
        Some(snapshot),
        super::definitions::Scope::default(),
    )
    .await?;
    let restore: Vec<String> = PSQL_RESTORE.iter().map(|s| s.to_string()).collect();
    let mut quiet = |_| {};
    let pre = stream::pipe(
        exec,
        "copy the schema (pre-data)",
        (source, "pg_dump", dump_args(snapshot, "pre-data", options)),
        (target, "psql", restore.clone()),
        &mut quiet,
    );
    let post_args = dump_args(snapshot, "post-data", options);
    let post_refs: Vec<&str> = post_args.iter().map(String::as_str).collect();
    let post_cmd = source.command("pg_dump", &post_refs);
    let post_dump = exec.run(&post_cmd);
    let (pre, post_dump) = tokio::join!(pre, post_dump);
    pre?;
    let post_dump = post_dump?;
    if !post_dump.success() {
        return Err(super::session::tool_error(
            "dump the post-data schema",
            source,
            &post_dump,
        ));
    }
    let post = postdata::parse(&post_dump.stdout);
    note(format!(
        "schema created; {} indexes, constraints and other post-data entries to build",
        post.entries.len()
    ));

    // Tables with rows of their own, their streams, and the post-data entries each owns.
    let tables: Vec<&inventory::Relation> =
        inv.relations.iter().filter(|r| r.relkind == 'r').collect();
    let split = major_of(ready.source_version) >= 14 && options.split_bytes > 0;
    let mut units = Vec::new();
    let mut works = Vec::new();
    let mut owned = vec![false; post.entries.len()];
    for (t, rel) in tables.iter().enumerate() {
        let parts = if split {
            rel.bytes
                .div_ceil(options.split_bytes)
                .min(options.jobs as u64)
        } else {
            1
        };
        let columns: Vec<&inventory::Column> =
            rel.columns.iter().filter(|c| !c.generated).collect();
        let binary = options.binary && columns.iter().all(|c| stream::binary_safe(c));
        for chunk in Chunk::split(rel.bytes / 8192 + 1, parts) {
            units.push(DataUnit {
                table: t,
                schema: rel.schema.clone(),
                name: rel.name.clone(),
                columns: columns.iter().map(|c| c.name.clone()).collect(),
                chunk,
                cost: rel.bytes / parts.max(1) + 8192,
                binary,
            });
        }
        let mine: Vec<usize> = post
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| {
                entry_table(e, &ready.facts, &tables)
                    == Some((rel.schema.as_str(), rel.name.as_str()))
            })
            .map(|(i, _)| i)
            .collect();
        for &i in &mine {
            owned[i] = true;
        }
        works.push(TableWork::new(rel.schema.clone(), rel.name.clone(), mine));
    }
    note(format!(
        "copying {} tables in {} streams with {} sessions",
        tables.len(),
        units.len(),
        options.jobs
    ));
    let build_settings = format!(
        "SET maintenance_work_mem = {};\n",
        literal(&options.maintenance_work_mem)
    );
    let pool = Pool {
        exec,
        source,
        target,
        snapshot,
        units: &units,
        post: &post,
        build_settings: &build_settings,
        analyze: options.analyze,
        progress,
    };
    let large_objects = async {
        if ready.facts.large_objects == 0 {
            return Ok(());
        }
        let mut args = dump_args(snapshot, "data", options);
        args.push("--exclude-table-data=*.*".into());
        let mut quiet = |_| {};
        stream::pipe(
            exec,
            "copy the large objects",
            (source, "pg_dump", args),
            (target, "psql", restore.clone()),
            &mut quiet,
        )
        .await
        .map(|_| ())
    };
    let (done, lo) = tokio::join!(pool.run(works, options.jobs), large_objects);
    let done = done?;
    lo?;
    let sequences = read_sequences(exec, source).await?;
    set_sequences(exec, target, &sequences).await?;
    let rest: Vec<&Entry> = post
        .entries
        .iter()
        .zip(&owned)
        .filter(|(_, o)| !**o)
        .map(|(e, _)| e)
        .collect();
    note(format!(
        "{} sequences set; finishing {} remaining entries (foreign keys, views, attachments...)",
        sequences.len(),
        rest.len()
    ));
    finish(exec, target, &post, &rest, &build_settings, options.jobs).await?;
    if options.analyze {
        let parents: Vec<String> = inv
            .relations
            .iter()
            .filter(|r| matches!(r.relkind, 'p' | 'm'))
            .map(|r| format!("ANALYZE {};\n", qualified(&r.schema, &r.name)))
            .collect();
        if !parents.is_empty() {
            run_sql(
                exec,
                target,
                "analyze partitioned tables and materialized views",
                &parents.concat(),
            )
            .await?;
        }
    }
    let route = if source.host == target.host {
        format!("both ends on host `{}`", source.host)
    } else {
        format!(
            "`{}` -> `{}` through the controller",
            source.host, target.host
        )
    };
    Ok(CopyReport {
        source_version: version_text(ready.source_version),
        target_version: version_text(ready.target_version),
        tools: ready.tools.clone(),
        route,
        rows: done.iter().map(|t| t.rows).sum(),
        bytes: done.iter().map(|t| t.bytes).sum(),
        tables: done,
        large_objects: ready.facts.large_objects,
        sequences: sequences.len(),
        post_entries: post.entries.len(),
        seconds: 0.0,
    })
}

/// The table a post-data entry belongs to, for entries built right after that table's rows.
fn entry_table<'a>(
    e: &'a Entry,
    facts: &'a catalog::SourceFacts,
    tables: &[&'a inventory::Relation],
) -> Option<(&'a str, &'a str)> {
    match e.kind.as_str() {
        "INDEX" => facts
            .index_tables
            .get(&(e.schema.clone(), e.name.clone()))
            .map(|t| (e.schema.as_str(), t.as_str())),
        // Named `table object`; tables whose names contain spaces are matched whole.
        "CONSTRAINT" | "TRIGGER" | "RULE" | "POLICY" => tables
            .iter()
            .filter(|t| t.schema == e.schema && e.name.starts_with(&format!("{} ", t.name)))
            .max_by_key(|t| t.name.len())
            .map(|t| (e.schema.as_str(), t.name.as_str())),
        _ => None,
    }
}

/// The remaining entries in dump order; consecutive foreign keys run in parallel.
async fn finish(
    exec: &Executor,
    target: &Endpoint,
    post: &PostData,
    rest: &[&Entry],
    settings: &str,
    jobs: usize,
) -> Result<(), PgError> {
    let mut i = 0;
    while i < rest.len() {
        let fk = rest[i].kind == "FK CONSTRAINT";
        let mut j = i;
        while j < rest.len() && (rest[j].kind == "FK CONSTRAINT") == fk {
            j += 1;
        }
        let segment = &rest[i..j];
        if fk {
            for batch in segment.chunks(jobs.max(1)) {
                let runs = batch.iter().map(|e| {
                    let script = format!("{settings}{}", post.script(&[*e]));
                    let what = format!("create foreign key {}", e.name);
                    async move { run_sql(exec, target, &what, &script).await }
                });
                futures_util::future::try_join_all(runs).await?;
            }
        } else {
            let script = format!("{settings}{}", post.script(segment));
            run_sql(
                exec,
                target,
                "create the remaining post-data objects",
                &script,
            )
            .await?;
        }
        i = j;
    }
    Ok(())
}

/// The source's sequences as they are now (not in the snapshot: sequences are not
/// transactional, and a value read later is never behind).
async fn read_sequences(exec: &Executor, source: &Endpoint) -> Result<Vec<Sequence>, PgError> {
    let rows = copy_query(
        exec,
        source,
        "read the sequences",
        &[inventory::sequences_query()],
    )
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let v = |i: usize| r.get(i).cloned().flatten();
            Sequence {
                schema: v(0).unwrap_or_default(),
                name: v(1).unwrap_or_default(),
                last_value: v(2).and_then(|x| x.parse().ok()),
                start: v(3).and_then(|x| x.parse().ok()).unwrap_or(1),
                increment: v(4).and_then(|x| x.parse().ok()).unwrap_or(1),
            }
        })
        .collect())
}

/// Sets each sequence on the target to the source's position.
pub async fn set_sequences(
    exec: &Executor,
    target: &Endpoint,
    seqs: &[Sequence],
) -> Result<(), PgError> {
    if seqs.is_empty() {
        return Ok(());
    }
    let script: String = seqs
        .iter()
        .map(|s| {
            let name = literal(&qualified(&s.schema, &s.name));
            match s.last_value {
                Some(v) => format!("SELECT pg_catalog.setval({name}, {v}, true);\n"),
                None => format!("SELECT pg_catalog.setval({name}, {}, false);\n", s.start),
            }
        })
        .collect();
    run_sql(exec, target, "set the sequences", &script)
        .await
        .map(|_| ())
}
