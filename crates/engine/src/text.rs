//! Text from outside cutover (file names, command output, servers' answers, the journal)
//! made safe to show: on a terminal, control characters could move the cursor, rewrite what
//! was printed or set the title, and bidirectional controls reorder what a reader sees
//! (a file name that reads as another); in the Markdown report, raw HTML and Markdown would
//! be rendered. Each is shown as a visible escape instead.

use std::borrow::Cow;
use std::fmt::Write;

/// True for characters shown as an escape: C0 controls but newline and tab, DEL, C1
/// controls, the bidirectional formatting characters (U+061C, U+200E, U+200F,
/// U+202A-U+202E, U+2066-U+2069) and the line and paragraph separators.
pub fn is_hidden(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(
            c,
            '\u{061C}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
                | '\u{2028}'
                | '\u{2029}'
        )
}

/// `text` for a terminal: every [`is_hidden`] character as `\u{XXXX}` (newlines and tabs
/// kept).
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_hidden) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_hidden(c) {
            let _ = write!(out, "\\u{{{:04X}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `text` for a line of Markdown (a table cell, a heading): [`printable`], then HTML's
/// `&`, `<` and `>` as entities, and the characters that would open a code span or a link or
/// end the cell backslash-escaped; newlines become `<br>`.
pub fn markdown_inline(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in printable(text).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\n' => out.push_str("<br>"),
            '\\' | '`' | '|' | '[' | ']' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// `text` as a fenced Markdown code block with info string `info`: nothing inside is
/// rendered, and the fence is longer than any run of backticks in the text so the text
/// cannot close it.
pub fn markdown_code_block(info: &str, text: &str) -> String {
    let text = printable(text);
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat((longest + 1).max(3));
    format!("{fence}{info}\n{}\n{fence}\n", text.trim_end())
}

/// Serialized JSON with every [`is_hidden`] character the serializer left raw written as a
/// `\uXXXX` escape: the same JSON value, safe to print (such characters only occur inside
/// strings, where the escape means the same).
pub fn json_printable(json: &str) -> Cow<'_, str> {
    if !json.chars().any(is_hidden) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if is_hidden(c) && c != '\n' {
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_text_shows_controls_and_bidi_as_escapes() {
        assert_eq!(printable("plain\tline\n"), "plain\tline\n");
        assert_eq!(
            printable("invoice\u{202E}fdp.exe\u{2066}\u{1b}[2J\r\u{85}\u{7f}"),
            "invoice\\u{202E}fdp.exe\\u{2066}\\u{001B}[2J\\u{000D}\\u{0085}\\u{007F}"
        );
    }

    #[test]
    fn markdown_cells_carry_no_html_links_or_cell_breaks() {
        assert_eq!(
            markdown_inline("<img src=x onerror=alert(1)> & [a](b) | `c` \\\nnext\u{202E}"),
            r"&lt;img src=x onerror=alert(1)&gt; &amp; \[a\](b) \| \`c\` \\<br>next\\u{202E}"
        );
    }

    #[test]
    fn a_code_block_cannot_be_closed_by_its_text() {
        assert_eq!(
            markdown_code_block("text", "a\n```\n<b>\n"),
            "````text\na\n```\n<b>\n````\n"
        );
        assert_eq!(markdown_code_block("", "x"), "```\nx\n```\n");
    }

    #[test]
    fn json_keeps_its_value_and_loses_raw_controls() {
        let json = serde_json::to_string(&"a\u{202E}b\u{85}\n").unwrap();
        let safe = json_printable(&json);
        assert_eq!(safe, "\"a\\u202eb\\u0085\\n\"");
        let back: String = serde_json::from_str(&safe).unwrap();
        assert_eq!(back, "a\u{202E}b\u{85}\n");
    }
}
