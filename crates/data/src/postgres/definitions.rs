//! The catalog query that lists every schema object with its definition, split into named
//! facets ("query", "body", "default", "definition"...), so that a difference can say what
//! differs and show both sides. One row per (object, facet); empty facets are left out, and
//! every object has one row with the empty facet so that it is listed even when it has none.
//!
//! The query runs with `search_path = pg_catalog` (see [`SEARCH_PATH`]): every name the
//! server's deparsers print is then schema-qualified the same way on both servers, whatever
//! their configuration. What still differs between major versions is smoothed out in
//! [`super::normalize`].

use super::inventory::{not_extension_member, user_relations, user_schema};

/// Set before the query: deparsed text qualifies every name not in `pg_catalog`.
pub const SEARCH_PATH: &str = "SET search_path = pg_catalog;";

/// What the object list covers beyond definitions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scope {
    /// Owners and privileges (grants) too: off by default, since copies are often restored
    /// with `--no-owner`/`--no-privileges` on purpose.
    pub privileges: bool,
}

/// The query listing (kind, schema, name, facet, value) of every user object on a server of
/// major version `major`.
pub fn objects_query(major: u32, scope: Scope) -> String {
    let branches = [
        schemas(scope),
        relations(scope),
        columns(major, scope),
        indexes(),
        constraints(),
        domain_constraints(),
        triggers(major),
        policies(),
        rules(),
        routines(major, scope),
        types(scope),
        collations(major),
        text_search(),
        extensions(),
        comments(),
    ];
    format!(
        "WITH rels AS ({rels})\nSELECT * FROM (\n{}\n) o WHERE o.facet = '' OR coalesce(o.value, '') <> ''",
        branches.join("\nUNION ALL\n"),
        rels = user_relations(),
    )
}

/// `(VALUES ('', ''), (facet, value)...) f(facet, value)`, values cast to text, with the
/// owner and privileges facets added when the scope asks for them.
fn facets(list: &[(&str, String)], privileges: Option<(String, String)>) -> String {
    let mut rows = vec!["('', '')".to_string()];
    rows.extend(
        list.iter()
            .map(|(facet, value)| format!("('{facet}', ({value})::text)")),
    );
    if let Some((owner, acl)) = privileges {
        rows.push(format!("('owner', pg_get_userbyid({owner})::text)"));
        rows.push(format!("('privileges', ({acl})::text)"));
    }
    format!(
        "CROSS JOIN LATERAL (VALUES {}) f(facet, value)",
        rows.join(", ")
    )
}

/// An ACL as sorted text, the default privileges spelled out when none were granted, so that
/// "never granted" and "granted back to the default" read the same.
fn acl(column: &str, kind: char, owner: &str) -> String {
    format!(
        "SELECT string_agg(x, ' ' ORDER BY x) FROM unnest(coalesce({column}, acldefault('{kind}'::\"char\", {owner}))::text[]) x"
    )
}

fn owned(scope: Scope, owner: &str, acl_text: String) -> Option<(String, String)> {
    scope.privileges.then(|| (owner.to_string(), acl_text))
}

/// A collation's qualified name when it is not the type's own.
fn collation_name(oid: &str) -> String {
    format!("SELECT quote_ident(cn.nspname) || '.' || quote_ident(co.collname) FROM pg_collation co JOIN pg_namespace cn ON cn.oid = co.collnamespace WHERE co.oid = {oid}")
}

fn schemas(scope: Scope) -> String {
    format!(
        "SELECT 'schema' AS kind, n.nspname AS schema, '' AS name, f.facet, f.value FROM pg_namespace n {} WHERE {} AND {}",
        facets(&[], owned(scope, "n.nspowner", acl("n.nspacl", 'n', "n.nspowner"))),
        user_schema("n.nspname"),
        not_extension_member("pg_namespace", "n.oid"),
    )
}

