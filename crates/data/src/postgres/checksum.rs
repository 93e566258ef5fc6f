//! The order-independent content checksum of a table, computed by the server itself:
//! `count(*)` and `sum(row hash)`, where a row's hash XORs one 64-bit hash per column.
//!
//! Why this shape:
//! - a sum over rows does not depend on row order, counts duplicate rows (a XOR would cancel
//!   them), and adds up across chunks, so a big table can be split over several sessions;
//! - each column is hashed with a seed derived from the column's *name*, so the columns'
//!   physical order does not matter but a value moved to another column does; a NULL hashes
//!   to its own per-column constant, never to the hash of an empty string;
//! - values of built-in types are hashed natively with the extended hash functions behind
//!   hash partitioning (`hashint8extended`, `hashtextextended`...), which PostgreSQL keeps
//!   stable across major versions (hash partitions survive pg_upgrade) and which cost ~3x
//!   less than formatting rows as text. Widths do not matter (int2/int4/int8 and
//!   float4/float8 hash alike); text is hashed byte-wise (`COLLATE "C"`), never through a
//!   case-insensitive collation;
//! - every other type (enums, whose native hash is their OID and so differs between
//!   servers, composites, ranges, json, user types...) is hashed through its text form,
//!   which cutover's session settings make deterministic (UTC, ISO dates, exact floats).

use super::inventory::Column;
use super::sql::{ident, literal};

/// How one column is hashed: the same class on both servers gives comparable hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashClass {
    /// int2, int4, int8.
    Int,
    /// float4, float8.
    Float,
    /// numeric (equal values hash alike whatever their scale).
    Numeric,
    /// text, varchar, name (byte-wise).
    Text,
    /// char(n) (trailing blanks are not significant for this type).
    Bpchar,
    /// bool.
    Bool,
    /// bytea (through its MD5, cheaper than its text form for large values).
    Bytea,
    /// uuid.
    Uuid,
    /// jsonb.
    Jsonb,
    /// timestamp.
    Timestamp,
    /// timestamptz (the instant, whatever the time zone).
    Timestamptz,
    /// time, timetz, interval, inet/cidr, macaddr, macaddr8, date: hashed natively
    /// by their own function.
    Native(&'static str),
    /// An array of a type hashed natively (`true`: of a text type, hashed byte-wise).
    Array(bool),
    /// Anything else: the text form.
    AsText,
}

/// The hash class of a built-in type name (`int4`, `_text`...).
fn class_of_type(name: &str) -> Option<HashClass> {
    Some(match name {
        "int2" | "int4" | "int8" => HashClass::Int,
        "float4" | "float8" => HashClass::Float,
        "numeric" => HashClass::Numeric,
        "text" | "varchar" | "name" => HashClass::Text,
        "bpchar" => HashClass::Bpchar,
        "bool" => HashClass::Bool,
        "bytea" => HashClass::Bytea,
        "uuid" => HashClass::Uuid,
        "jsonb" => HashClass::Jsonb,
        "timestamp" => HashClass::Timestamp,
        "timestamptz" => HashClass::Timestamptz,
        "time" => HashClass::Native("time_hash_extended"),
        "timetz" => HashClass::Native("timetz_hash_extended"),
        "interval" => HashClass::Native("interval_hash_extended"),
        "inet" | "cidr" => HashClass::Native("hashinetextended"),
        "macaddr" => HashClass::Native("hashmacaddrextended"),
        "macaddr8" => HashClass::Native("hashmacaddr8extended"),
        _ => return None,
    })
}

/// The class of `column` on one server.
pub fn class_of(column: &Column) -> HashClass {
    if let Some(element) = &column.builtin_element {
        // Arrays of natively hashed scalars hash through hash_array_extended (elements
        // by their own function); arrays of anything else go through text.
        return match class_of_type(element) {
            Some(HashClass::Text | HashClass::Bpchar) => HashClass::Array(true),
            Some(_) => HashClass::Array(false),
            None => HashClass::AsText,
        };
    }
    column
        .builtin_type
        .as_deref()
        .and_then(class_of_type)
        .unwrap_or(HashClass::AsText)
}

