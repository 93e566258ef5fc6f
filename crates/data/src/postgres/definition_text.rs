//! Two definitions that differ, shown to people: in one line as excerpts around where they
//! first differ, or whole, side by side, in the report.

/// Definitions longer than this are shown in one line as an excerpt around where they first
/// differ (the report shows them whole, side by side).
pub(crate) const EXCERPT: usize = 100;

/// Both texts whole when they are short, else the part of each from shortly before their
/// first difference, `…` marking what was cut; "(none)" for an empty one.
pub(crate) fn excerpts(a: &str, b: &str, width: usize) -> (String, String) {
    let (a, b) = (&one_line(a), &one_line(b));
    let shown = |s: &str| {
        if s.is_empty() {
            "(none)".to_string()
        } else {
            s.to_string()
        }
    };
    if a.chars().count() <= width && b.chars().count() <= width {
        return (shown(a), shown(b));
    }
    let first = a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count();
    // From shortly before the first difference, at the start of a word when one is near.
    let mut start = first.saturating_sub(width / 3);
    let chars: Vec<char> = a.chars().collect();
    if let Some(space) = (start.saturating_sub(12)..start)
        .rev()
        .find(|&i| chars.get(i) == Some(&' '))
    {
        start = space + 1;
    }
    let cut = |s: &str| {
        if s.is_empty() {
            return "(none)".to_string();
        }
        let total = s.chars().count();
        let part: String = s.chars().skip(start).take(width).collect();
        format!(
            "{}{part}{}",
            if start > 0 { "…" } else { "" },
            if start + width < total { "…" } else { "" }
        )
    };
    (cut(a), cut(b))
}

/// Two definitions side by side, wrapped at spaces into columns of `width` characters;
/// `✗` marks the lines that differ.
pub fn side_by_side(a: &str, b: &str, width: usize) -> String {
    let (left, right) = (wrap(&one_line(a), width), wrap(&one_line(b), width));
    let mut out = format!("      {:<width$} │ target\n", "source");
    for i in 0..left.len().max(right.len()) {
        let l = left.get(i).map_or("", String::as_str);
        let r = right.get(i).map_or("", String::as_str);
        let mark = if l == r { ' ' } else { '✗' };
        let line = format!("    {mark} {l:<width$} │ {r}");
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `text` in lines of at most `width` characters, broken at spaces where possible.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let mut word = word.to_string();
        while word.chars().count() > width {
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            let head: String = word.chars().take(width).collect();
            word = word.chars().skip(width).collect();
            lines.push(head);
        }
        let len = line.chars().count();
        if len > 0 && len + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&word);
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// Line breaks and tabs inside string literals shown as `\n` and `\t`: a definition is
/// shown on one line (or in one column).
fn one_line(s: &str) -> String {
    s.replace('\n', "\\n").replace('\t', "\\t")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_definitions_are_cut_around_their_first_difference() {
        let a = format!("SELECT {} FROM t WHERE a", "x, ".repeat(60));
        let b = format!("SELECT {} FROM t WHERE NOT a", "x, ".repeat(60));
        let (ea, eb) = excerpts(&a, &b, 40);
        assert_eq!(ea, "…FROM t WHERE a");
        assert_eq!(eb, "…FROM t WHERE NOT a");
        assert_eq!(excerpts("", "b", 40), ("(none)".into(), "b".into()));
        assert_eq!(
            excerpts("'a\nb'", "'a\tb'", 40),
            ("'a\\nb'".into(), "'a\\tb'".into())
        );
    }

    #[test]
    fn side_by_side_marks_the_lines_that_differ() {
        assert_eq!(
            side_by_side("SELECT id, name FROM t", "SELECT id, name FROM u", 12),
            "      source       │ target\n      SELECT id,   │ SELECT id,\n    ✗ name FROM t  │ name FROM u\n"
        );
    }
}
