//! SQL text built from names and values read from the servers: identifiers and literals are
//! quoted here and nowhere else, and COPY's text format is decoded here.

/// A quoted identifier: `"name"` with `"` doubled (always quoted, so case and keywords are
/// kept exactly).
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `"schema"."name"`.
pub fn qualified(schema: &str, name: &str) -> String {
    format!("{}.{}", ident(schema), ident(name))
}

/// A string literal for `standard_conforming_strings = on` (the default since 9.1, and set
/// by every session cutover opens): `'text'` with `'` doubled. NUL bytes cannot occur in
/// PostgreSQL text.
pub fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// A value for a libpq connection string: single-quoted with `\` and `'` escaped.
pub fn conninfo_value(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// Decodes COPY text-format output (`COPY (...) TO STDOUT`): one row per line, fields split
/// on tabs, `\N` as NULL and backslash escapes undone.
pub fn copy_rows(text: &str) -> Vec<Vec<Option<String>>> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|line| line.split('\t').map(copy_field).collect())
        .collect()
}

fn copy_field(field: &str) -> Option<String> {
    if field == "\\N" {
        return None;
    }
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('v') => out.push('\u{b}'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_identifiers_and_literals() {
        assert_eq!(ident("Weird \"name\""), "\"Weird \"\"name\"\"\"");
        assert_eq!(qualified("public", "t"), "\"public\".\"t\"");
        assert_eq!(literal("it's"), "'it''s'");
        assert_eq!(conninfo_value(r"p'w\x"), r"'p\'w\\x'");
    }

    #[test]
    fn decodes_copy_text() {
        let rows = copy_rows("a\\tb\t\\N\tx\\\\y\nline\\nbreak\t\t\n");
        assert_eq!(
            rows,
            vec![
                vec![Some("a\tb".into()), None, Some("x\\y".into())],
                vec![
                    Some("line\nbreak".into()),
                    Some(String::new()),
                    Some(String::new())
                ],
            ]
        );
    }
}
