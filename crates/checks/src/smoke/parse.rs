//! Reading Hurl files (the subset documented in the README): entries of a request (method
//! line, headers, `[QueryStringParams]`, `[BasicAuth]`, `[Options]` with `retry` and
//! `retry-interval`, a JSON or ``` body) and an optional response (`HTTP 200`, headers,
//! `[Captures]`, `[Asserts]`). Every error names `file:line`.

use cutover_plan::checks::assert::{parse_predicate, Predicate};
use std::time::Duration;

/// What a query reads from a response.
#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    /// `status`
    Status,
    /// `header "Name"`
    Header(String),
    /// `body`
    Body,
    /// `jsonpath "$.x"`
    JsonPath(cutover_plan::checks::assert::JsonPath),
    /// `regex "a(b)c"`: the first group (or the whole match)
    Regex(String),
    /// `duration`: milliseconds
    Duration,
}

/// A query with its filters.
#[derive(Debug, Clone, PartialEq)]
pub struct QuerySpec {
    /// The query.
    pub query: Query,
    /// `count` was written after it.
    pub count: bool,
    /// As written.
    pub text: String,
}

/// `[Captures]` line: `name: query [redact]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Capture {
    /// Variable name.
    pub name: String,
    /// What is captured.
    pub query: QuerySpec,
    /// Keep the value out of every output.
    pub redact: bool,
    /// Line in the file.
    pub line: usize,
}

/// `[Asserts]` line: `query predicate`.
#[derive(Debug, Clone, PartialEq)]
pub struct Assert {
    /// What is read.
    pub query: QuerySpec,
    /// What must hold.
    pub predicate: Predicate,
    /// Line in the file.
    pub line: usize,
}

/// One request and what its response must show.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Entry {
    /// Line of the method line.
    pub line: usize,
    /// Method.
    pub method: String,
    /// URL template.
    pub url: String,
    /// Header templates.
    pub headers: Vec<(String, String)>,
    /// Query parameters.
    pub query: Vec<(String, String)>,
    /// `[BasicAuth]` user and password templates.
    pub basic_auth: Option<(String, String)>,
    /// Body template.
    pub body: Option<String>,
    /// `[MultipartFormData]` fields, sent as a `multipart/form-data` body.
    pub multipart: Vec<FormPart>,
    /// Expected status (`None`: any, as in Hurl without a response section or `HTTP *`).
    pub status: Option<u16>,
    /// Response headers that must equal these.
    pub expect_headers: Vec<(String, String)>,
    /// Captures.
    pub captures: Vec<Capture>,
    /// Asserts.
    pub asserts: Vec<Assert>,
    /// `[Options] retry: N`: tries after the first until the asserts pass.
    pub retry: u32,
    /// `[Options] retry-interval`.
    pub retry_interval: Duration,
}

/// One field of a `[MultipartFormData]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct FormPart {
    /// The field's name.
    pub name: String,
    /// Its line in the file.
    pub line: usize,
    /// Its value.
    pub value: FormValue,
}

/// What a multipart field holds.
#[derive(Debug, Clone, PartialEq)]
pub enum FormValue {
    /// A text value (a template).
    Text(String),
    /// `file,PATH;` or `file,PATH; TYPE`: a file's bytes, the path relative to the Hurl file.
    File {
        /// The path as written.
        path: String,
        /// Its content type (default `application/octet-stream`).
        content_type: Option<String>,
    },
}

/// A parse error at a line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct HurlError {
    /// The file as named.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column of the line's first character.
    pub column: usize,
    /// What is wrong and what to write instead.
    pub message: String,
}

#[derive(PartialEq)]
enum Section {
    Headers,
    Query,
    BasicAuth,
    Options,
    RespHeaders,
    Captures,
    Asserts,
    Multipart,
}

