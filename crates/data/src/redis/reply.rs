//! Shapes of the server's replies, read without copying: strings, integers, arrays (RESP2)
//! and maps or sets (RESP3) alike.

use super::client::text;
use redis::Value;

/// A string reply's bytes.
pub fn bytes(v: &Value) -> Option<&[u8]> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.as_bytes()),
        _ => None,
    }
}

/// An integer reply (or one given as text).
pub fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        other => text(other).and_then(|t| t.parse().ok()),
    }
}

/// The items of an array reply (RESP2 arrays, RESP3 maps and sets flattened).
pub fn items(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(a) | Value::Set(a) => a.iter().collect(),
        Value::Map(m) => m.iter().flat_map(|(k, v)| [k, v]).collect(),
        _ => Vec::new(),
    }
}

/// The value of field `name` of a reply shaped as alternating names and values (RESP2) or
/// a map (RESP3).
pub fn member<'v>(v: &'v Value, name: &str) -> Option<&'v Value> {
    items(v)
        .chunks(2)
        .find_map(|pair| (bytes(pair[0]) == Some(name.as_bytes())).then(|| pair.get(1).copied()))
        .flatten()
}

/// A field's value as bytes (an integer as its decimal text; anything else but a string as
/// empty bytes).
pub fn field(v: &Value, name: &str) -> Option<Vec<u8>> {
    member(v, name).map(|value| match value {
        Value::Int(i) => i.to_string().into_bytes(),
        other => bytes(other).map(<[u8]>::to_vec).unwrap_or_default(),
    })
}

/// Every string of a nested reply, depth first.
pub fn flatten(v: &Value) -> Vec<Vec<u8>> {
    match v {
        Value::Array(_) | Value::Map(_) | Value::Set(_) => {
            items(v).into_iter().flat_map(flatten).collect()
        }
        Value::Int(i) => vec![i.to_string().into_bytes()],
        other => vec![bytes(other).map(<[u8]>::to_vec).unwrap_or_default()],
    }
}
