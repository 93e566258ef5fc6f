//! Logical replication for near-zero downtime: the target kept in sync with the source until
//! the switch ([`sync`]), then the switch itself ([`switch::switch`]): writes frozen on the
//! source, the target waits until it has replayed the source's last write, sequences are
//! advanced, the subscription dropped, and the freeze window measured.
//!
//! What logical replication does not carry, and how cutover handles it: sequences (set at
//! the switch), DDL (the schema is copied first; a change made during the sync is caught
//! before the switch, see [`drift`]), large objects (refused: copy them with
//! `postgres.copy` under a write freeze instead).

mod checks;
pub mod drift;
pub mod finish;
mod leftovers;
pub mod switch;

pub use leftovers::{leftovers, Leftovers};

use super::copy::target::{self, TargetState};
use super::endpoint::Endpoint;
use super::error::PgError;
use super::session::{copy_query, run_sql, tool_error};
use super::sql::{conninfo_value, ident, literal};
use super::tools::{self, major_of};
use super::verify::version_text;
use cutover_exec::Executor;
use std::time::{Duration, Instant};

/// Names and settings of a sync.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// Publication created on the source.
    pub publication: String,
    /// Subscription created on the target (also the replication slot's name).
    pub subscription: String,
    /// How the target *server* reaches the source server (host or address) for the
    /// subscription's connection.
    pub source_address: String,
    /// Set `REPLICA IDENTITY FULL` on source tables that have no primary key (a change on
    /// the source, undone by rollback) instead of refusing to start.
    pub replica_identity_full: bool,
    /// Objects owned by the target's connecting role (`--no-owner`).
    pub no_owner: bool,
    /// Privileges left out (`--no-privileges`).
    pub no_privileges: bool,
    /// Create the roles the schema needs that the target lacks (see
    /// [`crate::postgres::roles`]); otherwise their absence is refused before anything starts.
    pub roles: bool,
    /// Passwords for the roles `roles` creates.
    pub role_passwords: super::roles::RolePasswords,
    /// Give up waiting for the initial sync after this long.
    pub timeout: Duration,
    /// The sync is done once the target is less than this many bytes behind.
    pub max_lag_bytes: u64,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            publication: "cutover".into(),
            subscription: "cutover".into(),
            source_address: "localhost".into(),
            replica_identity_full: false,
            no_owner: false,
            no_privileges: false,
            roles: false,
            role_passwords: Default::default(),
            timeout: Duration::from_secs(24 * 3600),
            max_lag_bytes: 1 << 20,
        }
    }
}

/// How far behind the target is.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Lag {
    /// WAL bytes the target has not confirmed yet.
    pub bytes: u64,
    /// Seconds behind (the source's replay lag for the subscription; 0 when caught up).
    pub seconds: f64,
}

/// What a finished sync setup reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SyncReport {
    /// Source server version.
    pub source_version: String,
    /// Target server version.
    pub target_version: String,
    /// Tables replicated.
    pub tables: usize,
    /// Tables given `REPLICA IDENTITY FULL`.
    pub identity_full: Vec<String>,
    /// Seconds the initial copy of the rows took.
    pub initial_sync_seconds: f64,
    /// Lag when the step finished.
    pub lag: Lag,
    /// Seconds in all.
    pub seconds: f64,
}

/// Progress lines.
pub type Progress<'a> = &'a (dyn Fn(String) + Send + Sync);

/// Both sides with their tools, and their versions.
pub(crate) struct Sides {
    pub(crate) source: Endpoint,
    pub(crate) target: Endpoint,
    pub(crate) source_version: u32,
    pub(crate) target_version: u32,
}

