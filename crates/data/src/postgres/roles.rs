//! Roles the schema needs, copied to the target (`roles = true` on `postgres.copy` and
//! `postgres.sync`): every role that owns or is granted objects on the source and does not
//! exist on the target is created from the source's definition (its attributes and its
//! memberships among the copied roles and the predefined `pg_*` ones). Passwords are never
//! read from the source: a created role gets the one the plan gives it from its secrets
//! ([`RolePasswords`]), sent as a SCRAM-SHA-256 verifier computed here, so that the password
//! itself reaches neither the server nor its statement log; a role the plan gives none has
//! no password (set by hand or by the application's own provisioning). Roles that exist on the target are left as they
//! are. A copy's rollback does not drop them: roles belong to the whole server, and objects
//! of other databases may come to depend on them.

use super::endpoint::Endpoint;
use super::error::PgError;
use super::session::{copy_query, run_sql};
use super::sql::literal;
use cutover_exec::Executor;
use std::collections::{BTreeMap, BTreeSet};

/// Passwords for the roles a copy creates, by role name. Its `Debug` shows names only.
#[derive(Clone, Default)]
pub struct RolePasswords(pub BTreeMap<String, String>);

impl std::fmt::Debug for RolePasswords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl RolePasswords {
    /// The statement giving `role` its password, if the plan gave one: a salted SCRAM-SHA-256
    /// verifier, which PostgreSQL stores as it is.
    fn statement(&self, role: &str) -> Option<String> {
        let password = self.0.get(role)?;
        let verifier = postgres_protocol::password::scram_sha_256(password.as_bytes());
        Some(format!(
            "ALTER ROLE {} PASSWORD {};",
            super::sql::ident(role),
            literal(&verifier)
        ))
    }

    /// The roles of `created` given a password, for the summary.
    pub fn summary(&self, created: &[String]) -> String {
        let with: Vec<&str> = created
            .iter()
            .filter(|r| self.0.contains_key(*r))
            .map(String::as_str)
            .collect();
        if created.is_empty() {
            String::new()
        } else if with.is_empty() {
            format!(
                "roles created on the target (without passwords): {}",
                created.join(", ")
            )
        } else {
            format!(
                "roles created on the target: {} (passwords from the plan's secrets: {})",
                created.join(", "),
                with.join(", ")
            )
        }
    }
}

/// The SQL creating `names` as the source defines them: a `CREATE ROLE` each, then the
/// memberships among them (and in predefined roles), each statement printed by the source
/// server itself so that every name is quoted by PostgreSQL.
fn definitions_query(names: &BTreeSet<String>) -> Vec<String> {
    let list = names
        .iter()
        .map(|n| literal(n))
        .collect::<Vec<_>>()
        .join(", ");
    vec![
        format!(
            "SELECT rolname, format('CREATE ROLE %I WITH %s %s %s %s %s %s %s CONNECTION LIMIT %s;', rolname,
               CASE WHEN rolsuper THEN 'SUPERUSER' ELSE 'NOSUPERUSER' END,
               CASE WHEN rolinherit THEN 'INHERIT' ELSE 'NOINHERIT' END,
               CASE WHEN rolcreaterole THEN 'CREATEROLE' ELSE 'NOCREATEROLE' END,
               CASE WHEN rolcreatedb THEN 'CREATEDB' ELSE 'NOCREATEDB' END,
               CASE WHEN rolcanlogin THEN 'LOGIN' ELSE 'NOLOGIN' END,
               CASE WHEN rolreplication THEN 'REPLICATION' ELSE 'NOREPLICATION' END,
               CASE WHEN rolbypassrls THEN 'BYPASSRLS' ELSE 'NOBYPASSRLS' END,
               rolconnlimit)
             FROM pg_roles WHERE rolname = ANY(ARRAY[{list}]::text[]) ORDER BY rolname"
        ),
        format!(
            "SELECT '', format('GRANT %I TO %I;', g.rolname, m.rolname)
             FROM pg_auth_members a JOIN pg_roles g ON g.oid = a.roleid JOIN pg_roles m ON m.oid = a.member
             WHERE m.rolname = ANY(ARRAY[{list}]::text[])
               AND (g.rolname = ANY(ARRAY[{list}]::text[]) OR g.rolname LIKE 'pg\\_%')
             ORDER BY 2"
        ),
    ]
}

/// Creates the roles of `missing` (names the target lacks) on the target server from the
/// source's definitions; returns the roles created. Roles the source does not have either
/// (a dangling owner) are left out and named by the caller's check.
pub async fn create_missing(
    exec: &Executor,
    source: &Endpoint,
    target: &Endpoint,
    missing: &BTreeSet<String>,
    passwords: &RolePasswords,
) -> Result<Vec<String>, PgError> {
    if missing.is_empty() {
        return Ok(Vec::new());
    }
    let rows = copy_query(
        exec,
        source,
        "read the roles' definitions on the source",
        &definitions_query(missing),
    )
    .await?;
    let cell = |r: &[Option<String>], i: usize| r.get(i).cloned().flatten().unwrap_or_default();
    let created: Vec<String> = rows
        .iter()
        .map(|r| cell(r, 0))
        .filter(|name| !name.is_empty())
        .collect();
    let statements: Vec<String> = rows
        .iter()
        .map(|r| cell(r, 1))
        .chain(created.iter().filter_map(|r| passwords.statement(r)))
        .collect();
    let sql = format!(
        "SET default_transaction_read_only = off;\nBEGIN;\n{}\nCOMMIT;\n",
        statements.join("\n")
    );
    run_sql(
        exec,
        &target.with_db("postgres"),
        "create the roles on the target",
        &sql,
    )
    .await?;
    Ok(created)
}

/// The refusal when roles the schema needs are missing and the plan does not copy them.
pub fn missing_refusal(missing: &[String]) -> PgError {
    let mut missing = missing.to_vec();
    missing.sort();
    PgError::precondition(
        format!(
            "role(s) owning or granted objects on the source do not exist on the target: {}",
            missing.join(", ")
        ),
        "set `roles = true` on the step to create them from the source's definitions (without passwords), or create them on the target yourself, or set no_owner / no_privileges",
    )
}
