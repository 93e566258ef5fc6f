//! SQL text as tokens: what the normalizer's rules work on, and how tokens are printed
//! back. String literals, quoted names, dollar-quoted bodies and comments stay whole, so a
//! rule never looks inside them.

use super::normalize::is_word;

/// A piece of SQL text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token {
    /// A keyword or unquoted name, or a number.
    Word(String),
    /// A quoted name, quotes included.
    Quoted(String),
    /// A string literal or a dollar-quoted string, quotes included.
    Literal(String),
    /// Punctuation or an operator.
    Punct(String),
    /// A comment, kept (it is part of a function's body).
    Comment(String),
}

pub(crate) fn tokenize(text: &str) -> Vec<Token> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let take_while = |i: &mut usize, f: &dyn Fn(char) -> bool| {
        let start = *i;
        while *i < chars.len() && f(chars[*i]) {
            *i += 1;
        }
        chars[start..*i].iter().collect::<String>()
    };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c.is_whitespace() {
            i += 1;
        } else if c == '-' && next == Some('-') {
            out.push(Token::Comment(take_while(&mut i, &|c| c != '\n')));
        } else if c == '/' && next == Some('*') {
            let start = i;
            i += 2;
            while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                i += 1;
            }
            i = (i + 2).min(chars.len());
            out.push(Token::Comment(chars[start..i].iter().collect()));
        } else if c == '\'' || c == '"' {
            let start = i;
            i += 1;
            while i < chars.len() {
                if chars[i] == c && chars.get(i + 1) == Some(&c) {
                    i += 2;
                } else if chars[i] == c {
                    i += 1;
                    break;
                } else {
                    i += 1;
                }
            }
            let s: String = chars[start..i].iter().collect();
            out.push(if c == '"' {
                Token::Quoted(s)
            } else {
                Token::Literal(s)
            });
        } else if c == '$' && dollar_tag(&chars, i).is_some() {
            let tag = dollar_tag(&chars, i).unwrap_or_default();
            let start = i;
            i += tag.len();
            let body_end = find(&chars, i, &tag).unwrap_or(chars.len());
            i = (body_end + tag.len()).min(chars.len());
            out.push(Token::Literal(chars[start..i].iter().collect()));
        } else if c.is_alphanumeric() || c == '_' {
            out.push(Token::Word(take_while(&mut i, &|c| {
                c.is_alphanumeric() || c == '_' || c == '$'
            })));
        } else if c == ':' && next == Some(':') {
            i += 2;
            out.push(Token::Punct("::".into()));
        } else if "+-*/<>=~!@#%^&|`?".contains(c) {
            out.push(Token::Punct(take_while(&mut i, &|c| {
                "+-*/<>=~!@#%^&|`?".contains(c)
            })));
        } else {
            i += 1;
            out.push(Token::Punct(c.to_string()));
        }
    }
    out
}

/// The `$tag$` opening a dollar-quoted string at `i`, if there is one.
fn dollar_tag(chars: &[char], i: usize) -> Option<String> {
    let mut j = i + 1;
    while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_') {
        j += 1;
    }
    (chars.get(j) == Some(&'$') && !chars.get(i + 1).is_some_and(|c| c.is_ascii_digit()))
        .then(|| chars[i..=j].iter().collect())
}

fn find(chars: &[char], from: usize, needle: &str) -> Option<usize> {
    let n: Vec<char> = needle.chars().collect();
    (from..chars.len().saturating_sub(n.len() - 1)).find(|&k| chars[k..k + n.len()] == n[..])
}

/// Tokens as text: one space between them, none inside `a.b` and `x::t`, after an opening
/// bracket, before a closing one or a comma, and before the brackets of a function call or
/// an array (a `(` after a lower-case name: deparsers print keywords in upper case).
pub(crate) fn render(tokens: &[Token]) -> String {
    let mut out = String::new();
    let mut glue = true;
    let mut previous: Option<&Token> = None;
    let mut before_previous: Option<&Token> = None;
    for t in tokens {
        // `USING btree (a)`: an index method is a name, not a call.
        let call = !is_word(before_previous, "using")
            && (matches!(previous, Some(Token::Quoted(_)))
                || matches!(previous, Some(Token::Word(w)) if w.chars().any(|c| c.is_lowercase())));
        let (text, tight_before, tight_after) = match t {
            Token::Punct(p) => match p.as_str() {
                "." | "::" => (p.as_str(), true, true),
                "[" | ":" => (p.as_str(), true, true),
                "(" => (p.as_str(), call, true),
                ")" | "]" | "," | ";" => (p.as_str(), true, false),
                _ => (p.as_str(), false, false),
            },
            Token::Word(s) | Token::Quoted(s) | Token::Literal(s) | Token::Comment(s) => {
                (s.as_str(), false, false)
            }
        };
        if !out.is_empty() && !glue && !tight_before {
            out.push(' ');
        }
        out.push_str(text);
        glue = tight_after;
        before_previous = previous;
        previous = Some(t);
    }
    out
}