fn relations(scope: Scope) -> String {
    let acl_kind = "(CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END)::\"char\"";
    let list = [
        ("persistence", "CASE c.relpersistence WHEN 'u' THEN 'unlogged' WHEN 't' THEN 'temporary' END".to_string()),
        ("partition key", "CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END".into()),
        ("partition of", "CASE WHEN c.relispartition THEN (SELECT i.inhparent::regclass::text FROM pg_inherits i WHERE i.inhrelid = c.oid LIMIT 1) || ' ' || pg_get_expr(c.relpartbound, c.oid) END".into()),
        ("inherits", "CASE WHEN NOT c.relispartition THEN (SELECT string_agg(i.inhparent::regclass::text, ', ' ORDER BY i.inhseqno) FROM pg_inherits i WHERE i.inhrelid = c.oid) END".into()),
        ("query", "CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid, true) END".into()),
        ("options", "SELECT string_agg(o, ', ' ORDER BY o) FROM unnest(c.reloptions) o".into()),
        ("row security", "CASE WHEN c.relrowsecurity THEN 'enabled' || CASE WHEN c.relforcerowsecurity THEN ', forced' ELSE '' END END".into()),
        ("sequence", "SELECT format('%s start %s increment %s min %s max %s cache %s%s', format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, CASE WHEN s.seqcycle THEN ' cycle' ELSE '' END) FROM pg_sequence s WHERE s.seqrelid = c.oid".into()),
        ("server", "SELECT fs.srvname || coalesce(' ' || array_to_string(ft.ftoptions, ', '), '') FROM pg_foreign_table ft JOIN pg_foreign_server fs ON fs.oid = ft.ftserver WHERE ft.ftrelid = c.oid".into()),
    ];
    format!(
        "SELECT CASE r.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence' WHEN 'f' THEN 'foreign table' ELSE 'table' END,
  r.nspname, r.relname, f.facet, f.value
  FROM rels r JOIN pg_class c ON c.oid = r.oid {} WHERE r.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')",
        facets(
            &list,
            owned(scope, "c.relowner", acl("c.relacl", 'r', "c.relowner").replace("'r'::\"char\"", acl_kind))
        ),
    )
}

fn columns(major: u32, scope: Scope) -> String {
    let generated = if major >= 12 { "a.attgenerated" } else { "''" };
    let mut list = vec![
        ("type", "format_type(a.atttypid, a.atttypmod)".to_string()),
        ("not null", "CASE WHEN a.attnotnull THEN 'not null' END".into()),
        ("default", format!("CASE WHEN {generated} = '' THEN pg_get_expr(d.adbin, d.adrelid, true) END")),
        ("generated", format!("CASE WHEN {generated} <> '' THEN pg_get_expr(d.adbin, d.adrelid, true) || CASE {generated} WHEN 's' THEN ' stored' ELSE ' virtual' END END")),
        // Partitions carry their parent's identity from PostgreSQL 17 on: compared there.
        ("identity", "CASE WHEN NOT c.relispartition THEN CASE a.attidentity WHEN 'a' THEN 'generated always' WHEN 'd' THEN 'generated by default' END END".into()),
        ("collation", format!("CASE WHEN a.attcollation <> t.typcollation THEN ({}) END", collation_name("a.attcollation"))),
    ];
    if scope.privileges {
        // Column grants only: a column's owner is its table's.
        list.push((
            "privileges",
            "SELECT string_agg(x, ' ' ORDER BY x) FROM unnest(a.attacl::text[]) x".into(),
        ));
    }
    format!(
        "SELECT 'column', r.nspname, r.relname || '.' || a.attname, f.facet, f.value
  FROM pg_attribute a JOIN rels r ON r.oid = a.attrelid JOIN pg_class c ON c.oid = a.attrelid
  JOIN pg_type t ON t.oid = a.atttypid LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum {}
  WHERE a.attnum > 0 AND NOT a.attisdropped AND r.relkind IN ('r', 'p', 'm', 'f', 'v')",
        facets(&list, None)
    )
}