/// Finds the tools (the target's major on both hosts) and the servers' versions.
pub(crate) async fn sides(
    exec: &Executor,
    source: &Endpoint,
    target: &Endpoint,
) -> Result<Sides, PgError> {
    let (mut source, mut target) = (source.clone(), target.clone());
    // One search per host, one round trip: the tools to read the versions with and those
    // of the target's major are both picked from it (every PostgreSQL step starts here; a
    // move back waits for it before undoing a switch).
    let (found_s, found_t) = tokio::join!(
        tools::find(
            exec,
            &source.host,
            source.bin.as_deref(),
            source.container.as_deref()
        ),
        tools::find(
            exec,
            &target.host,
            target.bin.as_deref(),
            target.container.as_deref()
        )
    );
    let (found_s, found_t) = (found_s?, found_t?);
    let (mut sp, mut tp) = (source.clone(), target.with_db("postgres"));
    sp.bin = Some(tools::choose(&found_s, &source, None, false, 0)?.bin);
    tp.bin = Some(tools::choose(&found_t, &target, None, false, 0)?.bin);
    let (sv, tv) = tokio::join!(
        tools::server_version(exec, &sp),
        tools::server_version(exec, &tp)
    );
    let (sv, tv) = (sv?, tv?);
    tools::check_supported(&source, sv)?;
    let (smaj, tmaj) = (major_of(sv), major_of(tv));
    if tmaj < smaj {
        return Err(PgError::precondition(
            format!("the target server runs PostgreSQL {tmaj}, older than the source's {smaj}"),
            "replicate to the same or a newer major version",
        ));
    }
    source.bin = Some(tools::choose(&found_s, &source, Some(tmaj), true, smaj)?.bin);
    target.bin = Some(tools::choose(&found_t, &target, Some(tmaj), true, smaj)?.bin);
    Ok(Sides {
        source,
        target,
        source_version: sv,
        target_version: tv,
    })
}

const MARKER: &str = "cutover sync";

/// The target database's sync marker text.
pub(crate) fn marker(source: &Endpoint, state: &str, created: bool) -> String {
    format!(
        "{MARKER} from {}; state={state}; created={}",
        source.describe(),
        if created { "yes" } else { "no" }
    )
}

/// (is a sync marker, created by cutover, state).
pub(crate) fn parse_marker(comment: Option<&str>) -> Option<(bool, String)> {
    let c = comment.filter(|c| c.starts_with(MARKER))?;
    let state = c
        .split("; ")
        .find_map(|p| p.strip_prefix("state="))
        .unwrap_or("syncing")
        .to_string();
    Some((c.contains("created=yes"), state))
}

/// True when `subscription` exists in the target database.
pub(crate) async fn subscription_exists(
    exec: &Executor,
    target: &Endpoint,
    name: &str,
) -> Result<bool, PgError> {
    let rows = copy_query(
        exec,
        target,
        "look for the subscription",
        &[format!(
            "SELECT 1 FROM pg_subscription WHERE subname = {} AND subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
            literal(name)
        )],
    )
    .await?;
    Ok(!rows.is_empty())
}

