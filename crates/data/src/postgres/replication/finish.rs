//! The end of a switch's way back: once the run no longer needs to roll back, the reverse
//! replication ends and the replication objects cutover created on both servers are
//! dropped, so that neither server keeps WAL for a slot nobody reads. The target database's
//! marker says `finishing` before anything is dropped and `finished` at the end: from the
//! first, an undo of the switch is refused (writes made on the target can no longer go
//! back), and a repeat finishes what an interrupted attempt left.

use super::super::copy::target;
use super::super::endpoint::Endpoint;
use super::super::error::PgError;
use super::super::session::run_sql;
use super::super::sql::{ident, literal};
use super::switch::{switch_marker, SwitchOptions, END_CLIENT_SESSIONS, REVERSE};
use super::{checks, parse_marker, sides, subscription_exists};
use cutover_exec::Executor;

/// What the source database is left as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceAfter {
    /// Read-only for every session (the switch's freeze kept, cutover's own role included).
    ReadOnly,
    /// Writable, sessions opened during the freeze ended.
    Writable,
}

/// The refusal of an undo once the reverse replication has been ended.
pub(crate) fn refusal(db: &str) -> PgError {
    PgError::precondition(
        format!("the reverse replication into the source was ended (database `{db}` on the target is marked finished): writes made on the target since the switch can no longer go back to the source"),
        "the switch cannot be undone any more; to go back, migrate again in the other direction (a new plan with old and new swapped)",
    )
}

/// Ends what the switch left running; idempotent. Returns what was done, one phrase each.
pub async fn finish(
    exec: &Executor,
    source: &Endpoint,
    target: &Endpoint,
    options: &SwitchOptions,
    after: SourceAfter,
) -> Result<Vec<String>, PgError> {
    let s = sides(exec, source, target).await?;
    let (source, target) = (&s.source, &s.target);
    let state = target::state(exec, target).await?;
    let (created, stage) = parse_marker(state.comment.as_deref())
        .filter(|_| state.exists)
        .unwrap_or((false, "none".into()));
    if !matches!(stage.as_str(), "switched" | "finishing" | "finished") {
        return Err(PgError::precondition(
            format!(
                "database `{}` on the target records no finished switch (its state: {stage}): there is nothing to finish",
                target.db
            ),
            "run the postgres.switch step first; finish only ends what a switch left running",
        ));
    }
    let marker = |stage: &str| switch_marker(source, stage, created, options);
    target::set_comment(exec, target, &marker("finishing")).await?;
    let mut done = Vec::new();
    if subscription_exists(exec, source, REVERSE).await? {
        // Dropping the subscription drops its slot on the target too.
        run_sql(
            exec,
            source,
            "drop the reverse subscription on the source",
            &format!("SET default_transaction_read_only = off;\nDROP SUBSCRIPTION {REVERSE};\n"),
        )
        .await?;
        done.push(format!(
            "reverse subscription `{REVERSE}` dropped on {}",
            source.host
        ));
    }
    run_sql(
        exec,
        target,
        "drop the reverse publication and slot on the target",
        &drop_replication(REVERSE, REVERSE),
    )
    .await?;
    let reverted = checks::revert_identity(exec, source, &options.sync.publication).await?;
    if reverted > 0 {
        done.push(format!("replica identity restored on {reverted} table(s)"));
    }
    run_sql(
        exec,
        source,
        "drop the sync's publication and slot on the source",
        &drop_replication(&options.sync.publication, &options.sync.subscription),
    )
    .await?;
    done.push(format!(
        "publications and slots dropped on {} and {}",
        source.host, target.host
    ));
    run_sql(
        exec,
        source,
        "set the source's writes",
        &source_sql(source, after),
    )
    .await?;
    done.push(match after {
        SourceAfter::ReadOnly => {
            format!("database `{}` on {} left read-only", source.db, source.host)
        }
        SourceAfter::Writable => format!(
            "database `{}` on {} writable again (sessions opened during the freeze ended)",
            source.db, source.host
        ),
    });
    target::set_comment(exec, target, &marker("finished")).await?;
    Ok(done)
}

