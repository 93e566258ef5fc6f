//! Assertions on values, in the predicate syntax of Hurl files so that one language serves
//! both the plan (`json = ['$.status == "ok"']`, `expect = '>= 1'`) and smoke scenarios:
//! `== "ok"`, `!= 0`, `> 3`, `>= 3`, `< 3`, `<= 3`, `exists`, `contains "x"`,
//! `startsWith "x"`, `endsWith "x"`, `matches "regex"`, `isString`, `isInteger`,
//! `isNumber`, `isBoolean`, `isEmpty`, each optionally preceded by `not`.
//! Paths are a JSONPath subset: `$`, `.name`, `['name']`, `[N]` (negative counts from the end).

use serde_json::Value;

/// One step of a JSON path.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub enum Segment {
    /// An object member.
    Field(String),
    /// An array element (negative: from the end).
    Index(i64),
}

/// A parsed JSON path.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct JsonPath {
    /// As written.
    pub text: String,
    /// Its steps from the root.
    pub segments: Vec<Segment>,
}

/// A comparison or test applied to a value.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub enum Op {
    /// `==`
    Eq(Value),
    /// `!=`
    Ne(Value),
    /// `>`
    Gt(Value),
    /// `>=`
    Ge(Value),
    /// `<`
    Lt(Value),
    /// `<=`
    Le(Value),
    /// `exists`
    Exists,
    /// `contains "x"` (strings: substring; arrays: an element equal to the value)
    Contains(Value),
    /// `startsWith "x"`
    StartsWith(String),
    /// `endsWith "x"`
    EndsWith(String),
    /// `matches "regex"`
    Matches(String),
    /// `isString`, `isInteger`, `isNumber`, `isBoolean`, `isEmpty`
    Is(String),
}

/// A predicate: an operation, possibly negated.
#[derive(Debug, Clone, PartialEq)]
pub struct Predicate {
    /// `not` was written.
    pub negated: bool,
    /// The operation.
    pub op: Op,
    /// As written.
    pub text: String,
}

/// `PATH PREDICATE` on a JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonAssert {
    /// Where in the document.
    pub path: JsonPath,
    /// What must hold there.
    pub predicate: Predicate,
}

impl serde::Serialize for Predicate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl serde::Serialize for JsonAssert {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{} {}", self.path.text, self.predicate.text))
    }
}

macro_rules! string_schema {
    ($ty:ty, $name:literal, $desc:literal) => {
        impl schemars::JsonSchema for $ty {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                $name.into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({ "type": "string", "description": $desc })
            }
        }
    };
}
string_schema!(
    Predicate,
    "Predicate",
    "A Hurl predicate: == \"ok\", != 0, > 3, >= 3, < 3, <= 3, exists, contains \"x\", startsWith \"x\", endsWith \"x\", matches \"regex\", isString, isInteger, isNumber, isBoolean, isEmpty, isCollection; optionally after `not`"
);
string_schema!(
    JsonAssert,
    "JsonAssert",
    "PATH PREDICATE on the JSON body, e.g. $.status == \"ok\" or $.items[0].id exists"
);

const TYPE_TESTS: &[&str] = &[
    "isString",
    "isInteger",
    "isNumber",
    "isBoolean",
    "isEmpty",
    "isCollection",
];

/// Parses a JSON path such as `$.items[0].id`.
pub fn parse_path(text: &str) -> Result<JsonPath, String> {
    let rest = text
        .strip_prefix('$')
        .ok_or_else(|| format!("JSON path `{text}` must start with `$` (e.g. `$.status`)"))?;
    let mut segments = Vec::new();
    let mut chars = rest.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '.' => {
                let start = i + 1;
                let mut end = rest.len();
                while let Some(&(j, c)) = chars.peek() {
                    if c == '.' || c == '[' {
                        end = j;
                        break;
                    }
                    chars.next();
                }
                let name = &rest[start..end];
                if name.is_empty() {
                    return Err(format!("JSON path `{text}` has an empty name after `.`"));
                }
                segments.push(Segment::Field(name.to_string()));
            }
            '[' => {
                let close = rest[i..]
                    .find(']')
                    .ok_or_else(|| format!("JSON path `{text}` has an unclosed `[`"))?;
                let inner = &rest[i + 1..i + close];
                let seg = if let Some(q) =
                    inner.strip_prefix('\'').and_then(|s| s.strip_suffix('\''))
                {
                    Segment::Field(q.to_string())
                } else if let Some(q) = inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
                    Segment::Field(q.to_string())
                } else {
                    Segment::Index(inner.trim().parse().map_err(|_| {
                        format!(
                            "JSON path `{text}`: `[{inner}]` is neither an index nor a quoted name"
                        )
                    })?)
                };
                segments.push(seg);
                while chars.peek().is_some_and(|&(j, _)| j <= i + close) {
                    chars.next();
                }
            }
            _ => {
                return Err(format!(
                    "JSON path `{text}`: unexpected `{c}`; write `$.name`, `$['name']` or `$[0]`"
                ))
            }
        }
    }
    Ok(JsonPath {
        text: text.to_string(),
        segments,
    })
}

