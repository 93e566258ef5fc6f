//! SQL text built from names and values read from the servers or the plan: identifiers and
//! literals are quoted here and nowhere else. Every session cutover opens turns
//! `NO_BACKSLASH_ESCAPES` off ([`SESSION_SQL_MODE`]), so the escaping below holds whatever
//! the server's own `sql_mode`.

/// Removes `NO_BACKSLASH_ESCAPES` from the session's `sql_mode`, keeping the rest.
pub const SESSION_SQL_MODE: &str = "SET SESSION sql_mode = TRIM(BOTH ',' FROM REPLACE(CONCAT(',', @@SESSION.sql_mode, ','), ',NO_BACKSLASH_ESCAPES,', ','))";

/// A quoted identifier: `` `name` `` with `` ` `` doubled.
pub fn ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// `` `db`.`name` ``.
pub fn qualified(db: &str, name: &str) -> String {
    format!("{}.{}", ident(db), ident(name))
}

/// A string literal: `'text'` with `'` doubled and `\` and NUL escaped.
pub fn literal(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            '\0' => out.push_str("\\0"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_identifiers_and_literals() {
        assert_eq!(ident("we`ird"), "`we``ird`");
        assert_eq!(qualified("shop", "order items"), "`shop`.`order items`");
        assert_eq!(literal("it's a\\b\0"), "'it''s a\\\\b\\0'");
    }
}
