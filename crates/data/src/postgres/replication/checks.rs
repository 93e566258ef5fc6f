//! Whether the source can publish: `wal_level = logical`, free replication slots and WAL
//! senders, a role allowed to replicate, no large objects (not replicated), and a replica
//! identity on every table (without one, UPDATE and DELETE on the source would *fail* once
//! the table is published). Tables without a key are reported with the fix, or given
//! `REPLICA IDENTITY FULL` when the plan allows it; that change is remembered in the
//! publication's comment and reverted by rollback.

use super::super::endpoint::Endpoint;
use super::super::error::PgError;
use super::super::session::{copy_query, run_sql};
use super::super::sql::{ident, literal, qualified};
use super::SyncOptions;
use cutover_exec::Executor;

/// Checks the source; returns the tables that lack a replica identity (to be given one).
pub async fn publisher(
    exec: &Executor,
    source: &Endpoint,
    options: &SyncOptions,
) -> Result<Vec<(String, String)>, PgError> {
    let rows = copy_query(exec, source, "check the source for logical replication", &[
        "SELECT 'wal_level', current_setting('wal_level'), ''".into(),
        "SELECT 'slots', (current_setting('max_replication_slots')::int - (SELECT count(*) FROM pg_replication_slots))::text, ''".into(),
        "SELECT 'senders', (current_setting('max_wal_senders')::int - (SELECT count(*) FROM pg_stat_replication))::text, ''".into(),
        "SELECT 'role', (rolsuper OR rolreplication)::text, '' FROM pg_roles WHERE rolname = current_user".into(),
        "SELECT 'lo', count(*)::text, '' FROM pg_largeobject_metadata".into(),
        "SELECT 'no_identity', n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
           AND (c.relreplident = 'n' OR (c.relreplident = 'd' AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)))
         ORDER BY 2, 3".into(),
    ]).await?;
    let mut missing = Vec::new();
    let mut problems = Vec::new();
    let who = source.describe();
    for row in rows {
        let v = |i: usize| row.get(i).cloned().flatten().unwrap_or_default();
        match v(0).as_str() {
            "wal_level" if v(1) != "logical" => problems.push((
                format!("wal_level is `{}` on the source {who}, not `logical`", v(1)),
                "run `ALTER SYSTEM SET wal_level = logical;` on the source and restart it (the only restart logical replication needs)".to_string(),
            )),
            "slots" if v(1).parse::<i64>().unwrap_or(0) < 3 => problems.push((
                format!("only {} replication slot(s) free on the source (one for the subscription, two for the initial table copies)", v(1)),
                "raise max_replication_slots on the source (restart needed) or drop unused slots".into(),
            )),
            "senders" if v(1).parse::<i64>().unwrap_or(0) < 3 => problems.push((
                format!("only {} WAL sender(s) free on the source", v(1)),
                "raise max_wal_senders on the source (restart needed)".into(),
            )),
            "role" if v(1) != "true" => problems.push((
                format!("role `{}` may not replicate from the source", source.user),
                format!("connect as a superuser, or `ALTER ROLE {} REPLICATION` and make it own every table", source.user),
            )),
            "lo" if v(1) != "0" => problems.push((
                format!("the source has {} large object(s), which logical replication does not carry", v(1)),
                "copy the database with `postgres.copy` under a write freeze instead, or move the large objects into bytea columns".into(),
            )),
            "no_identity" => missing.push((v(1), v(2))),
            _ => {}
        }
    }
    if !missing.is_empty() && !options.replica_identity_full {
        let names: Vec<String> = missing.iter().map(|(s, t)| format!("{s}.{t}")).collect();
        let fixes: Vec<String> = missing
            .iter()
            .map(|(s, t)| format!("ALTER TABLE {} REPLICA IDENTITY FULL;", qualified(s, t)))
            .collect();
        problems.push((
            format!("table(s) without a primary key or replica identity: {} (once published, UPDATE and DELETE on them would fail on the source)", names.join(", ")),
            format!("add a primary key, or run on the source: {} (or set replica_identity_full = true to let cutover do it and undo it on rollback)", fixes.join(" ")),
        ));
    }
    if let Some((problem, hint)) = problems.into_iter().next() {
        return Err(PgError::precondition(problem, hint));
    }
    Ok(missing)
}

/// Gives `tables` `REPLICA IDENTITY FULL` and remembers them in the publication's comment.
pub async fn set_identity_full(
    exec: &Executor,
    source: &Endpoint,
    publication: &str,
    tables: &[(String, String)],
) -> Result<(), PgError> {
    if tables.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = tables.iter().map(|(s, t)| qualified(s, t)).collect();
    let mut sql: String = names
        .iter()
        .map(|n| format!("ALTER TABLE {n} REPLICA IDENTITY FULL;\n"))
        .collect();
    let list = serde_json::to_string(&names).unwrap_or_default();
    sql.push_str(&format!(
        "COMMENT ON PUBLICATION {} IS {};\n",
        ident(publication),
        literal(&format!("cutover identity_full={list}"))
    ));
    run_sql(
        exec,
        source,
        "set REPLICA IDENTITY FULL on tables without a key",
        &sql,
    )
    .await
    .map(|_| ())
}

/// Restores `REPLICA IDENTITY DEFAULT` on the tables cutover changed; returns how many.
pub async fn revert_identity(
    exec: &Executor,
    source: &Endpoint,
    publication: &str,
) -> Result<usize, PgError> {
    let rows = copy_query(
        exec,
        source,
        "read the publication's note",
        &[format!(
            "SELECT obj_description(oid, 'pg_publication') FROM pg_publication WHERE pubname = {}",
            literal(publication)
        )],
    )
    .await?;
    let Some(note) = rows.first().and_then(|r| r.first().cloned().flatten()) else {
        return Ok(0);
    };
    let Some(list) = note.strip_prefix("cutover identity_full=") else {
        return Ok(0);
    };
    let names: Vec<String> = serde_json::from_str(list).unwrap_or_default();
    if names.is_empty() {
        return Ok(0);
    }
    let sql: String = std::iter::once("SET default_transaction_read_only = off;\n".to_string())
        .chain(
            names
                .iter()
                .map(|n| format!("ALTER TABLE {n} REPLICA IDENTITY DEFAULT;\n")),
        )
        .collect();
    run_sql(exec, source, "restore the replica identity", &sql).await?;
    Ok(names.len())
}
