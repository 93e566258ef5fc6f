//! What a database holds, read from its catalogs in three queries: its schema objects (named,
//! with a short definition to compare), the relations that hold rows with their columns and
//! sizes, and its sequences' positions. Objects that belong to extensions are left out: the
//! extension itself is compared.

use super::definitions::{objects_query, Scope, SEARCH_PATH};
use super::endpoint::Endpoint;
use super::error::PgError;
use super::session::copy_statements_at;
use super::tools::major_of;
use cutover_exec::Executor;
use std::collections::BTreeMap;

/// A schema object: its kind, schema, name and definition, split into named facets.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Object {
    /// "table", "index", "constraint", "trigger", "view", "function", "enum"...
    pub kind: String,
    /// Its schema ("" for extensions).
    pub schema: String,
    /// Its name; for objects of a table, `table.name`.
    pub name: String,
    /// Its definition as (facet, value) pairs sorted by facet ("body", "query", "default"...),
    /// empty values left out.
    pub facets: Vec<(String, String)>,
}

impl Object {
    /// The value of `facet` ("" when the object has none).
    pub fn facet(&self, facet: &str) -> &str {
        self.facets
            .iter()
            .find(|(f, _)| f == facet)
            .map_or("", |(_, v)| v.as_str())
    }
}

/// A relation whose rows are compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    /// Its schema.
    pub schema: String,
    /// Its name.
    pub name: String,
    /// `r` table, `p` partitioned table (rows live in its partitions), `m` materialized
    /// view, `f` foreign table.
    pub relkind: char,
    /// A partition of a partitioned table.
    pub partition: bool,
    /// On-disk size of its main fork, in bytes.
    pub bytes: u64,
    /// The planner's row estimate (for progress and splitting; -1 when never analysed).
    pub rows_estimate: i64,
    /// False for a materialized view created `WITH NO DATA`.
    pub populated: bool,
    /// Its columns in attribute order.
    pub columns: Vec<Column>,
}

impl Relation {
    /// True when rows are read from this relation itself (not from its partitions, not
    /// through a foreign server).
    pub fn holds_rows(&self) -> bool {
        matches!(self.relkind, 'r' | 'm')
    }

    /// `schema.name` as shown to people.
    pub fn display(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }
}

/// A column, with what the checksum needs to know about its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Its name.
    pub name: String,
    /// Its type as `format_type` writes it (`character varying(20)`).
    pub type_name: String,
    /// `NOT NULL`.
    pub not_null: bool,
    /// A generated column (computed on the target, never copied).
    pub generated: bool,
    /// The name of its type, or of the domain's base type, when that type is built in.
    pub builtin_type: Option<String>,
    /// For arrays of a built-in type: the element type's name.
    pub builtin_element: Option<String>,
}

/// A sequence's position.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Sequence {
    /// Its schema.
    pub schema: String,
    /// Its name.
    pub name: String,
    /// Last value handed out; `None` when `nextval` was never called.
    pub last_value: Option<i64>,
    /// Start value.
    pub start: i64,
    /// Increment (negative for descending sequences).
    pub increment: i64,
}

impl Sequence {
    /// The value the next `nextval` returns.
    pub fn next_value(&self) -> i64 {
        match self.last_value {
            Some(v) => v.saturating_add(self.increment),
            None => self.start,
        }
    }
}

/// Everything read from one database.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    /// `server_version_num`.
    pub version_num: u32,
    /// Schema objects, sorted.
    pub objects: Vec<Object>,
    /// Tables, partitioned tables, materialized views and foreign tables.
    pub relations: Vec<Relation>,
    /// Sequences.
    pub sequences: Vec<Sequence>,
}

impl Inventory {
    /// The server's major version.
    pub fn major(&self) -> u32 {
        major_of(self.version_num)
    }

    /// The relation `schema.name`.
    pub fn relation(&self, schema: &str, name: &str) -> Option<&Relation> {
        self.relations
            .iter()
            .find(|r| r.schema == schema && r.name == name)
    }
}

/// Schemas that belong to PostgreSQL itself.
const USER_SCHEMA: &str = "NOT IN ('pg_catalog', 'information_schema') AND {} NOT LIKE 'pg\\_%'";

pub(crate) fn user_schema(expr: &str) -> String {
    format!("{expr} {}", USER_SCHEMA.replace("{}", expr))
}

pub(crate) fn not_extension_member(catalog: &str, oid: &str) -> String {
    format!("NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = '{catalog}'::regclass AND d.objid = {oid} AND d.deptype = 'e')")
}

/// Relations that belong to the user (not to the system or an extension).
pub(crate) fn user_relations() -> String {
    format!(
        "SELECT c.oid, n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {} AND {}",
        user_schema("n.nspname"),
        not_extension_member("pg_class", "c.oid")
    )
}

/// The query listing relations with rows (or partitions) and their sizes.
pub fn relations_query() -> String {
    format!(
        "WITH rels AS ({})
SELECT r.nspname, r.relname, r.relkind, c.relispartition, pg_relation_size(c.oid), c.reltuples::bigint,
  CASE WHEN c.relkind = 'm' THEN c.relispopulated ELSE true END
  FROM rels r JOIN pg_class c ON c.oid = r.oid WHERE r.relkind IN ('r', 'p', 'm', 'f')",
        user_relations()
    )
}

