//! Exclusion globs, with rsync's meaning: a pattern without `/` matches a name at any depth
//! (`*.tmp`, `cache`); a pattern with `/` matches the path from the tree's root (`media/tmp`,
//! `/static/*.map`); a trailing `/` matches directories only; `*` and `?` stop at `/`, `**`
//! crosses it, `[abc]` / `[!a-z]` are classes. An excluded directory is skipped whole.

/// One parsed pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    glob: Vec<u8>,
    anchored: bool,
    dir_only: bool,
}

/// A set of exclusion patterns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Excludes(Vec<Pattern>);

impl Excludes {
    /// Parses `patterns`; empty ones are refused with a reason.
    pub fn new(patterns: &[String]) -> Result<Self, String> {
        let mut out = Vec::new();
        for p in patterns {
            let mut glob = p.as_bytes().to_vec();
            let dir_only = glob.ends_with(b"/");
            while glob.ends_with(b"/") {
                glob.pop();
            }
            let anchored = glob.contains(&b'/');
            if glob.first() == Some(&b'/') {
                glob.remove(0);
            }
            if glob.is_empty() {
                return Err(format!("exclude pattern `{p}` matches nothing"));
            }
            out.push(Pattern {
                glob,
                anchored,
                dir_only,
            });
        }
        Ok(Excludes(out))
    }

    /// True when nothing is excluded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// True when the entry at relative `path` (a directory when `is_dir`) is excluded.
    pub fn excludes(&self, path: &[u8], is_dir: bool) -> bool {
        let name = match path.iter().rposition(|b| *b == b'/') {
            Some(i) => &path[i + 1..],
            None => path,
        };
        self.0.iter().any(|p| {
            (!p.dir_only || is_dir) && matches(&p.glob, if p.anchored { path } else { name })
        })
    }
}

/// Glob match of `text` against `pat` (see the module doc for the syntax).
fn matches(pat: &[u8], text: &[u8]) -> bool {
    match pat.first() {
        None => text.is_empty(),
        Some(b'*') if pat.get(1) == Some(&b'*') => {
            let rest = &pat[2..];
            // `**/` also matches nothing at all.
            if rest.first() == Some(&b'/') && matches(&rest[1..], text) {
                return true;
            }
            (0..=text.len()).any(|i| matches(rest, &text[i..]))
        }
        Some(b'*') => {
            let rest = &pat[1..];
            for i in 0..=text.len() {
                if matches(rest, &text[i..]) {
                    return true;
                }
                if text.get(i) == Some(&b'/') {
                    break;
                }
            }
            false
        }
        Some(b'?') => {
            matches!(text.first(), Some(c) if *c != b'/') && matches(&pat[1..], &text[1..])
        }
        Some(b'[') => match (class(&pat[1..]), text.first()) {
            (Some((ok, len)), Some(&c)) if c != b'/' && ok(c) => {
                matches(&pat[1 + len..], &text[1..])
            }
            (Some(_), _) => false,
            // An unclosed `[` is a literal.
            (None, Some(b'[')) => matches(&pat[1..], &text[1..]),
            (None, _) => false,
        },
        Some(c) => text.first() == Some(c) && matches(&pat[1..], &text[1..]),
    }
}

/// Parses a class body after `[`: a matcher and the length consumed including `]`.
#[allow(clippy::type_complexity)]
fn class(pat: &[u8]) -> Option<(Box<dyn Fn(u8) -> bool + '_>, usize)> {
    let negate = matches!(pat.first(), Some(b'!') | Some(b'^'));
    let start = usize::from(negate);
    let end = pat[start..]
        .iter()
        .skip(1)
        .position(|b| *b == b']')
        .map(|i| start + 1 + i)?;
    let body = &pat[start..end];
    let f = move |c: u8| {
        let mut i = 0;
        let mut hit = false;
        while i < body.len() {
            if i + 2 < body.len() && body[i + 1] == b'-' {
                hit |= (body[i]..=body[i + 2]).contains(&c);
                i += 3;
            } else {
                hit |= body[i] == c;
                i += 1;
            }
        }
        hit != negate
    };
    Some((Box::new(f), end + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(p: &[&str]) -> Excludes {
        Excludes::new(&p.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn names_match_at_any_depth_and_paths_from_the_root() {
        let e = ex(&["*.tmp", "cache/", "/static/*.map", "media/**/thumbs"]);
        assert!(e.excludes(b"a/b/x.tmp", false));
        assert!(e.excludes(b"x.tmp", false));
        assert!(!e.excludes(b"x.tmpl", false));
        assert!(e.excludes(b"deep/cache", true));
        assert!(!e.excludes(b"deep/cache", false), "dir-only pattern");
        assert!(e.excludes(b"static/app.map", false));
        assert!(!e.excludes(b"static/js/app.map", false), "* stops at /");
        assert!(e.excludes(b"media/thumbs", true));
        assert!(e.excludes(b"media/a/b/thumbs", true));
        assert!(ex(&["img-[0-4]?.jpg"]).excludes(b"up/img-31.jpg", false));
        assert!(!ex(&["img-[!0-4]?.jpg"]).excludes(b"up/img-31.jpg", false));
    }
}
