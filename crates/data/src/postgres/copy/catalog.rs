//! What the copier needs to know about the source beyond its inventory (which tables, columns
//! and sequences it has): which table each index belongs to, whether it has large objects,
//! its encoding, and the roles and extensions the target must already have.

use super::super::endpoint::Endpoint;
use super::super::error::PgError;
use super::super::session::copy_query;
use super::super::sql::literal;
use cutover_exec::Executor;
use std::collections::{BTreeSet, HashMap};

/// Source facts for a copy.
#[derive(Debug, Clone, Default)]
pub struct SourceFacts {
    /// (schema, index) -> table.
    pub index_tables: HashMap<(String, String), String>,
    /// Number of large objects.
    pub large_objects: u64,
    /// The database's encoding (`UTF8`).
    pub encoding: String,
    /// Roles owning objects.
    pub owners: BTreeSet<String>,
    /// Roles granted privileges on objects.
    pub grantees: BTreeSet<String>,
    /// Extensions installed.
    pub extensions: BTreeSet<String>,
}

const USER: &str =
    "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'";

/// Reads the facts, inside `snapshot` when given.
pub async fn read(exec: &Executor, ep: &Endpoint) -> Result<SourceFacts, PgError> {
    let queries = vec![
        format!("SELECT 'index', n.nspname, ic.relname, t.relname FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = ic.relnamespace WHERE {USER}"),
        "SELECT 'lo', count(*)::text, '', '' FROM pg_largeobject_metadata".into(),
        "SELECT 'encoding', pg_encoding_to_char(encoding), '', '' FROM pg_database WHERE datname = current_database()".into(),
        format!(
            "SELECT DISTINCT 'owner', r, '', '' FROM (
               SELECT pg_get_userbyid(c.relowner) r FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {USER}
               UNION SELECT pg_get_userbyid(n.nspowner) FROM pg_namespace n WHERE {USER}
               UNION SELECT pg_get_userbyid(p.proowner) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE {USER}
               UNION SELECT pg_get_userbyid(t.typowner) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE {USER}
               UNION SELECT pg_get_userbyid(m.lomowner) FROM pg_largeobject_metadata m) s"
        ),
        format!(
            "SELECT DISTINCT 'grantee', pg_get_userbyid(a.grantee), '', '' FROM (
               SELECT (aclexplode(c.relacl)).grantee FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {USER}
               UNION ALL SELECT (aclexplode(n.nspacl)).grantee FROM pg_namespace n WHERE {USER}
               UNION ALL SELECT (aclexplode(p.proacl)).grantee FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE {USER}
             ) a WHERE a.grantee <> 0"
        ),
        "SELECT 'extension', extname, '', '' FROM pg_extension".into(),
    ];
    let rows = copy_query(exec, ep, "read the source's catalog", &queries).await?;
    let mut f = SourceFacts::default();
    for row in rows {
        let v = |i: usize| row.get(i).cloned().flatten().unwrap_or_default();
        match v(0).as_str() {
            "index" => {
                f.index_tables.insert((v(1), v(2)), v(3));
            }
            "lo" => f.large_objects = v(1).parse().unwrap_or(0),
            "encoding" => f.encoding = v(1),
            "owner" => {
                f.owners.insert(v(1));
            }
            "grantee" => {
                f.grantees.insert(v(1));
            }
            "extension" => {
                f.extensions.insert(v(1));
            }
            _ => {}
        }
    }
    Ok(f)
}

/// Roles of `wanted` missing on the target server, and extensions it cannot install.
pub async fn missing_on_target(
    exec: &Executor,
    target: &Endpoint,
    roles: &BTreeSet<String>,
    extensions: &BTreeSet<String>,
) -> Result<(Vec<String>, Vec<String>), PgError> {
    let list = |items: &BTreeSet<String>| {
        if items.is_empty() {
            "NULL".to_string()
        } else {
            items
                .iter()
                .map(|r| literal(r))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let maintenance = target.with_db("postgres");
    let rows = copy_query(
        exec,
        &maintenance,
        "check roles and extensions on the target",
        &[
            format!("SELECT 'role', r FROM unnest(ARRAY[{}]::text[]) r WHERE r IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r)", list(roles)),
            format!("SELECT 'extension', e FROM unnest(ARRAY[{}]::text[]) e WHERE e IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = e)", list(extensions)),
        ],
    )
    .await?;
    let mut missing_roles = Vec::new();
    let mut missing_ext = Vec::new();
    for row in rows {
        let v = |i: usize| row.get(i).cloned().flatten().unwrap_or_default();
        match v(0).as_str() {
            "role" => missing_roles.push(v(1)),
            _ => missing_ext.push(v(1)),
        }
    }
    Ok((missing_roles, missing_ext))
}