/// Parses Hurl text; `file` names it in errors.
pub fn parse(text: &str, file: &str) -> Result<Vec<Entry>, HurlError> {
    let lines: Vec<&str> = text.lines().collect();
    let err = |line: usize, message: String| HurlError {
        file: file.to_string(),
        line,
        column: lines.get(line.saturating_sub(1)).map_or(1, |l| {
            l.chars().take_while(|c| c.is_whitespace()).count() + 1
        }),
        message,
    };
    let mut entries: Vec<Entry> = Vec::new();
    let mut section = Section::Headers;
    let mut i = 0;
    while i < lines.len() {
        let n = i + 1;
        let raw = lines[i];
        let line = raw.trim();
        i += 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some((method, url)) = request_line(line) {
            entries.push(Entry {
                line: n,
                method: method.into(),
                url: url.into(),
                retry_interval: Duration::from_secs(1),
                ..Default::default()
            });
            section = Section::Headers;
            continue;
        }
        let Some(entry) = entries.last_mut() else {
            return Err(err(n, format!("expected a request line such as `GET https://app.example.com/`, found `{line}`")));
        };
        if line == "HTTP" || line.starts_with("HTTP ") || line.starts_with("HTTP/") {
            // `HTTP 200`, `HTTP/1.1 200`, `HTTP *`: the status is the last word.
            let code = line.split_whitespace().nth(1).unwrap_or("");
            entry.status = match code {
                "*" => None,
                c => Some(c.parse().map_err(|_| {
                    err(
                        n,
                        format!("`{line}`: write the expected status as `HTTP 200` (or `HTTP *`)"),
                    )
                })?),
            };
            section = Section::RespHeaders;
            continue;
        }
        if line.starts_with('[')
            && line.ends_with(']')
            && line[1..].starts_with(|c: char| c.is_ascii_alphabetic())
        {
            section = match line {
                "[QueryStringParams]" | "[Query]" => Section::Query,
                "[BasicAuth]" => Section::BasicAuth,
                "[Options]" => Section::Options,
                "[Captures]" => Section::Captures,
                "[Asserts]" => Section::Asserts,
                "[MultipartFormData]" | "[Multipart]" => Section::Multipart,
                other => {
                    return Err(err(n, format!("section {other} is not supported; supported: [QueryStringParams], [BasicAuth], [MultipartFormData], [Options], [Captures], [Asserts]")))
                }
            };
            continue;
        }
        if line.starts_with('{')
            || line.starts_with("```")
            || (line.starts_with('[') && section == Section::Headers)
        {
            let (body, next) = body(&lines, i - 1).map_err(|m| err(n, m))?;
            entry.body = Some(body);
            i = next;
            continue;
        }
        match section {
            Section::Headers | Section::RespHeaders => {
                let (k, v) = line.split_once(':').ok_or_else(|| {
                    err(
                        n,
                        format!(
                            "expected a header `Name: value`, a section or a body, found `{line}`"
                        ),
                    )
                })?;
                let pair = (k.trim().to_string(), v.trim().to_string());
                if section == Section::Headers {
                    entry.headers.push(pair);
                } else {
                    entry.expect_headers.push(pair);
                }
            }
            Section::Query => {
                let (k, v) = line
                    .split_once(':')
                    .ok_or_else(|| err(n, format!("expected `name: value`, found `{line}`")))?;
                entry.query.push((k.trim().into(), v.trim().into()));
            }
            Section::Multipart => {
                let (k, v) = line.split_once(':').ok_or_else(|| {
                    err(
                        n,
                        format!("expected `name: value` or `name: file,PATH;`, found `{line}`"),
                    )
                })?;
                entry.multipart.push(FormPart {
                    name: k.trim().into(),
                    line: n,
                    value: form_value(v.trim()).map_err(|m| err(n, m))?,
                });
            }
            Section::BasicAuth => {
                let (k, v) = line
                    .split_once(':')
                    .ok_or_else(|| err(n, format!("expected `user: password`, found `{line}`")))?;
                entry.basic_auth = Some((k.trim().into(), v.trim().into()));
            }
            Section::Options => {
                let (k, v) = line
                    .split_once(':')
                    .ok_or_else(|| err(n, format!("expected `option: value`, found `{line}`")))?;
                match k.trim() {
                    "retry" => {
                        entry.retry = v.trim().parse().map_err(|_| {
                            err(n, format!("`retry` takes a count, not `{}`", v.trim()))
                        })?
                    }
                    "retry-interval" => {
                        let v = v.trim();
                        entry.retry_interval = match v.parse::<u64>() {
                            Ok(ms) => Duration::from_millis(ms),
                            Err(_) => humantime::parse_duration(v).map_err(|_| err(n, format!("`retry-interval` takes milliseconds or a duration such as 500ms, not `{v}`")))?,
                        };
                    }
                    other => {
                        return Err(err(
                            n,
                            format!(
                            "option `{other}` is not supported; supported: retry, retry-interval"
                        ),
                        ))
                    }
                }
            }
            Section::Captures => {
                let (name, rest) = line
                    .split_once(':')
                    .ok_or_else(|| err(n, format!("expected `name: QUERY`, found `{line}`")))?;
                let rest = rest.trim();
                let (rest, redact) = match rest.strip_suffix("redact") {
                    Some(r) => (r.trim_end(), true),
                    None => (rest, false),
                };
                let (query, tail) = query(rest).map_err(|m| err(n, m))?;
                if !tail.trim().is_empty() {
                    return Err(err(
                        n,
                        format!("unexpected `{}` after the query", tail.trim()),
                    ));
                }
                entry.captures.push(Capture {
                    name: name.trim().into(),
                    query,
                    redact,
                    line: n,
                });
            }
            Section::Asserts => {
                let (query, tail) = query(line).map_err(|m| err(n, m))?;
                let predicate = parse_predicate(tail).map_err(|m| err(n, m))?;
                entry.asserts.push(Assert {
                    query,
                    predicate,
                    line: n,
                });
            }
        }
    }
    if entries.is_empty() {
        return Err(err(1, "the file has no request; start an entry with a line such as `GET https://app.example.com/healthz`".into()));
    }
    Ok(entries)
}