/// Drops publication `publication` and slot `slot` (when no walsender uses it: a
/// subscription still running elsewhere keeps it, and says so in the server's log).
fn drop_replication(publication: &str, slot: &str) -> String {
    format!(
        "SET default_transaction_read_only = off;\nSELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = {} AND NOT active;\nDROP PUBLICATION IF EXISTS {};\n",
        literal(slot),
        ident(publication)
    )
}

/// The source's default transactions: read-only for every role (the exception the reverse
/// subscription's worker needed removed), or writable with the frozen sessions ended.
fn source_sql(source: &Endpoint, after: SourceAfter) -> String {
    let (db, role) = (ident(&source.db), ident(&source.user));
    match after {
        SourceAfter::ReadOnly => format!(
            "SET default_transaction_read_only = off;\nALTER DATABASE {db} SET default_transaction_read_only = on;\nALTER ROLE {role} IN DATABASE {db} RESET default_transaction_read_only;\n"
        ),
        SourceAfter::Writable => format!(
            "SET default_transaction_read_only = off;\nALTER DATABASE {db} RESET default_transaction_read_only;\nALTER ROLE {role} IN DATABASE {db} RESET default_transaction_read_only;\n{END_CLIENT_SESSIONS}\n"
        ),
    }
}

/// What a switch left running, as found on the servers (for `cutover status`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeftRunning {
    /// The reverse subscription, in the source database.
    pub reverse_subscription: bool,
    /// The reverse slot, on the target server (it keeps WAL until dropped).
    pub reverse_slot: bool,
    /// The sync's publication, in the source database.
    pub publication: bool,
    /// The source database's default transactions are read-only.
    pub source_frozen: bool,
}

/// Looks for what the switch left running.
pub async fn left_running(
    exec: &Executor,
    source: &Endpoint,
    target: &Endpoint,
    options: &SwitchOptions,
) -> Result<LeftRunning, PgError> {
    use super::super::session::copy_query;
    let s = sides(exec, source, target).await?;
    let one = |rows: &[Vec<Option<String>>], i: usize| {
        rows.get(i)
            .and_then(|r| r.first().cloned().flatten())
            .is_some_and(|v| v != "0")
    };
    let on_source = copy_query(
        exec,
        &s.source,
        "look for what the switch left on the source",
        &[
            format!("SELECT count(*) FROM pg_subscription WHERE subname = '{REVERSE}' AND subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())"),
            format!(
                "SELECT count(*) FROM pg_publication WHERE pubname = {}",
                literal(&options.sync.publication)
            ),
            "SELECT count(*) FROM pg_db_role_setting r JOIN pg_database d ON d.oid = r.setdatabase WHERE d.datname = current_database() AND r.setrole = 0 AND 'default_transaction_read_only=on' = ANY(r.setconfig)".into(),
        ],
    )
    .await?;
    let on_target = copy_query(
        exec,
        &s.target,
        "look for what the switch left on the target",
        &[format!(
            "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{REVERSE}'"
        )],
    )
    .await?;
    Ok(LeftRunning {
        reverse_subscription: one(&on_source, 0),
        publication: one(&on_source, 1),
        source_frozen: one(&on_source, 2),
        reverse_slot: one(&on_target, 0),
    })
}

/// True when the target database records a finished `finish`.
pub async fn is_finished(
    exec: &Executor,
    source: &Endpoint,
    target: &Endpoint,
) -> Result<bool, PgError> {
    let s = sides(exec, source, target).await?;
    let state = target::state(exec, &s.target).await?;
    Ok(state.exists
        && parse_marker(state.comment.as_deref()).is_some_and(|(_, st)| st == "finished"))
}