/// Sets up the sync (idempotent: an interrupted setup resumes, a running sync is only
/// waited for) and returns once the initial copy is done and the lag is under the limit.
pub async fn sync(
    exec: &Executor,
    source: &Endpoint,
    target: &Endpoint,
    options: &SyncOptions,
    progress: Progress<'_>,
) -> Result<SyncReport, PgError> {
    let started = Instant::now();
    let s = sides(exec, source, target).await?;
    let (source, target) = (&s.source, &s.target);
    let state = target::state(exec, target).await?;
    let running = state.exists && subscription_exists(exec, target, &options.subscription).await?;
    let mut identity_full = Vec::new();
    if !running {
        let keyless = checks::publisher(exec, source, options).await?;
        needed_roles(exec, &s, options, progress).await?;
        prepare_target(exec, &s, &state, options, progress).await?;
        create_publication(exec, source, &options.publication).await?;
        checks::set_identity_full(exec, source, &options.publication, &keyless).await?;
        identity_full = keyless.iter().map(|(s, t)| format!("{s}.{t}")).collect();
        create_subscription(exec, &s, options, Start::Copy).await?;
        progress("subscription created: the initial copy of the rows has begun".into());
    } else {
        progress("the subscription exists already: waiting for it".into());
    }
    let synced = Instant::now();
    wait_initial_sync(exec, target, options, progress).await?;
    let initial_sync_seconds = synced.elapsed().as_secs_f64();
    let lag = wait_lag(exec, &s, options, options.max_lag_bytes, progress).await?;
    let tables = table_count(exec, target, &options.subscription).await?;
    Ok(SyncReport {
        source_version: version_text(s.source_version),
        target_version: version_text(s.target_version),
        tables,
        identity_full,
        initial_sync_seconds,
        lag,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The roles owning or granted the source's objects (as far as the schema copy keeps
/// them) exist on the target: created from the source's definitions with `roles`, else
/// their absence is refused naming each, before anything is created.
async fn needed_roles(
    exec: &Executor,
    s: &Sides,
    options: &SyncOptions,
    progress: Progress<'_>,
) -> Result<(), PgError> {
    let facts = super::copy::catalog::read(exec, &s.source).await?;
    let mut roles = std::collections::BTreeSet::new();
    if !options.no_owner {
        roles.extend(facts.owners);
    }
    if !options.no_privileges {
        roles.extend(facts.grantees);
    }
    let (missing, _) =
        super::copy::catalog::missing_on_target(exec, &s.target, &roles, &Default::default())
            .await?;
    if missing.is_empty() {
        return Ok(());
    }
    if !options.roles {
        return Err(super::roles::missing_refusal(&missing));
    }
    let wanted = missing.into_iter().collect();
    let created =
        super::roles::create_missing(exec, &s.source, &s.target, &wanted, &options.role_passwords)
            .await?;
    progress(options.role_passwords.summary(&created));
    Ok(())
}

/// A new (or interrupted, cutover-created) target database with the source's schema.
async fn prepare_target(
    exec: &Executor,
    s: &Sides,
    state: &TargetState,
    options: &SyncOptions,
    progress: Progress<'_>,
) -> Result<(), PgError> {
    let (source, target) = (&s.source, &s.target);
    let ours = parse_marker(state.comment.as_deref());
    let encoding = source_encoding(exec, source).await?;
    match (state.exists, ours) {
        (false, _) => {}
        (true, Some((true, _))) => {
            progress("dropping the target database of an interrupted sync setup".into());
            target::drop(exec, target).await?;
        }
        (true, _) if state.objects == 0 => {
            target::set_comment(exec, target, &marker(source, "syncing", false)).await?;
            return copy_schema(exec, s, options).await;
        }
        (true, _) => {
            return Err(PgError::precondition(
                format!("database `{}` on the target is not empty ({} objects) and was not created by cutover", target.db, state.objects),
                "replicate into a new or empty database: drop it, empty it, or choose another `db`",
            ))
        }
    }
    target::create_marked(exec, target, &encoding, &marker(source, "syncing", true)).await?;
    copy_schema(exec, s, options).await
}

async fn source_encoding(exec: &Executor, source: &Endpoint) -> Result<String, PgError> {
    let rows = copy_query(exec, source, "read the source's encoding", &["SELECT pg_encoding_to_char(encoding) FROM pg_database WHERE datname = current_database()".into()]).await?;
    Ok(rows
        .first()
        .and_then(|r| r.first().cloned().flatten())
        .unwrap_or_else(|| "UTF8".into()))
}

/// The whole schema (indexes included: the subscriber applies updates through the keys).
async fn copy_schema(exec: &Executor, s: &Sides, options: &SyncOptions) -> Result<(), PgError> {
    let mut args: Vec<String> = ["--schema-only", "--no-publications", "--no-subscriptions"]
        .map(String::from)
        .to_vec();
    if options.no_owner {
        args.push("--no-owner".into());
    }
    if options.no_privileges {
        args.push("--no-privileges".into());
    }
    let restore = [
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "--single-transaction",
        "-f",
        "-",
    ]
    .map(String::from)
    .to_vec();
    let mut quiet = |_| {};
    super::copy::stream::pipe(
        exec,
        "copy the schema",
        (&s.source, "pg_dump", args),
        (&s.target, "psql", restore),
        &mut quiet,
    )
    .await
    .map(|_| ())
}

async fn create_publication(exec: &Executor, source: &Endpoint, name: &str) -> Result<(), PgError> {
    let sql = format!(
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = {lit}) THEN CREATE PUBLICATION {id} FOR ALL TABLES; END IF; END $$;\n",
        lit = literal(name),
        id = ident(name)
    );
    run_sql(exec, source, "create the publication on the source", &sql)
        .await
        .map(|_| ())
}

/// The libpq connection string the target server uses to reach the source (password
/// included: it is stored in the subscription, readable by superusers only; it travels to
/// psql over standard input, never on a command line).
pub(crate) fn conninfo(source: &Endpoint, address: &str) -> String {
    let mut parts = vec![
        format!("host={}", conninfo_value(address)),
        format!("port={}", source.port),
        format!("dbname={}", conninfo_value(&source.db)),
        format!("user={}", conninfo_value(&source.user)),
        "application_name=cutover".into(),
    ];
    if let Some(pw) = &source.password {
        parts.push(format!("password={}", conninfo_value(pw.expose())));
    }
    if let Some(mode) = &source.sslmode {
        parts.push(format!("sslmode={}", conninfo_value(mode)));
    }
    parts.join(" ")
}

/// Where a new subscription starts.
pub(super) enum Start {
    /// A slot made now, and every table copied.
    Copy,
    /// The slot cutover made on the source (named as the subscription) while its writes
    /// were frozen: the target already holds every row up to it.
    FromSlot,
}

/// Creates the subscription of the sync on the target, starting as `start` says.
pub(super) async fn create_subscription(
    exec: &Executor,
    s: &Sides,
    options: &SyncOptions,
    start: Start,
) -> Result<(), PgError> {
    let with = match start {
        Start::Copy => "copy_data = true".to_string(),
        Start::FromSlot => format!(
            "copy_data = false, create_slot = false, slot_name = {}",
            literal(&options.subscription)
        ),
    };
    // The target may be frozen read-only for applications (a switch being undone).
    let sql = format!(
        "SET default_transaction_read_only = off;\nCREATE SUBSCRIPTION {} CONNECTION {} PUBLICATION {} WITH ({with}, synchronous_commit = 'off');\n",
        ident(&options.subscription),
        literal(&conninfo(&s.source, &options.source_address)),
        ident(&options.publication)
    );
    let cmd =
        s.target
            .command("psql", super::session::PSQL_SCRIPT)
            .stdin(cutover_exec::Stdin::Bytes(
                format!("{}{sql}", super::session::SESSION_SETUP).into_bytes(),
            ));
    let out = exec.run(&cmd).await?;
    if !out.success() {
        let mut e = tool_error("create the subscription on the target", &s.target, &out);
        if let PgError::Tool { hint, class, .. } = &mut e {
            // The target could not reach the source, or was refused by it.
            if *class == cutover_exec::FailureClass::Failed {
                *class = cutover_exec::FailureClass::Unreachable;
            }
            *hint = Some(format!(
                "the target server itself connects to the source at {}:{} (`source_address`): check that address, the source's listen_addresses and pg_hba.conf (a `host {} ...` line for the replication user), and the user's REPLICATION privilege",
                options.source_address, s.source.port, s.source.db
            ));
        }
        return Err(e);
    }
    Ok(())
}

/// Waits until every table of the subscription is synchronised, reporting progress and
/// failing on a worker error.
async fn wait_initial_sync(
    exec: &Executor,
    target: &Endpoint,
    options: &SyncOptions,
    progress: Progress<'_>,
) -> Result<(), PgError> {
    let deadline = Instant::now() + options.timeout;
    let query = format!(
        "SELECT count(*) FILTER (WHERE r.srsubstate IN ('r', 's')), count(*) FROM pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid WHERE s.subname = {}",
        literal(&options.subscription)
    );
    let mut last = String::new();
    loop {
        let rows = copy_query(
            exec,
            target,
            "watch the initial sync",
            std::slice::from_ref(&query),
        )
        .await?;
        let v = |i: usize| {
            rows.first()
                .and_then(|r| r.get(i).cloned().flatten())
                .and_then(|x| x.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let (ready, total) = (v(0), v(1));
        let line = format!("initial sync: {ready}/{total} tables copied");
        if line != last {
            progress(line.clone());
            last = line;
        }
        if ready == total {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(PgError::precondition(
                format!("the initial sync did not finish in {:?} ({ready}/{total} tables)", options.timeout),
                "look at the target server's log for subscription errors (missing tables, duplicate keys, permissions)",
            ));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The current lag of the subscription.
pub async fn lag(exec: &Executor, source: &Endpoint, slot: &str) -> Result<Lag, PgError> {
    let rows = copy_query(
        exec,
        source,
        "read the replication lag",
        &[format!(
            "SELECT (pg_current_wal_lsn() - s.confirmed_flush_lsn)::bigint, coalesce(extract(epoch FROM r.replay_lag), 0)
             FROM pg_replication_slots s LEFT JOIN pg_stat_replication r ON r.pid = s.active_pid WHERE s.slot_name = {}",
            literal(slot)
        )],
    )
    .await?;
    let row = rows.first().ok_or_else(|| {
        PgError::precondition(
            format!("no replication slot `{slot}` on the source"),
            "the subscription is gone or was never created: run the sync step again",
        )
    })?;
    let v = |i: usize| {
        row.get(i)
            .cloned()
            .flatten()
            .and_then(|x| x.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    Ok(Lag {
        bytes: v(0).max(0.0) as u64,
        seconds: v(1),
    })
}

async fn wait_lag(
    exec: &Executor,
    s: &Sides,
    options: &SyncOptions,
    under: u64,
    progress: Progress<'_>,
) -> Result<Lag, PgError> {
    let deadline = Instant::now() + options.timeout;
    let mut shown = Instant::now() - Duration::from_secs(10);
    loop {
        let l = lag(exec, &s.source, &options.subscription).await?;
        if l.bytes <= under {
            progress(format!("lag: {} bytes, {:.3}s", l.bytes, l.seconds));
            return Ok(l);
        }
        if shown.elapsed() >= Duration::from_secs(2) {
            progress(format!(
                "catching up: {} bytes, {:.3}s behind",
                l.bytes, l.seconds
            ));
            shown = Instant::now();
        }
        if Instant::now() > deadline {
            return Err(PgError::precondition(
                format!("the target stayed {} bytes behind for {:?}", l.bytes, options.timeout),
                "the source writes faster than the target applies: look at the target's log and load",
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn table_count(
    exec: &Executor,
    target: &Endpoint,
    subscription: &str,
) -> Result<usize, PgError> {
    let rows = copy_query(exec, target, "count the replicated tables", &[format!(
        "SELECT count(*) FROM pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid WHERE s.subname = {}",
        literal(subscription)
    )]).await?;
    Ok(rows
        .first()
        .and_then(|r| r.first().cloned().flatten())
        .and_then(|x| x.parse().ok())
        .unwrap_or(0))
}

/// True when the sync is in place: the subscription exists and every table is synchronised.
pub async fn is_running(
    exec: &Executor,
    source: &Endpoint,
    target: &Endpoint,
    options: &SyncOptions,
) -> Result<bool, PgError> {
    let s = sides(exec, source, target).await?;
    let state = target::state(exec, &s.target).await?;
    if !state.exists || !subscription_exists(exec, &s.target, &options.subscription).await? {
        return Ok(false);
    }
    let rows = copy_query(exec, &s.target, "check the subscription", &[format!(
        "SELECT count(*) FROM pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid WHERE s.subname = {} AND r.srsubstate NOT IN ('r', 's')",
        literal(&options.subscription)
    )]).await?;
    Ok(rows
        .first()
        .and_then(|r| r.first().cloned().flatten())
        .as_deref()
        == Some("0"))
}

/// Undoes a sync before the switch: the subscription dropped (its slot with it), the
/// publication dropped, identity changes reverted, and the target database dropped when
/// cutover created it. The source is left as it was.
pub async fn undo_sync(
    exec: &Executor,
    source: &Endpoint,
    target: &Endpoint,
    options: &SyncOptions,
) -> Result<String, PgError> {
    let s = sides(exec, source, target).await?;
    let mut done = Vec::new();
    let state = target::state(exec, &s.target).await?;
    if state.exists && subscription_exists(exec, &s.target, &options.subscription).await? {
        run_sql(
            exec,
            &s.target,
            "drop the subscription",
            &format!("DROP SUBSCRIPTION {};\n", ident(&options.subscription)),
        )
        .await?;
        done.push("subscription dropped".to_string());
    }
    let reverted = checks::revert_identity(exec, &s.source, &options.publication).await?;
    if reverted > 0 {
        done.push(format!("replica identity restored on {reverted} table(s)"));
    }
    // The slot, if the subscription could not drop it (e.g. the target was rebuilt).
    run_sql(exec, &s.source, "drop the replication slot", &format!(
        "SET default_transaction_read_only = off;\nSELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = {} AND NOT active;\nDROP PUBLICATION IF EXISTS {};\n",
        literal(&options.subscription), ident(&options.publication)
    )).await?;
    done.push("publication dropped".into());
    if state.exists && parse_marker(state.comment.as_deref()).is_some_and(|(created, _)| created) {
        target::drop(exec, &s.target).await?;
        done.push(format!("target database `{}` dropped", s.target.db));
    }
    Ok(done.join(", "))
}