/// Parses a predicate such as `== "ok"`, `>= 3`, `not exists`, `matches "^v[0-9]"`.
pub fn parse_predicate(text: &str) -> Result<Predicate, String> {
    let trimmed = text.trim();
    let (negated, rest) = match trimmed.strip_prefix("not ") {
        Some(r) => (true, r.trim_start()),
        None => (false, trimmed),
    };
    let (word, arg) = match rest.find(|c: char| c.is_whitespace()) {
        Some(i) => (&rest[..i], rest[i..].trim()),
        None => (rest, ""),
    };
    let value = |what: &str| -> Result<Value, String> {
        if arg.is_empty() {
            return Err(format!(
                "`{word}` needs a value to compare with (e.g. `{word} {what}`)"
            ));
        }
        parse_value(arg)
    };
    let string = |what: &str| -> Result<String, String> {
        match value(what)? {
            Value::String(s) => Ok(s),
            other => Err(format!("`{word}` takes a quoted string, not `{other}`")),
        }
    };
    let no_arg = |op: Op| -> Result<Op, String> {
        if arg.is_empty() {
            Ok(op)
        } else {
            Err(format!("`{word}` takes no value; remove `{arg}`"))
        }
    };
    let op = match word {
        "==" => Op::Eq(value("\"ok\"")?),
        "!=" => Op::Ne(value("0")?),
        ">" => Op::Gt(value("0")?),
        ">=" => Op::Ge(value("1")?),
        "<" => Op::Lt(value("100")?),
        "<=" => Op::Le(value("100")?),
        "exists" => no_arg(Op::Exists)?,
        "contains" => Op::Contains(value("\"text\"")?),
        "startsWith" => Op::StartsWith(string("\"text\"")?),
        "endsWith" => Op::EndsWith(string("\"text\"")?),
        "matches" => Op::Matches(string("\"^v[0-9]+\"")?),
        t if TYPE_TESTS.contains(&t) => no_arg(Op::Is(t.to_string()))?,
        "" => return Err("the predicate is empty: write for example `== \"ok\"` or `exists`".into()),
        other => {
            return Err(format!(
                "unknown predicate `{other}`: use ==, !=, >, >=, <, <=, exists, contains, startsWith, endsWith, matches, {}, optionally after `not`",
                TYPE_TESTS.join(", ")
            ))
        }
    };
    Ok(Predicate {
        negated,
        op,
        text: trimmed.to_string(),
    })
}

/// Parses a literal: a double-quoted string, a number, `true`, `false` or `null`.
pub fn parse_value(text: &str) -> Result<Value, String> {
    let t = text.trim();
    serde_json::from_str::<Value>(t)
        .ok()
        .filter(|v| !v.is_array() && !v.is_object())
        .ok_or_else(|| {
            format!(
                "`{t}` is not a value: write a \"quoted string\", a number, true, false or null"
            )
        })
}

/// Parses `PATH PREDICATE`, e.g. `$.status == "ok"`.
pub fn parse_json_assert(text: &str) -> Result<JsonAssert, String> {
    let t = text.trim();
    // The path ends at the first space outside brackets and quotes.
    let mut depth = 0;
    let mut quote: Option<char> = None;
    let mut split = t.len();
    for (i, c) in t.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '[') => depth += 1,
            (None, ']') => depth -= 1,
            (None, c) if c.is_whitespace() && depth == 0 => {
                split = i;
                break;
            }
            _ => {}
        }
    }
    let path = parse_path(&t[..split])?;
    let rest = t[split..].trim();
    if rest.is_empty() {
        return Err(format!(
            "`{t}` has no predicate: add one, e.g. `{} == \"ok\"` or `{} exists`",
            path.text, path.text
        ));
    }
    Ok(JsonAssert {
        path,
        predicate: parse_predicate(rest)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let p = parse_path("$.items[0]['the id'].x[-1]").unwrap();
        assert_eq!(
            p.segments,
            vec![
                Segment::Field("items".into()),
                Segment::Index(0),
                Segment::Field("the id".into()),
                Segment::Field("x".into()),
                Segment::Index(-1)
            ]
        );
        assert!(parse_path("status").is_err());
        assert!(parse_path("$.a[").is_err());
        assert!(parse_path("$.").is_err());
    }

    #[test]
    fn predicates() {
        assert_eq!(
            parse_predicate("== \"ok\"").unwrap().op,
            Op::Eq(Value::from("ok"))
        );
        let p = parse_predicate("not exists").unwrap();
        assert!(p.negated && p.op == Op::Exists);
        assert_eq!(parse_predicate(">= 3").unwrap().op, Op::Ge(Value::from(3)));
        assert!(parse_predicate("== ok")
            .unwrap_err()
            .contains("not a value"));
        assert!(parse_predicate("equals 3")
            .unwrap_err()
            .contains("unknown predicate"));
        assert!(parse_predicate("exists 3").is_err());
    }

    #[test]
    fn json_asserts_split_after_brackets() {
        let a = parse_json_assert("$['a b'] contains \"x y\"").unwrap();
        assert_eq!(a.path.segments, vec![Segment::Field("a b".into())]);
        assert_eq!(a.predicate.op, Op::Contains(Value::from("x y")));
        assert!(parse_json_assert("$.status")
            .unwrap_err()
            .contains("no predicate"));
    }
}