fn indexes() -> String {
    // The definition without `CREATE INDEX name ON table`: from `USING method (...)` on,
    // with its columns, expressions, operator classes, INCLUDE, options and predicate.
    let list = [
        ("table", "t.relname".to_string()),
        (
            "definition",
            "regexp_replace(pg_get_indexdef(i.indexrelid), '^.*? USING ', 'USING ')".into(),
        ),
        (
            "state",
            "CASE WHEN NOT i.indisvalid THEN 'invalid' END".into(),
        ),
    ];
    format!(
        "SELECT 'index', r.nspname, r.relname, f.facet, f.value
  FROM pg_index i JOIN rels r ON r.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid {}",
        facets(&list, None)
    )
}

fn constraints() -> String {
    // NOT NULL constraints (`n`, PostgreSQL 18 lists them here) are the columns' `not null`.
    format!(
        "SELECT 'constraint', r.nspname, r.relname || '.' || co.conname, f.facet, f.value
  FROM pg_constraint co JOIN rels r ON r.oid = co.conrelid {} WHERE co.contype <> 'n'",
        facets(
            &[("definition", "pg_get_constraintdef(co.oid, true)".into())],
            None
        )
    )
}

fn domain_constraints() -> String {
    format!(
        "SELECT 'constraint', n.nspname, t.typname || '.' || co.conname, f.facet, f.value
  FROM pg_constraint co JOIN pg_type t ON t.oid = co.contypid JOIN pg_namespace n ON n.oid = t.typnamespace {}
  WHERE co.contypid <> 0 AND co.contype <> 'n' AND {}",
        facets(
            &[("definition", "pg_get_constraintdef(co.oid, true)".into())],
            None
        ),
        user_schema("n.nspname"),
    )
}

fn triggers(major: u32) -> String {
    // Triggers cloned onto partitions come with their parent's: compared there.
    let clone = if major >= 13 {
        " AND tg.tgparentid = 0"
    } else {
        ""
    };
    let list = [
        ("definition", "regexp_replace(pg_get_triggerdef(tg.oid, true), '^CREATE (CONSTRAINT )?TRIGGER .*? (BEFORE|AFTER|INSTEAD OF) ', '\\1\\2 ')".to_string()),
        ("enabled", "CASE tg.tgenabled WHEN 'D' THEN 'disabled' WHEN 'R' THEN 'replica' WHEN 'A' THEN 'always' END".into()),
    ];
    format!(
        "SELECT 'trigger', r.nspname, r.relname || '.' || tg.tgname, f.facet, f.value
  FROM pg_trigger tg JOIN rels r ON r.oid = tg.tgrelid {} WHERE NOT tg.tgisinternal{clone}",
        facets(&list, None)
    )
}

fn policies() -> String {
    let list = [
        ("command", "CASE po.polcmd WHEN 'r' THEN 'select' WHEN 'a' THEN 'insert' WHEN 'w' THEN 'update' WHEN 'd' THEN 'delete' ELSE 'all' END".to_string()),
        ("permissive", "CASE WHEN NOT po.polpermissive THEN 'restrictive' END".into()),
        ("roles", "SELECT string_agg(x, ', ' ORDER BY x) FROM (SELECT CASE WHEN ro = 0 THEN 'public' ELSE pg_get_userbyid(ro)::text END x FROM unnest(po.polroles) ro) q".into()),
        ("using", "pg_get_expr(po.polqual, po.polrelid, true)".into()),
        ("with check", "pg_get_expr(po.polwithcheck, po.polrelid, true)".into()),
    ];
    format!(
        "SELECT 'policy', r.nspname, r.relname || '.' || po.polname, f.facet, f.value
  FROM pg_policy po JOIN rels r ON r.oid = po.polrelid {}",
        facets(&list, None)
    )
}

fn rules() -> String {
    let list = [
        (
            "definition",
            "regexp_replace(pg_get_ruledef(ru.oid, true), '^CREATE RULE .*? AS\\s+', '')"
                .to_string(),
        ),
        (
            "enabled",
            "CASE ru.ev_enabled WHEN 'D' THEN 'disabled' WHEN 'R' THEN 'replica' WHEN 'A' THEN 'always' END"
                .into(),
        ),
    ];
    format!(
        "SELECT 'rule', r.nspname, r.relname || '.' || ru.rulename, f.facet, f.value
  FROM pg_rewrite ru JOIN rels r ON r.oid = ru.ev_class {} WHERE ru.rulename <> '_RETURN'",
        facets(&list, None)
    )
}

