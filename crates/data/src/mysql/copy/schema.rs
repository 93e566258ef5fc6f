//! A table's `SHOW CREATE TABLE` split for a fast load: the table is created with its
//! primary key (rows then arrive in clustered order) and without its secondary keys and
//! foreign keys, which are built once the rows are in (one sorted build per key instead of
//! maintaining every key row by row). `SHOW CREATE TABLE` prints one column or key per line,
//! indented by two spaces, which is what this relies on.

/// A table's statement split for loading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// `CREATE TABLE` without the deferred keys and foreign keys.
    pub create: String,
    /// `ADD KEY ...` clauses for one `ALTER TABLE` once the rows are in.
    pub keys: Vec<String>,
    /// `ADD CONSTRAINT ... FOREIGN KEY ...` clauses, added once every table is loaded.
    pub foreign_keys: Vec<String>,
}

/// Splits `create` (a `SHOW CREATE TABLE` text). Keys stay in place when deferring them
/// would change the table: without a primary key (InnoDB would cluster on the first unique
/// key), the key an `AUTO_INCREMENT` column needs, and full-text and spatial keys (InnoDB
/// builds those one at a time, rebuilding the table for the first full-text key).
pub fn split(create: &str, auto_increment_column: Option<&str>) -> Split {
    let mut lines: Vec<&str> = create.lines().collect();
    let (Some(open), Some(close)) = (
        lines.iter().position(|l| l.trim_end().ends_with('(')),
        lines.iter().rposition(|l| l.starts_with(')')),
    ) else {
        return whole(create);
    };
    if open >= close {
        return whole(create);
    }
    let body: Vec<&str> = lines.drain(open + 1..close).collect();
    // A line of any other shape (an expression spanning lines) makes the split unsafe.
    if !body.iter().all(|l| one_item(l)) {
        return whole(create);
    }
    let has_primary = body
        .iter()
        .any(|l| l.trim_start().starts_with("PRIMARY KEY"));
    let mut kept = Vec::new();
    let mut keys = Vec::new();
    let mut foreign_keys = Vec::new();
    let mut auto_key_kept = false;
    for line in body {
        let item = line.trim().trim_end_matches(',');
        let is_key = item.starts_with("KEY ") || item.starts_with("UNIQUE KEY ");
        let is_foreign = item.starts_with("CONSTRAINT ") && item.contains(" FOREIGN KEY ");
        if is_foreign {
            foreign_keys.push(format!("ADD {item}"));
            continue;
        }
        if is_key && has_primary {
            let needed = auto_increment_column
                .is_some_and(|c| !auto_key_kept && first_key_column(item).as_deref() == Some(c));
            if !needed {
                keys.push(format!("ADD {item}"));
                continue;
            }
            auto_key_kept = true;
        }
        kept.push(item.to_string());
    }
    let inner = kept
        .iter()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join(",\n");
    let mut out: Vec<String> = lines[..=open].iter().map(|s| s.to_string()).collect();
    out.push(inner);
    out.extend(lines[open + 1..].iter().map(|s| s.to_string()));
    Split {
        create: out.join("\n"),
        keys,
        foreign_keys,
    }
}

/// True for a line holding one whole column, key or constraint as `SHOW CREATE TABLE`
/// prints them.
fn one_item(line: &str) -> bool {
    const STARTS: &[&str] = &[
        "`",
        "PRIMARY KEY ",
        "UNIQUE KEY ",
        "KEY ",
        "FULLTEXT KEY ",
        "SPATIAL KEY ",
        "CONSTRAINT ",
        "PERIOD FOR ",
    ];
    line.strip_prefix("  ")
        .is_some_and(|rest| STARTS.iter().any(|s| rest.starts_with(s)))
}

fn whole(create: &str) -> Split {
    Split {
        create: create.to_string(),
        keys: Vec::new(),
        foreign_keys: Vec::new(),
    }
}