/// A multipart value: `file,PATH;` (optionally followed by a content type) or text.
fn form_value(v: &str) -> Result<FormValue, String> {
    let Some(rest) = v.strip_prefix("file,") else {
        return Ok(FormValue::Text(v.into()));
    };
    let (path, content_type) = rest.split_once(';').ok_or_else(|| {
        format!("a file field is written `file,PATH;` (with the `;`), found `{v}`")
    })?;
    let content_type = Some(content_type.trim()).filter(|t| !t.is_empty());
    if path.trim().is_empty() {
        return Err(format!("`{v}` names no file"));
    }
    Ok(FormValue::File {
        path: path.trim().into(),
        content_type: content_type.map(str::to_string),
    })
}

fn request_line(line: &str) -> Option<(&str, &str)> {
    let (method, url) = line.split_once(char::is_whitespace)?;
    let url = url.trim();
    (matches!(
        method,
        "GET" | "HEAD" | "POST" | "PUT" | "DELETE" | "PATCH" | "OPTIONS"
    ) && (url.starts_with("http://") || url.starts_with("https://") || url.starts_with("{{")))
    .then_some((method, url))
}

/// A body starting at `lines[at]`: JSON until it is complete, or a ``` block.
fn body(lines: &[&str], at: usize) -> Result<(String, usize), String> {
    let first = lines[at].trim();
    if let Some(rest) = first.strip_prefix("```") {
        let mut text = String::new();
        if !rest.trim().is_empty() && !rest.chars().all(|c| c.is_ascii_alphabetic()) {
            return Ok((rest.trim_end_matches("```").to_string(), at + 1));
        }
        for (j, l) in lines.iter().enumerate().skip(at + 1) {
            if l.trim() == "```" {
                return Ok((text, j + 1));
            }
            text.push_str(l);
            text.push('\n');
        }
        return Err("the ``` body is not closed".into());
    }
    // JSON: lines until brackets balance (strings may hold brackets).
    let mut text = String::new();
    let mut depth = 0i64;
    let mut in_str = false;
    let mut escaped = false;
    for (j, l) in lines.iter().enumerate().skip(at) {
        text.push_str(l);
        text.push('\n');
        for c in l.chars() {
            match (in_str, escaped, c) {
                (true, true, _) => escaped = false,
                (true, false, '\\') => escaped = true,
                (true, false, '"') => in_str = false,
                (false, _, '"') => in_str = true,
                (false, _, '{' | '[') => depth += 1,
                (false, _, '}' | ']') => depth -= 1,
                _ => {}
            }
        }
        if depth == 0 {
            return Ok((text, j + 1));
        }
    }
    Err("the JSON body never closes its brackets".into())
}

/// A quoted string at the start of `s`: (its content, the rest).
fn quoted(s: &str) -> Result<(String, &str), String> {
    let s = s.trim_start();
    let rest = s
        .strip_prefix('"')
        .ok_or_else(|| format!("expected a \"quoted\" argument, found `{s}`"))?;
    let mut out = String::new();
    let mut chars = rest.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, 't')) => out.push('\t'),
                Some((_, c)) => out.push(c),
                None => break,
            },
            '"' => return Ok((out, &rest[i + 1..])),
            c => out.push(c),
        }
    }
    Err(format!("unclosed quote in `{s}`"))
}