fn routines(major: u32, scope: Scope) -> String {
    let sql_body = if major >= 14 {
        "WHEN p.prosqlbody IS NOT NULL THEN pg_get_function_sqlbody(p.oid) "
    } else {
        ""
    };
    let list = [
        ("language", "CASE WHEN p.prokind <> 'a' THEN l.lanname END".to_string()),
        ("arguments", "pg_get_function_arguments(p.oid)".into()),
        ("result", "CASE WHEN p.prokind <> 'p' THEN pg_get_function_result(p.oid) END".into()),
        ("volatility", "CASE p.provolatile WHEN 'i' THEN 'immutable' WHEN 's' THEN 'stable' ELSE 'volatile' END".into()),
        ("strict", "CASE WHEN p.proisstrict THEN 'strict' END".into()),
        ("security", "CASE WHEN p.prosecdef THEN 'definer' END".into()),
        ("leakproof", "CASE WHEN p.proleakproof THEN 'leakproof' END".into()),
        ("parallel", "CASE p.proparallel WHEN 's' THEN 'safe' WHEN 'r' THEN 'restricted' END".into()),
        ("settings", "array_to_string(p.proconfig, ', ')".into()),
        ("body", format!("CASE WHEN p.prokind = 'a' THEN NULL {sql_body}WHEN l.lanname = 'c' THEN p.probin || ' ' || p.prosrc ELSE p.prosrc END")),
        ("aggregate", "CASE WHEN ag.aggfnoid IS NOT NULL THEN concat_ws(' ', 'sfunc=' || ag.aggtransfn::text, 'stype=' || format_type(ag.aggtranstype, NULL), 'finalfunc=' || ag.aggfinalfn::text, 'combinefunc=' || ag.aggcombinefn::text, 'initcond=' || ag.agginitval, 'sortop=' || ag.aggsortop::regoperator::text, 'kind=' || ag.aggkind::text) END".into()),
    ];
    format!(
        "SELECT CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate' WHEN 'w' THEN 'window function' ELSE 'function' END,
  n.nspname, p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')', f.facet, f.value
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_language l ON l.oid = p.prolang
  LEFT JOIN pg_aggregate ag ON ag.aggfnoid = p.oid {}
  WHERE {} AND {}",
        facets(&list, owned(scope, "p.proowner", acl("p.proacl", 'f', "p.proowner"))),
        user_schema("n.nspname"),
        not_extension_member("pg_proc", "p.oid"),
    )
}