/// The first column of a key line: `` KEY `k` (`a`,`b`) `` gives `a`.
fn first_key_column(item: &str) -> Option<String> {
    let open = item.find('(')?;
    let rest = &item[open + 1..];
    let rest = rest.strip_prefix('`')?;
    let mut name = String::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '`' {
            if chars.peek() == Some(&'`') {
                chars.next();
                name.push('`');
                continue;
            }
            return Some(name);
        }
        name.push(c);
    }
    None
}

/// The column carrying `AUTO_INCREMENT` in a `SHOW CREATE TABLE` text.
pub fn auto_increment_column(create: &str) -> Option<String> {
    create
        .lines()
        .filter(|l| l.starts_with("  `"))
        .find(|l| l.contains(" AUTO_INCREMENT"))
        .and_then(|l| first_key_column(&format!("({}", l.trim())))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORDERS: &str = "CREATE TABLE `orders` (
  `id` bigint(20) NOT NULL AUTO_INCREMENT,
  `customer` int(11) NOT NULL,
  `note` text DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `ref` (`customer`,`id`),
  KEY `by_customer` (`customer`),
  FULLTEXT KEY `ft` (`note`),
  CONSTRAINT `fk_customer` FOREIGN KEY (`customer`) REFERENCES `customers` (`id`) ON DELETE CASCADE,
  CONSTRAINT `positive` CHECK (`customer` > 0)
) ENGINE=InnoDB AUTO_INCREMENT=5 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci";

    #[test]
    fn secondary_and_foreign_keys_wait_for_the_rows() {
        let s = split(ORDERS, Some("id"));
        assert_eq!(
            s.create,
            "CREATE TABLE `orders` (
  `id` bigint(20) NOT NULL AUTO_INCREMENT,
  `customer` int(11) NOT NULL,
  `note` text DEFAULT NULL,
  PRIMARY KEY (`id`),
  FULLTEXT KEY `ft` (`note`),
  CONSTRAINT `positive` CHECK (`customer` > 0)
) ENGINE=InnoDB AUTO_INCREMENT=5 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci"
        );
        assert_eq!(
            s.keys,
            vec![
                "ADD UNIQUE KEY `ref` (`customer`,`id`)",
                "ADD KEY `by_customer` (`customer`)"
            ]
        );
        assert_eq!(
            s.foreign_keys,
            vec!["ADD CONSTRAINT `fk_customer` FOREIGN KEY (`customer`) REFERENCES `customers` (`id`) ON DELETE CASCADE"]
        );
    }

    #[test]
    fn keys_a_table_needs_stay() {
        let no_primary = "CREATE TABLE `log` (\n  `a` int(11) NOT NULL,\n  UNIQUE KEY `a` (`a`)\n) ENGINE=InnoDB";
        let s = split(no_primary, None);
        assert_eq!(s.create, no_primary);
        assert!(s.keys.is_empty());
        let auto_in_second_key = "CREATE TABLE `t` (\n  `a` int(11) NOT NULL,\n  `n` int(11) NOT NULL AUTO_INCREMENT,\n  PRIMARY KEY (`a`),\n  KEY `other` (`a`),\n  KEY `n` (`n`)\n) ENGINE=InnoDB";
        assert_eq!(
            auto_increment_column(auto_in_second_key).as_deref(),
            Some("n")
        );
        let s = split(auto_in_second_key, Some("n"));
        assert!(s.create.contains("  KEY `n` (`n`)\n)"), "{}", s.create);
        assert_eq!(s.keys, vec!["ADD KEY `other` (`a`)"]);
        let multi_line_check = "CREATE TABLE `t` (\n  `a` int(11) NOT NULL,\n  PRIMARY KEY (`a`),\n  KEY `k` (`a`),\n  CONSTRAINT `c` CHECK (`a` > 0 or\n`a` < -5)\n) ENGINE=InnoDB";
        assert_eq!(split(multi_line_check, None).create, multi_line_check);
    }
}