/// The class both servers use for a column: its own when they agree, else text (the
/// schema comparison reports the type difference itself).
pub fn common_class(source: &Column, target: &Column) -> HashClass {
    let (a, b) = (class_of(source), class_of(target));
    let arrays = matches!(a, HashClass::Array(_));
    if a == b && (!arrays || source.builtin_element == target.builtin_element) {
        a
    } else {
        HashClass::AsText
    }
}

/// A stable 64-bit value from `text` (FNV-1a), the same in every cutover build.
pub fn seed(text: &str) -> i64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    }) as i64
}

/// A column as hashed on one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hashed {
    /// Its name.
    pub name: String,
    /// The class both servers use.
    pub class: HashClass,
    /// Its built-in (base) type on this server, to call that type's own function.
    pub builtin_type: Option<String>,
}

impl Hashed {
    /// A nullable column of `class` whose type is not known (tests, generic callers).
    pub fn new(name: &str, class: HashClass) -> Self {
        Hashed {
            name: name.to_string(),
            class,
            builtin_type: None,
        }
    }
}

/// The SQL expression hashing column `name` of class `class` (never NULL). Widths share
/// a class because their hash functions agree (int2/int4/int8 and float4/float8 values hash
/// alike), so each server calls its own type's function without a cast.
pub fn column_hash(c: &Hashed) -> String {
    let col = ident(&c.name);
    let s = seed(&format!("column:{}", c.name));
    let null = seed(&format!("null:{}", c.name));
    let ty = c.builtin_type.as_deref().unwrap_or("");
    let hash = match c.class {
        HashClass::Int => match ty {
            "int2" => format!("hashint2extended({col}, {s})"),
            "int4" => format!("hashint4extended({col}, {s})"),
            _ => format!("hashint8extended({col}::int8, {s})"),
        },
        HashClass::Float => match ty {
            "float4" => format!("hashfloat4extended({col}, {s})"),
            _ => format!("hashfloat8extended({col}::float8, {s})"),
        },
        HashClass::Numeric => format!("hash_numeric_extended({col}, {s})"),
        HashClass::Text if ty == "text" => format!("hashtextextended({col} COLLATE \"C\", {s})"),
        HashClass::Text => format!("hashtextextended({col}::text COLLATE \"C\", {s})"),
        HashClass::Bpchar => format!("hashbpcharextended({col} COLLATE \"C\", {s})"),
        HashClass::Bool => format!("hashint4extended({col}::int4, {s})"),
        HashClass::Bytea => format!("hashtextextended(md5({col}), {s})"),
        HashClass::Uuid => format!("uuid_hash_extended({col}, {s})"),
        HashClass::Jsonb => format!("jsonb_hash_extended({col}, {s})"),
        HashClass::Timestamp => format!("timestamp_hash_extended({col}, {s})"),
        // The session's time zone is UTC: the cast gives the instant in UTC.
        HashClass::Timestamptz => format!("timestamp_hash_extended({col}::timestamp, {s})"),
        HashClass::Native(f) => format!("{f}({col}, {s})"),
        HashClass::Array(false) => format!("hash_array_extended({col}, {s})"),
        HashClass::Array(true) => format!("hash_array_extended({col} COLLATE \"C\", {s})"),
        HashClass::AsText => format!("hashtextextended({col}::text COLLATE \"C\", {s})"),
    };
    // Always guarded: a NOT NULL column may still hold NULLs (a NOT VALID constraint).
    format!("coalesce({hash}, {null})")
}

/// The row hash over `columns`: XOR of the column hashes, or 0 for a table without
/// columns.
pub fn row_hash(columns: &[Hashed]) -> String {
    if columns.is_empty() {
        return "0::int8".into();
    }
    columns
        .iter()
        .map(column_hash)
        .collect::<Vec<_>>()
        .join(" # ")
}

/// A piece of a table: all of it, or the rows in a range of its pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunk {
    /// Every row.
    Whole,
    /// Rows in pages `from..to` (`to == None`: to the end, including pages added since).
    Pages {
        /// First page.
        from: u64,
        /// End page (exclusive).
        to: Option<u64>,
    },
}

