//! Definitions as text that does not depend on the server's major version. A database dumped
//! from one major and restored on another has the same objects, but the newer server prints
//! some of them differently: its deparser re-reads the dumped text into its own parse tree.
//! Each difference seen between majors is rewritten here into one form, on both sides, with
//! rules that keep the meaning (a test per rule, from what the servers printed):
//!
//! - whitespace: SQL text is compared token by token (string literals, quoted names and
//!   dollar-quoted bodies kept whole), so layout never counts;
//! - an array literal cast as a whole, `ARRAY['a'::varchar, 'b'::varchar]::text[]` (16 and
//!   older), is the array of its elements each cast, `ARRAY['a'::varchar::text, ...]` (18);
//! - a column alias that only repeats the implicit name of a cast, `NULL::integer AS int4`
//!   (18 prints it), is dropped;
//! - between a server of 15 or older and one of 16 or newer, column references in view
//!   queries lose their relation prefix (16 stopped printing `t.` when `t` is the only
//!   relation in scope): the prefix is dropped on both sides, schema names kept. Such a
//!   comparison cannot tell `a.id` from `b.id` in a join, a known and accepted weakness;
//! - privileges a major added to the owner's defaults (`m`, MAINTAIN, in 17) are left out of
//!   both sides when one side's major does not have them.

use super::sql_tokens::{render, tokenize, Token};
use std::collections::BTreeSet;

/// How the definitions of one source and one target are normalized.
#[derive(Debug, Clone, Default)]
pub struct Normalizer {
    /// Drop relation prefixes of column references (a comparison across the 15/16 boundary),
    /// keeping these schema names.
    unqualify: Option<BTreeSet<String>>,
    /// Privilege letters one side's major does not know, left out of ACLs.
    unknown_privileges: Vec<char>,
}

/// Privilege letters and the major that introduced them.
const NEW_PRIVILEGES: &[(char, u32)] = &[('m', 17)];

/// Facets that hold SQL text (compared as tokens).
const SQL_FACETS: &[&str] = &[
    "query",
    "definition",
    "default",
    "generated",
    "using",
    "with check",
    "body",
    "partition key",
    "partition of",
];

/// Facets holding whole queries, deparsed with the relation prefixes 16 stopped printing.
const QUERY_FACETS: &[&str] = &["query", "body"];

impl Normalizer {
    /// For a source of major `source` and a target of major `target`; `schemas` are the
    /// schema names of both (kept when prefixes are dropped).
    pub fn new<'a>(source: u32, target: u32, schemas: impl Iterator<Item = &'a str>) -> Self {
        let crosses = (source <= 15) != (target <= 15);
        Normalizer {
            unqualify: crosses.then(|| schemas.map(str::to_string).collect()),
            unknown_privileges: NEW_PRIVILEGES
                .iter()
                .filter(|(_, since)| source.min(target) < *since)
                .map(|(letter, _)| *letter)
                .collect(),
        }
    }

    /// `value` of `facet` of an object of `kind`, normalized.
    pub fn normalize(&self, kind: &str, facet: &str, value: &str) -> String {
        if facet == "privileges" {
            return self.acl(value);
        }
        if !SQL_FACETS.contains(&facet) || kind == "comment" {
            return value.split_whitespace().collect::<Vec<_>>().join(" ");
        }
        let mut tokens = tokenize(value);
        spread_array_casts(&mut tokens);
        drop_implicit_aliases(&mut tokens);
        if let Some(schemas) = &self.unqualify {
            if QUERY_FACETS.contains(&facet) || kind == "rule" {
                unqualify_columns(&mut tokens, schemas);
            }
        }
        render(&tokens)
    }
}

