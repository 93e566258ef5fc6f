//! The post-data part of a schema (`pg_dump --section=post-data`: indexes, constraints,
//! triggers, materialized view refreshes...), split into its entries so that each table's
//! indexes are built as soon as its rows are in, overlapping other tables' copies, while
//! everything else runs afterwards in pg_dump's own (dependency-safe) order.
//!
//! pg_dump introduces every entry with a fixed comment header
//! (`-- Name: ...; Type: ...; Schema: ...; Owner: ...`) preceded by the `SET` lines it
//! needs (e.g. `default_tablespace`); each entry keeps those and runs after the dump's
//! preamble (search_path, `\restrict`...), exactly as psql would have run it.

/// One entry of the dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The entry's name as pg_dump writes it (`table constraint`, `index`...).
    pub name: String,
    /// Its type (`INDEX`, `CONSTRAINT`, `FK CONSTRAINT`, `MATERIALIZED VIEW DATA`...).
    pub kind: String,
    /// Its schema (`-` when none).
    pub schema: String,
    /// Its SQL, with the `SET` lines pg_dump put before it.
    pub sql: String,
}

/// A post-data dump split into its preamble, entries and closing lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PostData {
    /// What runs before any entry (session settings, `\restrict KEY`).
    pub preamble: String,
    /// The entries in dump order.
    pub entries: Vec<Entry>,
    /// What runs after the entries (`\unrestrict KEY`).
    pub postamble: String,
}

impl PostData {
    /// A psql script running `entries` (a subset, in order) the way the whole dump would.
    pub fn script(&self, entries: &[&Entry]) -> String {
        let mut s = self.preamble.clone();
        for e in entries {
            s.push_str(&e.sql);
            s.push('\n');
        }
        s.push_str(&self.postamble);
        s
    }
}

fn header(line: &str) -> Option<(String, String, String)> {
    let rest = line.strip_prefix("-- Name: ")?;
    let (rest, _owner) = rest.rsplit_once("; Owner: ")?;
    let (rest, schema) = rest.rsplit_once("; Schema: ")?;
    let (name, kind) = rest.rsplit_once("; Type: ")?;
    Some((name.to_string(), kind.to_string(), schema.to_string()))
}

fn is_setting(line: &str) -> bool {
    line.is_empty() || line.starts_with("SET ") || line.starts_with("SELECT pg_catalog.set_config(")
}

/// Splits the plain-format output of `pg_dump --section=post-data`.
pub fn parse(dump: &str) -> PostData {
    let lines: Vec<&str> = dump.lines().collect();
    let is_header_at = |i: usize| {
        lines.get(i) == Some(&"--")
            && lines.get(i + 2) == Some(&"--")
            && lines.get(i + 1).is_some_and(|l| header(l).is_some())
    };
    let is_footer_at = |i: usize| {
        lines.get(i) == Some(&"--")
            && lines
                .get(i + 1)
                .is_some_and(|l| l.starts_with("-- PostgreSQL database dump complete"))
    };
    // The preamble: up to the end of the first block of settings (what pg_dump writes once).
    let mut preamble_end = 0;
    let mut seen_settings = false;
    for (i, l) in lines.iter().enumerate() {
        if is_header_at(i) || is_footer_at(i) {
            break;
        }
        if l.starts_with("SET ") || l.starts_with("SELECT pg_catalog.set_config(") {
            seen_settings = true;
        } else if seen_settings && l.is_empty() {
            preamble_end = i + 1;
            break;
        }
        preamble_end = i + 1;
    }
    let mut entries = Vec::new();
    let mut starts: Vec<(usize, usize)> = Vec::new(); // (start of entry incl. SETs, header)
    let mut footer = lines.len();
    let mut i = preamble_end;
    while i < lines.len() {
        if is_footer_at(i) {
            footer = i;
            break;
        }
        if is_header_at(i) {
            let floor = starts.last().map_or(preamble_end, |(_, h)| h + 3);
            let mut start = i;
            while start > floor && is_setting(lines[start - 1]) {
                start -= 1;
            }
            starts.push((start, i));
            i += 3;
            continue;
        }
        i += 1;
    }
    for (k, &(start, h)) in starts.iter().enumerate() {
        let end = starts.get(k + 1).map_or(footer, |(s, _)| *s);
        let Some((name, kind, schema)) = header(lines[h + 1]) else {
            continue;
        };
        let sql = lines[start..end].join("\n").trim().to_string();
        entries.push(Entry {
            name,
            kind,
            schema,
            sql,
        });
    }
    let keep = |ls: &[&str]| -> String {
        ls.iter()
            .filter(|l| !l.starts_with("--") && !l.is_empty())
            .map(|l| format!("{l}\n"))
            .collect()
    };
    PostData {
        preamble: keep(&lines[..preamble_end.min(lines.len())]),
        entries,
        postamble: keep(&lines[footer.min(lines.len())..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUMP: &str = "--
-- PostgreSQL database dump
--

\\restrict KEY123

-- Dumped from database version 16.15

SET statement_timeout = 0;
SELECT pg_catalog.set_config('search_path', '', false);
SET row_security = off;

SET default_tablespace = '';

--
-- Name: t t_pkey; Type: CONSTRAINT; Schema: public; Owner: postgres
--

ALTER TABLE ONLY public.t
    ADD CONSTRAINT t_pkey PRIMARY KEY (id);


SET default_tablespace = fast;

--
-- Name: t_a_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX t_a_idx ON public.t USING btree (a);


--
-- Name: mv; Type: MATERIALIZED VIEW DATA; Schema: public; Owner: postgres
--

REFRESH MATERIALIZED VIEW public.mv;


--
-- PostgreSQL database dump complete
--

\\unrestrict KEY123
";

    #[test]
    fn splits_entries_keeping_their_settings() {
        let p = parse(DUMP);
        assert_eq!(
            p.preamble,
            "\\restrict KEY123\nSET statement_timeout = 0;\nSELECT pg_catalog.set_config('search_path', '', false);\nSET row_security = off;\n"
        );
        assert_eq!(p.postamble, "\\unrestrict KEY123\n");
        let kinds: Vec<(&str, &str)> = p
            .entries
            .iter()
            .map(|e| (e.name.as_str(), e.kind.as_str()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("t t_pkey", "CONSTRAINT"),
                ("t_a_idx", "INDEX"),
                ("mv", "MATERIALIZED VIEW DATA")
            ]
        );
        assert!(p.entries[0].sql.starts_with("SET default_tablespace = '';"));
        assert!(p.entries[0].sql.ends_with("PRIMARY KEY (id);"));
        assert!(p.entries[1]
            .sql
            .starts_with("SET default_tablespace = fast;"));
        let script = p.script(&[&p.entries[1]]);
        assert!(script.starts_with("\\restrict KEY123\n"));
        assert!(script.contains("CREATE INDEX t_a_idx"));
        assert!(script.ends_with("\\unrestrict KEY123\n"));
        assert!(!script.contains("REFRESH"));
    }

    #[test]
    fn an_empty_post_data_section_has_no_entries() {
        let p = parse("--\n-- PostgreSQL database dump\n--\n\nSET a = 1;\n\n--\n-- PostgreSQL database dump complete\n--\n");
        assert!(p.entries.is_empty());
        assert_eq!(p.preamble, "SET a = 1;\n");
    }
}