/// A query and its filters at the start of `s`; returns the rest (the predicate).
fn query(s: &str) -> Result<(QuerySpec, &str), String> {
    let s = s.trim_start();
    let word_end = s.find(char::is_whitespace).unwrap_or(s.len());
    let (word, rest) = (&s[..word_end], &s[word_end..]);
    let (query, mut rest) = match word {
        "status" => (Query::Status, rest),
        "body" => (Query::Body, rest),
        "duration" => (Query::Duration, rest),
        "header" => {
            let (name, rest) = quoted(rest)?;
            (Query::Header(name), rest)
        }
        "jsonpath" => {
            let (path, rest) = quoted(rest)?;
            (Query::JsonPath(cutover_plan::checks::assert::parse_path(&path)?), rest)
        }
        "regex" => {
            let (re, rest) = quoted(rest)?;
            regex_lite::Regex::new(&re).map_err(|e| format!("bad regular expression `{re}`: {e}"))?;
            (Query::Regex(re), rest)
        }
        other => return Err(format!("query `{other}` is not supported; supported: status, header \"Name\", body, jsonpath \"$.x\", regex \"...\", duration")),
    };
    let mut count = false;
    if let Some(r) = rest.trim_start().strip_prefix("count") {
        if r.is_empty() || r.starts_with(char::is_whitespace) {
            count = true;
            rest = r;
        }
    }
    let text = s[..s.len() - rest.len()].trim().to_string();
    Ok((QuerySpec { query, count, text }, rest.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCENARIO: &str = r#"# register, log in, use the token
POST {{base}}/api/register
Content-Type: application/json
{
  "user": "{{user}}",
  "password": "{{password}}"
}
HTTP 201

POST {{base}}/api/login
{"user": "{{user}}", "password": "{{password}}"}
HTTP 200
[Captures]
token: jsonpath "$.token" redact
[Asserts]
jsonpath "$.token" startsWith "tok-"

GET {{base}}/api/tasks/{{task}}
Authorization: Bearer {{token}}
[Options]
retry: 5
retry-interval: 200ms
HTTP 200
[Asserts]
jsonpath "$.status" == "done"
jsonpath "$.items" count >= 0
duration < 1000
"#;

    #[test]
    fn parses_a_scenario() {
        let e = parse(SCENARIO, "s.hurl").unwrap();
        assert_eq!(e.len(), 3);
        assert_eq!((e[0].method.as_str(), e[0].status), ("POST", Some(201)));
        assert!(e[0]
            .body
            .as_deref()
            .unwrap()
            .contains("\"password\": \"{{password}}\""));
        assert_eq!(e[1].captures[0].name, "token");
        assert!(e[1].captures[0].redact);
        assert_eq!(e[1].asserts[0].line, 16);
        assert_eq!(
            (e[2].retry, e[2].retry_interval),
            (5, Duration::from_millis(200))
        );
        assert_eq!(
            e[2].headers,
            vec![("Authorization".to_string(), "Bearer {{token}}".to_string())]
        );
        assert!(e[2].asserts[1].query.count);
        assert_eq!(e[2].asserts[2].query.query, Query::Duration);
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("GET https://a/\nHTTP 200\n[Cookies]\n", "x.hurl").unwrap_err();
        assert_eq!(e.to_string(), "x.hurl:3:1: section [Cookies] is not supported; supported: [QueryStringParams], [BasicAuth], [MultipartFormData], [Options], [Captures], [Asserts]");
        let e = parse(
            "GET https://a/\nHTTP 200\n[Asserts]\nxpath \"//a\" exists\n",
            "x.hurl",
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("x.hurl:4:1: query `xpath` is not supported"),
            "{e}"
        );
        let e = parse("GET https://a/\n[Asserts]\nstatus === 200\n", "x.hurl").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("x.hurl:3:1: unknown predicate `===`"),
            "{e}"
        );
        assert!(parse("hello\n", "x.hurl")
            .unwrap_err()
            .to_string()
            .starts_with("x.hurl:1:1: expected a request line"));
    }
}