impl Normalizer {
    /// ACL items (`grantee=privileges/grantor`, space-separated) without the privileges one
    /// side cannot have; an item left with none is dropped.
    fn acl(&self, value: &str) -> String {
        value
            .split_whitespace()
            .filter_map(|item| {
                let (grantee, rest) = item.split_once('=')?;
                let (privileges, grantor) = rest.split_once('/')?;
                let kept: String = privileges
                    .chars()
                    .filter(|c| !self.unknown_privileges.contains(c))
                    .collect();
                (!kept.is_empty()).then(|| format!("{grantee}={kept}/{grantor}"))
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

pub(crate) fn is(t: Option<&Token>, p: &str) -> bool {
    matches!(t, Some(Token::Punct(x)) if x == p)
}

pub(crate) fn is_word(t: Option<&Token>, w: &str) -> bool {
    matches!(t, Some(Token::Word(x)) if x.eq_ignore_ascii_case(w))
}

/// Index of the token closing the bracket opened at `open`.
fn closing(tokens: &[Token], open: usize) -> Option<usize> {
    let mut depth = 0i32;
    for (k, t) in tokens.iter().enumerate().skip(open) {
        if let Token::Punct(p) = t {
            match p.as_str() {
                "(" | "[" => depth += 1,
                ")" | "]" => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(k);
                    }
                }
                _ => {}
            }
        }
    }
    None
}

/// Type names of several words, as deparsers print them, with their internal names.
const MULTIWORD_TYPES: &[(&[&str], &str)] = &[
    (&["timestamp", "with", "time", "zone"], "timestamptz"),
    (&["timestamp", "without", "time", "zone"], "timestamp"),
    (&["time", "with", "time", "zone"], "timetz"),
    (&["time", "without", "time", "zone"], "time"),
    (&["double", "precision"], "float8"),
    (&["character", "varying"], "varchar"),
    (&["bit", "varying"], "varbit"),
];

/// The type name starting at `i` (after `::`): where it ends (exclusive) and the column
/// name PostgreSQL gives a cast to it.
fn type_at(tokens: &[Token], i: usize) -> Option<(usize, String)> {
    let words = |n: usize| -> Option<Vec<String>> {
        (0..n)
            .map(|k| match tokens.get(i + k) {
                Some(Token::Word(w)) => Some(w.to_ascii_lowercase()),
                _ => None,
            })
            .collect()
    };
    let (mut end, name) = MULTIWORD_TYPES
        .iter()
        .find(|(ws, _)| words(ws.len()).is_some_and(|got| got == *ws))
        .map(|(ws, internal)| (i + ws.len(), internal.to_string()))
        .or_else(|| {
            // `name` or `schema.name`, each a word or a quoted name.
            let part = |k: usize| match tokens.get(k) {
                Some(Token::Word(w)) => Some(w.to_ascii_lowercase()),
                Some(Token::Quoted(q)) => Some(q[1..q.len() - 1].replace("\"\"", "\"")),
                _ => None,
            };
            let first = part(i)?;
            if is(tokens.get(i + 1), ".") {
                Some((i + 3, part(i + 2)?))
            } else {
                Some((i + 1, first))
            }
        })?;
    let internal = match name.as_str() {
        "integer" | "int" => "int4".to_string(),
        "smallint" => "int2".into(),
        "bigint" => "int8".into(),
        "boolean" => "bool".into(),
        "real" => "float4".into(),
        "character" | "char" => "bpchar".into(),
        "decimal" => "numeric".into(),
        _ => name,
    };
    if is(tokens.get(end), "(") {
        end = closing(tokens, end)? + 1;
    }
    while is(tokens.get(end), "[") && is(tokens.get(end + 1), "]") {
        end += 2;
    }
    Some((end, internal))
}

/// `ARRAY[a, b]::t[]` becomes `ARRAY[a::t, b::t]` (an element already cast to `t` keeps its
/// one cast).
fn spread_array_casts(tokens: &mut Vec<Token>) {
    let mut i = 0;
    while i < tokens.len() {
        if !(is_word(tokens.get(i), "array") && is(tokens.get(i + 1), "[")) {
            i += 1;
            continue;
        }
        let Some(close) = closing(tokens, i + 1) else {
            return;
        };
        let cast = is(tokens.get(close + 1), "::")
            .then(|| type_at(tokens, close + 2))
            .flatten();
        let Some((end, _)) = cast else {
            i += 1;
            continue;
        };
        // The element type: the cast's type without its last `[]`.
        if !(is(tokens.get(end - 2), "[") && is(tokens.get(end - 1), "]")) {
            i += 1;
            continue;
        }
        let element_type: Vec<Token> = tokens[close + 2..end - 2].to_vec();
        let mut cast_tokens = vec![Token::Punct("::".into())];
        cast_tokens.extend(element_type);
        let mut elements: Vec<Vec<Token>> = vec![Vec::new()];
        let mut depth = 0;
        for t in &tokens[i + 2..close] {
            match t {
                Token::Punct(p) if p == "," && depth == 0 => {
                    elements.push(Vec::new());
                    continue;
                }
                Token::Punct(p) if p == "(" || p == "[" => depth += 1,
                Token::Punct(p) if p == ")" || p == "]" => depth -= 1,
                _ => {}
            }
            if let Some(last) = elements.last_mut() {
                last.push(t.clone());
            }
        }
        let mut inner = Vec::new();
        for (k, mut e) in elements.into_iter().enumerate() {
            if e.is_empty() {
                continue;
            }
            if k > 0 {
                inner.push(Token::Punct(",".into()));
            }
            if !e.ends_with(&cast_tokens) {
                e.extend(cast_tokens.iter().cloned());
            }
            inner.extend(e);
        }
        let len = inner.len();
        tokens.splice(
            i + 2..end,
            inner.into_iter().chain([Token::Punct("]".into())]),
        );
        i += 2 + len + 1;
    }
}

/// `x::t AS name`, where `name` is the name PostgreSQL gives such a cast anyway, loses its
/// `AS name`.
fn drop_implicit_aliases(tokens: &mut Vec<Token>) {
    let mut i = 0;
    while i < tokens.len() {
        if is(tokens.get(i), "::") {
            if let Some((end, internal)) = type_at(tokens, i + 1) {
                if is_word(tokens.get(end), "as")
                    && matches!(tokens.get(end + 1), Some(Token::Word(w)) if *w == internal)
                {
                    tokens.drain(end..end + 2);
                }
                i = end;
                continue;
            }
        }
        i += 1;
    }
}

/// `t.col` becomes `col` unless `t` is one of `schemas` or itself qualified.
fn unqualify_columns(tokens: &mut Vec<Token>, schemas: &BTreeSet<String>) {
    let mut i = 0;
    while i + 2 < tokens.len() {
        let name = match &tokens[i] {
            Token::Word(w) => Some(w.clone()),
            Token::Quoted(q) => Some(q[1..q.len() - 1].replace("\"\"", "\"")),
            _ => None,
        };
        let qualifier = name.filter(|n| {
            is(tokens.get(i + 1), ".")
                && matches!(
                    tokens.get(i + 2),
                    Some(Token::Word(_) | Token::Quoted(_) | Token::Punct(_))
                )
                && (matches!(tokens.get(i + 2), Some(Token::Word(_) | Token::Quoted(_)))
                    || is(tokens.get(i + 2), "*"))
                && !schemas.contains(n)
                && !(i > 0 && is(tokens.get(i - 1), "."))
        });
        if qualifier.is_some() {
            tokens.drain(i..i + 2);
        } else {
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(facet: &str, text: &str) -> String {
        Normalizer::default().normalize("view", facet, text)
    }

    #[test]
    fn layout_never_counts_but_literals_stay_whole() {
        assert_eq!(
            n("query", " SELECT  a.id,\n    'x  y'::text\nFROM t a ;"),
            "SELECT a.id, 'x  y'::text FROM t a;"
        );
        assert_eq!(
            n("body", "BEGIN RETURN $$a  b$$; -- note\nEND"),
            "BEGIN RETURN $$a  b$$; -- note END"
        );
        assert_eq!(n("labels", "'a',\n 'b'"), "'a', 'b'");
    }

    /// Seen on MusicBrainz's `allowed_series_entity_type` check, PostgreSQL 16 -> 18.
    #[test]
    fn an_array_cast_as_a_whole_is_its_elements_cast() {
        let pg16 = "CHECK (entity_type::text = ANY (ARRAY['artist'::character varying, 'event'::character varying]::text[]))";
        let pg18 = "CHECK (entity_type::text = ANY (ARRAY['artist'::character varying::text, 'event'::character varying::text]))";
        assert_eq!(n("definition", pg16), pg18);
        assert_eq!(n("definition", pg18), pg18);
        // A different element is still a difference.
        assert_ne!(
            n("definition", "ARRAY['a'::varchar, 'b'::varchar]::text[]"),
            n(
                "definition",
                "ARRAY['a'::varchar::text, 'c'::varchar::text]"
            )
        );
        // Casts of other arrays and nested brackets are left alone.
        assert_eq!(
            n("definition", "(ARRAY[1, f(2, 3)])::bigint[] @> x[1:2]"),
            "(ARRAY[1, f(2, 3)])::bigint[] @> x[1:2]"
        );
    }

    /// Seen on MusicBrainz's `release_event` view, PostgreSQL 16 -> 18.
    #[test]
    fn an_alias_repeating_a_casts_implicit_name_is_dropped() {
        assert_eq!(
            n("query", "SELECT a, NULL::integer AS int4 FROM t"),
            n("query", "SELECT a, NULL::integer FROM t")
        );
        assert_eq!(
            n(
                "query",
                "SELECT x::character varying(20) AS varchar, y::public.mood AS mood"
            ),
            "SELECT x::character varying(20), y::public.mood"
        );
        // A real alias stays.
        assert_eq!(
            n("query", "SELECT NULL::integer AS country"),
            "SELECT NULL::integer AS country"
        );
    }

    /// Seen on every table's owner, PostgreSQL 15 and 16 -> 18.
    #[test]
    fn privileges_a_side_cannot_have_are_left_out() {
        let old_new = Normalizer::new(16, 18, std::iter::empty());
        assert_eq!(
            old_new.normalize(
                "table",
                "privileges",
                "postgres=arwdDxtm/postgres =m/postgres"
            ),
            "postgres=arwdDxt/postgres"
        );
        let both_new = Normalizer::new(17, 18, std::iter::empty());
        assert_eq!(
            both_new.normalize("table", "privileges", "postgres=arwdDxtm/postgres"),
            "postgres=arwdDxtm/postgres"
        );
    }

    /// Seen on every single-relation view, PostgreSQL 15 -> 16 and newer.
    #[test]
    fn across_the_15_16_boundary_column_prefixes_are_dropped_schemas_kept() {
        let schemas = ["musicbrainz", "Odd Schema"];
        let across = Normalizer::new(15, 18, schemas.into_iter());
        let pg15 = "SELECT liner_note.id, \"Odd Schema\".f(x.*) FROM musicbrainz.liner_note WHERE length(liner_note.body) > 1000;";
        let pg18 = "SELECT id, \"Odd Schema\".f(x.*) FROM musicbrainz.liner_note WHERE length(body) > 1000;";
        assert_eq!(
            across.normalize("view", "query", pg15),
            across.normalize("view", "query", pg18)
        );
        assert_eq!(
            across.normalize("view", "query", pg18),
            "SELECT id, \"Odd Schema\".f(*) FROM musicbrainz.liner_note WHERE length(body) > 1000;"
        );
        // Between majors on one side of the boundary, prefixes count.
        let same = Normalizer::new(16, 18, schemas.into_iter());
        assert_ne!(
            same.normalize("view", "query", pg15),
            same.normalize("view", "query", pg18)
        );
    }
}
