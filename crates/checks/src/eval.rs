//! Evaluating the plan's predicates (Hurl's syntax) on JSON values and on text.

use cutover_plan::checks::assert::{JsonAssert, JsonPath, Op, Predicate, Segment};
use serde_json::Value;

/// The value at `path` in `doc`, if any.
pub fn select<'a>(doc: &'a Value, path: &JsonPath) -> Option<&'a Value> {
    let mut at = doc;
    for seg in &path.segments {
        at = match (seg, at) {
            (Segment::Field(name), Value::Object(map)) => map.get(name)?,
            (Segment::Index(i), Value::Array(items)) => {
                let idx = if *i < 0 { items.len() as i64 + i } else { *i };
                items.get(usize::try_from(idx).ok()?)?
            }
            _ => return None,
        };
    }
    Some(at)
}

/// Checks `assert` against `doc`; `Err` says what was found instead.
pub fn json_assert(doc: &Value, assert: &JsonAssert) -> Result<(), String> {
    let found = select(doc, &assert.path);
    check(found, &assert.predicate)
        .map_err(|why| format!("{} {}: {why}", assert.path.text, assert.predicate.text))
}

/// Checks `predicate` on a text value (a command's output, a query's result): numbers
/// written as text compare as numbers.
pub fn text(value: &str, predicate: &Predicate) -> Result<(), String> {
    let v = match value.trim().parse::<f64>() {
        Ok(n)
            if n.is_finite()
                && !matches!(
                    predicate.op,
                    Op::Contains(_) | Op::StartsWith(_) | Op::EndsWith(_) | Op::Matches(_)
                ) =>
        {
            serde_json::Number::from_f64(n).map_or_else(|| Value::from(value.trim()), Value::Number)
        }
        _ => Value::from(value.trim()),
    };
    // `== "42"` on the output 42 means the text 42.
    let v = match (&predicate.op, &v) {
        (Op::Eq(Value::String(_)) | Op::Ne(Value::String(_)), Value::Number(_)) => {
            Value::from(value.trim())
        }
        _ => v,
    };
    // Shown as written (`0`, not the float `0.0` it was compared as).
    check(Some(&v), predicate).map_err(|_| match &v {
        Value::Number(_) => format!("found {}", value.trim()),
        _ => format!("found {:?}", value.trim()),
    })
}

/// Checks `predicate` on `found` (absent: `None`); `Err` says what was found.
pub fn check(found: Option<&Value>, predicate: &Predicate) -> Result<(), String> {
    let holds = holds(found, &predicate.op)?;
    if holds != predicate.negated {
        return Ok(());
    }
    Err(match found {
        None => "absent".to_string(),
        Some(v) => format!("found {}", shown(v)),
    })
}

/// A value as shown in messages: long values cut.
pub fn shown(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 120 {
        format!("{}…", s.chars().take(120).collect::<String>())
    } else {
        s
    }
}

fn holds(found: Option<&Value>, op: &Op) -> Result<bool, String> {
    let Some(v) = found else {
        return Ok(false);
    };
    Ok(match op {
        Op::Exists => true,
        Op::Eq(x) => equal(v, x),
        Op::Ne(x) => !equal(v, x),
        Op::Gt(x) => compare(v, x).is_some_and(|o| o.is_gt()),
        Op::Ge(x) => compare(v, x).is_some_and(|o| o.is_ge()),
        Op::Lt(x) => compare(v, x).is_some_and(|o| o.is_lt()),
        Op::Le(x) => compare(v, x).is_some_and(|o| o.is_le()),
        Op::Contains(x) => match (v, x) {
            (Value::String(s), Value::String(t)) => s.contains(t.as_str()),
            (Value::Array(items), x) => items.iter().any(|i| equal(i, x)),
            _ => false,
        },
        Op::StartsWith(t) => v.as_str().is_some_and(|s| s.starts_with(t.as_str())),
        Op::EndsWith(t) => v.as_str().is_some_and(|s| s.ends_with(t.as_str())),
        Op::Matches(re) => {
            let re = regex_lite::Regex::new(re)
                .map_err(|e| format!("bad regular expression `{re}`: {e}"))?;
            v.as_str().is_some_and(|s| re.is_match(s))
        }
        Op::Is(t) => match t.as_str() {
            "isString" => v.is_string(),
            "isInteger" => v.is_i64() || v.is_u64(),
            "isNumber" => v.is_number(),
            "isBoolean" => v.is_boolean(),
            "isCollection" => v.is_array() || v.is_object(),
            "isEmpty" => match v {
                Value::String(s) => s.is_empty(),
                Value::Array(a) => a.is_empty(),
                Value::Object(o) => o.is_empty(),
                _ => false,
            },
            _ => false,
        },
    })
}

fn equal(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn compare(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cutover_plan::checks::assert::{parse_json_assert, parse_predicate};
    use serde_json::json;

    #[test]
    fn json_assertions_pass_and_fail_with_what_was_found() {
        let doc = json!({"status": "ok", "n": 3, "items": [{"id": "a"}, {"id": "b"}]});
        for ok in [
            "$.status == \"ok\"",
            "$.n >= 3",
            "$.n == 3.0",
            "$.items[-1].id == \"b\"",
            "$.items[0].id exists",
            "$.missing not exists",
            "$.status matches \"^o\"",
            "$.items isCollection",
        ] {
            json_assert(&doc, &parse_json_assert(ok).unwrap())
                .unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        let err =
            json_assert(&doc, &parse_json_assert("$.status == \"fail\"").unwrap()).unwrap_err();
        assert_eq!(err, "$.status == \"fail\": found \"ok\"");
        let err = json_assert(&doc, &parse_json_assert("$.db == \"ok\"").unwrap()).unwrap_err();
        assert!(err.ends_with("absent"), "{err}");
    }

    #[test]
    fn text_compares_numbers_as_numbers() {
        text("1200\n", &parse_predicate(">= 1000").unwrap()).unwrap();
        text("42", &parse_predicate("== \"42\"").unwrap()).unwrap();
        text("PONG", &parse_predicate("== \"PONG\"").unwrap()).unwrap();
        assert!(text("999", &parse_predicate(">= 1000").unwrap()).is_err());
        text(
            "active (running)",
            &parse_predicate("contains \"running\"").unwrap(),
        )
        .unwrap();
    }
}