impl Chunk {
    /// The `WHERE` clause selecting this chunk (empty for [`Chunk::Whole`]). TID range
    /// scans (PostgreSQL 14+) read only those pages.
    pub fn filter(&self) -> String {
        match self {
            Chunk::Whole => String::new(),
            Chunk::Pages { from, to: None } => format!(" WHERE ctid >= '({from},0)'::tid"),
            Chunk::Pages { from, to: Some(to) } => {
                format!(" WHERE ctid >= '({from},0)'::tid AND ctid < '({to},0)'::tid")
            }
        }
    }

    /// Splits a table of `pages` pages into `parts` chunks (one `Whole` if `parts <= 1`).
    pub fn split(pages: u64, parts: u64) -> Vec<Chunk> {
        if parts <= 1 || pages < parts {
            return vec![Chunk::Whole];
        }
        let step = pages.div_ceil(parts);
        (0..parts)
            .map(|i| Chunk::Pages {
                from: i * step,
                to: (i + 1 < parts).then_some((i + 1) * step),
            })
            .collect()
    }
}

/// `SELECT tag, count(*), sum(row hash) FROM ONLY table [chunk]`: one line of output.
pub fn table_query(
    tag: usize,
    schema: &str,
    table: &str,
    columns: &[Hashed],
    chunk: Chunk,
) -> String {
    format!(
        "SELECT {tag}, count(*), coalesce(sum({}), 0) FROM ONLY {}.{}{}",
        row_hash(columns),
        ident(schema),
        ident(table),
        chunk.filter()
    )
}

/// Count and checksum of the large objects' contents and owners-free metadata.
pub fn large_objects_query(tag: usize) -> String {
    format!(
        "SELECT {tag}, count(*), coalesce(sum(hashint8extended(m.oid::int8, {s}) # hashtextextended(md5(lo_get(m.oid)), {s})), 0) FROM pg_largeobject_metadata m",
        s = seed("large objects")
    )
}

/// A literal for an exported snapshot id.
pub fn snapshot_literal(id: &str) -> String {
    literal(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, ty: Option<&str>, elem: Option<&str>) -> Column {
        Column {
            name: name.into(),
            type_name: String::new(),
            not_null: false,
            generated: false,
            builtin_type: ty.map(str::to_string),
            builtin_element: elem.map(str::to_string),
        }
    }

    #[test]
    fn classes_agree_across_widths_and_fall_back_to_text() {
        let a = col("n", Some("int4"), None);
        let b = col("n", Some("int8"), None);
        assert_eq!(common_class(&a, &b), HashClass::Int);
        let enum_col = col("m", None, None);
        assert_eq!(class_of(&enum_col), HashClass::AsText);
        let text = col("t", Some("text"), None);
        assert_eq!(common_class(&a, &text), HashClass::AsText);
        let ints = col("a", Some("_int4"), Some("int4"));
        assert_eq!(class_of(&ints), HashClass::Array(false));
        let enums = col("a", Some("_mood"), None);
        assert_eq!(class_of(&enums), HashClass::AsText);
    }

    #[test]
    fn null_and_empty_hash_differently_and_names_seed_columns() {
        let e = column_hash(&Hashed::new("note", HashClass::Text));
        assert!(
            e.starts_with("coalesce(hashtextextended(\"note\"::text COLLATE \"C\", "),
            "{e}"
        );
        let n = Hashed {
            builtin_type: Some("int4".into()),
            ..Hashed::new("n", HashClass::Int)
        };
        assert!(column_hash(&n).starts_with("coalesce(hashint4extended(\"n\", "));
        assert_ne!(seed("column:a"), seed("column:b"));
        assert_ne!(seed("column:note"), seed("null:note"));
    }

    #[test]
    fn splits_pages_into_chunks_covering_the_table() {
        assert_eq!(Chunk::split(10, 1), vec![Chunk::Whole]);
        let parts = Chunk::split(10, 3);
        assert_eq!(
            parts,
            vec![
                Chunk::Pages {
                    from: 0,
                    to: Some(4)
                },
                Chunk::Pages {
                    from: 4,
                    to: Some(8)
                },
                Chunk::Pages { from: 8, to: None },
            ]
        );
        assert_eq!(
            parts[1].filter(),
            " WHERE ctid >= '(4,0)'::tid AND ctid < '(8,0)'::tid"
        );
    }
}