fn types(scope: Scope) -> String {
    let list = [
        ("labels", "CASE WHEN t.typtype = 'e' THEN (SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid) END".to_string()),
        ("base type", "CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) END".into()),
        ("not null", "CASE WHEN t.typtype = 'd' AND t.typnotnull THEN 'not null' END".into()),
        ("default", "CASE WHEN t.typtype = 'd' THEN pg_get_expr(t.typdefaultbin, 0) END".into()),
        ("collation", format!("CASE WHEN t.typtype = 'd' AND t.typcollation <> (SELECT b.typcollation FROM pg_type b WHERE b.oid = t.typbasetype) THEN ({}) END", collation_name("t.typcollation"))),
        ("attributes", "CASE WHEN t.typtype = 'c' THEN (SELECT string_agg(quote_ident(a.attname) || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum) FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped) END".into()),
        ("subtype", "CASE WHEN t.typtype = 'r' THEN (SELECT concat_ws(' ', format_type(rg.rngsubtype, NULL), 'opclass=' || rg.rngsubopc::regclass::text, 'canonical=' || rg.rngcanonical::text, 'diff=' || rg.rngsubdiff::text) FROM pg_range rg WHERE rg.rngtypid = t.oid) END".into()),
    ];
    format!(
        "SELECT CASE t.typtype WHEN 'e' THEN 'enum' WHEN 'd' THEN 'domain' WHEN 'r' THEN 'range type' ELSE 'type' END,
  n.nspname, t.typname, f.facet, f.value
  FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace {}
  WHERE t.typtype IN ('e', 'd', 'c', 'r') AND {} AND {}
    AND (t.typtype <> 'c' OR (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c')",
        facets(&list, owned(scope, "t.typowner", acl("t.typacl", 'T', "t.typowner"))),
        user_schema("n.nspname"),
        not_extension_member("pg_type", "t.oid"),
    )
}

fn collations(major: u32) -> String {
    let locale = match major {
        17.. => "co.colllocale",
        15 | 16 => "co.colliculocale",
        _ => "NULL::text",
    };
    let deterministic = if major >= 12 {
        "CASE WHEN NOT co.collisdeterministic THEN 'nondeterministic' END"
    } else {
        "NULL"
    };
    let list = [
        ("provider", "CASE co.collprovider WHEN 'c' THEN 'libc' WHEN 'i' THEN 'icu' WHEN 'b' THEN 'builtin' ELSE 'default' END".to_string()),
        ("locale", format!("concat_ws(' ', 'collate=' || co.collcollate, 'ctype=' || co.collctype, 'locale=' || {locale})")),
        ("deterministic", deterministic.into()),
    ];
    format!(
        "SELECT 'collation', n.nspname, co.collname, f.facet, f.value
  FROM pg_collation co JOIN pg_namespace n ON n.oid = co.collnamespace {} WHERE {} AND {}",
        facets(&list, None),
        user_schema("n.nspname"),
        not_extension_member("pg_collation", "co.oid"),
    )
}

fn text_search() -> String {
    let list = [
        ("parser", "SELECT pr.prsname FROM pg_ts_parser pr WHERE pr.oid = c.cfgparser".to_string()),
        ("mappings", "SELECT string_agg(m.maptokentype || ':' || m.mapdict::regdictionary::text, ', ' ORDER BY m.maptokentype, m.mapseqno) FROM pg_ts_config_map m WHERE m.mapcfg = c.oid".into()),
    ];
    format!(
        "SELECT 'text search configuration', n.nspname, c.cfgname, f.facet, f.value
  FROM pg_ts_config c JOIN pg_namespace n ON n.oid = c.cfgnamespace {} WHERE {} AND {}",
        facets(&list, None),
        user_schema("n.nspname"),
        not_extension_member("pg_ts_config", "c.oid"),
    )
}

fn extensions() -> String {
    format!(
        "SELECT 'extension', '', e.extname, f.facet, f.value
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace {}",
        facets(
            &[
                ("version", "e.extversion".into()),
                ("schema", "n.nspname".into())
            ],
            None
        )
    )
}

fn comments() -> String {
    let schema = "coalesce(o.schema, CASE WHEN o.type = 'schema' THEN o.identity END)";
    format!(
        "SELECT 'comment', coalesce(o.schema, ''), o.type || ' ' || o.identity, f.facet, f.value
  FROM pg_description d CROSS JOIN LATERAL pg_identify_object(d.classoid, d.objoid, d.objsubid) o {}
  WHERE {}",
        facets(&[("text", "md5(d.description)".into())], None),
        user_schema(schema),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn privileges_are_asked_for_only_when_in_scope() {
        let without = objects_query(18, Scope::default());
        let with = objects_query(18, Scope { privileges: true });
        assert!(!without.contains("'owner'"));
        assert!(with.contains("('owner', pg_get_userbyid(c.relowner)::text)"));
        assert!(
            with.contains("acldefault((CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END)::\"char\"")
        );
    }

    #[test]
    fn version_dependent_columns_follow_the_major() {
        assert!(objects_query(16, Scope::default()).contains("co.colliculocale"));
        assert!(objects_query(18, Scope::default()).contains("co.colllocale"));
        assert!(objects_query(13, Scope::default()).contains("tg.tgparentid = 0"));
        assert!(!objects_query(12, Scope::default()).contains("tgparentid"));
        assert!(!objects_query(13, Scope::default()).contains("prosqlbody"));
        assert!(!objects_query(11, Scope::default()).contains("attgenerated"));
    }
}
