//! What a database holds, read from its catalogs in three queries: its schema objects (named,
//! with a short definition to compare), the relations that hold rows with their columns and
//! sizes, and its sequences' positions. Objects that belong to extensions are left out: the
//! extension itself is compared.

use super::endpoint::Endpoint;
use super::error::PgError;
use super::session::copy_query_at;
use super::tools::major_of;
use cutover_exec::Executor;

/// A schema object: its kind, schema, name and a short comparable definition.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Object {
    /// "table", "index", "constraint", "trigger", "view", "function", "enum"...
    pub kind: String,
    /// Its schema ("" for extensions).
    pub schema: String,
    /// Its name; for objects of a table, `table.name`.
    pub name: String,
    /// What must match besides the name (enum labels, column type, index method...).
    pub detail: String,
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

fn user_schema(expr: &str) -> String {
    format!("{expr} {}", USER_SCHEMA.replace("{}", expr))
}

fn not_extension_member(catalog: &str, oid: &str) -> String {
    format!("NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = '{catalog}'::regclass AND d.objid = {oid} AND d.deptype = 'e')")
}

/// Relations that belong to the user (not to the system or an extension).
fn user_relations() -> String {
    format!(
        "SELECT c.oid, n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {} AND {}",
        user_schema("n.nspname"),
        not_extension_member("pg_class", "c.oid")
    )
}

/// The query listing schema objects as (kind, schema, name, detail).
pub fn objects_query() -> String {
    let rels = user_relations();
    let schema_ok = user_schema("n.nspname");
    let comment_schema = "coalesce(o.schema, CASE WHEN o.type = 'schema' THEN o.identity END)";
    format!(
        "WITH rels AS ({rels})
SELECT 'schema', n.nspname, '', '' FROM pg_namespace n WHERE {schema_ok} AND {ns_member}
UNION ALL
SELECT CASE r.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence' WHEN 'f' THEN 'foreign table' ELSE 'table' END,
  r.nspname, r.relname, CASE WHEN r.relkind = 'p' THEN 'partitioned' WHEN c.relpersistence = 'u' THEN 'unlogged' ELSE '' END
  FROM rels r JOIN pg_class c ON c.oid = r.oid WHERE r.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
UNION ALL
SELECT 'column', r.nspname, r.relname || '.' || a.attname,
  format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
  FROM pg_attribute a JOIN rels r ON r.oid = a.attrelid
  WHERE a.attnum > 0 AND NOT a.attisdropped AND r.relkind IN ('r', 'p', 'm', 'f', 'v')
UNION ALL
SELECT 'index', r.nspname, r.relname, t.relname || ' ' || am.amname || CASE WHEN i.indisunique THEN ' unique' ELSE '' END
  FROM pg_index i JOIN rels r ON r.oid = i.indexrelid JOIN pg_class ic ON ic.oid = i.indexrelid
  JOIN pg_class t ON t.oid = i.indrelid JOIN pg_am am ON am.oid = ic.relam
UNION ALL
SELECT 'constraint', r.nspname, r.relname || '.' || co.conname,
  co.contype::text || CASE WHEN co.convalidated THEN '' ELSE ' not valid' END
  FROM pg_constraint co JOIN rels r ON r.oid = co.conrelid WHERE co.contype <> 'n'
UNION ALL
SELECT 'constraint', n.nspname, t.typname || '.' || co.conname, co.contype::text
  FROM pg_constraint co JOIN pg_type t ON t.oid = co.contypid JOIN pg_namespace n ON n.oid = t.typnamespace
  WHERE co.contypid <> 0 AND co.contype <> 'n' AND {schema_ok}
UNION ALL
SELECT 'trigger', r.nspname, r.relname || '.' || tg.tgname, tg.tgenabled::text
  FROM pg_trigger tg JOIN rels r ON r.oid = tg.tgrelid WHERE NOT tg.tgisinternal
UNION ALL
SELECT 'policy', r.nspname, r.relname || '.' || po.polname, po.polcmd::text
  FROM pg_policy po JOIN rels r ON r.oid = po.polrelid
UNION ALL
SELECT 'rule', r.nspname, r.relname || '.' || ru.rulename, ru.ev_type::text
  FROM pg_rewrite ru JOIN rels r ON r.oid = ru.ev_class WHERE ru.rulename <> '_RETURN'
UNION ALL
SELECT CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate' WHEN 'w' THEN 'window function' ELSE 'function' END,
  n.nspname, p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')', ''
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE {schema_ok} AND {proc_member}
UNION ALL
SELECT 'extension', '', e.extname, e.extversion FROM pg_extension e
UNION ALL
SELECT CASE t.typtype WHEN 'e' THEN 'enum' WHEN 'd' THEN 'domain' WHEN 'r' THEN 'range type' ELSE 'type' END,
  n.nspname, t.typname,
  CASE t.typtype
    WHEN 'e' THEN (SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid)
    WHEN 'd' THEN format_type(t.typbasetype, t.typtypmod) ELSE '' END
  FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
  WHERE t.typtype IN ('e', 'd', 'c', 'r') AND {schema_ok} AND {type_member}
    AND (t.typtype <> 'c' OR (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c')
UNION ALL
SELECT 'comment', coalesce(o.schema, ''), o.type || ' ' || o.identity, md5(d.description)
  FROM pg_description d, LATERAL pg_identify_object(d.classoid, d.objoid, d.objsubid) o
  WHERE {comment_ok}",
        ns_member = not_extension_member("pg_namespace", "n.oid"),
        proc_member = not_extension_member("pg_proc", "p.oid"),
        type_member = not_extension_member("pg_type", "t.oid"),
        comment_ok = user_schema(comment_schema),
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
pub async fn read(exec: &Executor, ep: &Endpoint, version_num: u32) -> Result<Inventory, PgError> {
    read_at(exec, ep, version_num, None).await
}

/// Like [`read`], inside an exported snapshot when one is given.
pub async fn read_at(
    exec: &Executor,
    ep: &Endpoint,
    version_num: u32,
    snapshot: Option<&str>,
) -> Result<Inventory, PgError> {
    let major = major_of(version_num);
    let queries = [
        objects_query(),
        relations_query(),
        columns_query(major),
        sequences_query(),
    ];
    // One round trip: each query's rows are told apart by their width and a leading tag.
    let tagged: Vec<String> = queries
        .iter()
        .enumerate()
        .map(|(i, q)| format!("SELECT {i}, q.* FROM ({q}) q"))
        .collect();
    let rows = copy_query_at(exec, ep, "read the catalog", &tagged, snapshot).await?;
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
    for row in rows {
        let f = |i: usize| row.get(i).cloned().flatten().unwrap_or_default();
        let opt = |i: usize| row.get(i).cloned().flatten();
        let num = |i: usize| -> Result<i64, PgError> {
            f(i).parse()
                .map_err(|_| bad(format!("`{}` is not a number", f(i))))
        };
        match f(0).as_str() {
            "0" => inv.objects.push(Object {
                kind: f(1),
                schema: f(2),
                name: f(3),
                detail: f(4),
            }),
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
    inv.objects.sort();
    inv.relations
        .sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
    inv.sequences
        .sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
    Ok(inv)
}