/// The query listing the columns of those relations with their (base) types.
pub fn columns_query(major: u32) -> String {
    let generated = if major >= 12 {
        "a.attgenerated <> ''"
    } else {
        "false"
    };
    format!(
        "WITH rels AS ({})
SELECT r.nspname, r.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, {generated},
  CASE WHEN bt.typnamespace = 'pg_catalog'::regnamespace THEN bt.typname END,
  CASE WHEN et.typnamespace = 'pg_catalog'::regnamespace THEN et.typname END
  FROM pg_attribute a JOIN rels r ON r.oid = a.attrelid
  JOIN pg_type t ON t.oid = a.atttypid
  JOIN pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
  LEFT JOIN pg_type et ON et.oid = bt.typelem AND bt.typcategory = 'A'
  WHERE a.attnum > 0 AND NOT a.attisdropped AND r.relkind IN ('r', 'p', 'm', 'f')
  ORDER BY r.nspname, r.relname, a.attnum",
        user_relations()
    )
}

/// The query listing sequences and their positions.
pub fn sequences_query() -> String {
    format!(
        "WITH rels AS ({})
SELECT s.schemaname, s.sequencename, s.last_value, s.start_value, s.increment_by
  FROM pg_sequences s JOIN rels r ON r.nspname = s.schemaname AND r.relname = s.sequencename",
        user_relations()
    )
}

/// Reads the inventory of `ep`'s database (`version_num` chooses query variants).
pub async fn read(
    exec: &Executor,
    ep: &Endpoint,
    version_num: u32,
    scope: Scope,
) -> Result<Inventory, PgError> {
    read_at(exec, ep, version_num, None, scope).await
}

/// Like [`read`], inside an exported snapshot when one is given.
pub async fn read_at(
    exec: &Executor,
    ep: &Endpoint,
    version_num: u32,
    snapshot: Option<&str>,
    scope: Scope,
) -> Result<Inventory, PgError> {
    let major = major_of(version_num);
    // One round trip: each query's rows are told apart by a leading tag. The definitions
    // are deparsed with every name qualified; the other queries keep the usual path.
    let copy = |tag: usize, q: String| format!("COPY (SELECT {tag}, q.* FROM ({q}) q) TO STDOUT;");
    let statements = [
        SEARCH_PATH.to_string(),
        copy(0, objects_query(major, scope)),
        "RESET search_path;".to_string(),
        copy(1, relations_query()),
        copy(2, columns_query(major)),
        copy(3, sequences_query()),
    ];
    let rows = copy_statements_at(exec, ep, "read the catalog", &statements, snapshot).await?;
    let bad = |detail: String| PgError::Protocol {
        what: "the catalog query".into(),
        host: ep.host.clone(),
        detail,
    };
    let mut inv = Inventory {
        version_num,
        ..Inventory::default()
    };
    let mut columns: Vec<(String, String, Column)> = Vec::new();
    let mut objects: BTreeMap<(String, String, String), Vec<(String, String)>> = BTreeMap::new();
    for row in rows {
        let f = |i: usize| row.get(i).cloned().flatten().unwrap_or_default();
        let opt = |i: usize| row.get(i).cloned().flatten();
        let num = |i: usize| -> Result<i64, PgError> {
            f(i).parse()
                .map_err(|_| bad(format!("`{}` is not a number", f(i))))
        };
        match f(0).as_str() {
            "0" => objects
                .entry((f(1), f(2), f(3)))
                .or_default()
                .extend((!f(4).is_empty()).then(|| (f(4), f(5)))),
            "1" => inv.relations.push(Relation {
                schema: f(1),
                name: f(2),
                relkind: f(3).chars().next().unwrap_or('r'),
                partition: f(4) == "t",
                bytes: num(5)?.max(0) as u64,
                rows_estimate: num(6)?,
                populated: f(7) == "t",
                columns: Vec::new(),
            }),
            "2" => columns.push((
                f(1),
                f(2),
                Column {
                    name: f(3),
                    type_name: f(4),
                    not_null: f(5) == "t",
                    generated: f(6) == "t",
                    builtin_type: opt(7),
                    builtin_element: opt(8),
                },
            )),
            "3" => inv.sequences.push(Sequence {
                schema: f(1),
                name: f(2),
                last_value: opt(3).map(|v| v.parse().unwrap_or(0)),
                start: num(4)?,
                increment: num(5)?,
            }),
            other => return Err(bad(format!("unknown row tag `{other}`"))),
        }
    }
    for (schema, table, column) in columns {
        if let Some(r) = inv
            .relations
            .iter_mut()
            .find(|r| r.schema == schema && r.name == table)
        {
            r.columns.push(column);
        }
    }
    inv.objects = objects
        .into_iter()
        .map(|((kind, schema, name), mut facets)| {
            facets.sort();
            Object {
                kind,
                schema,
                name,
                facets,
            }
        })
        .collect();
    inv.relations
        .sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
    inv.sequences
        .sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
    Ok(inv)
}
