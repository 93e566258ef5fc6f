//! The fake's record operations and Cloudflare's rules for them: create, edit (PUT/PATCH),
//! delete, and the batch transaction in the documented order (deletes, patches, puts, posts).

use super::{ApiError, FakeRecord, FakeZone, State};
use serde_json::{json, Value};
use std::net::{Ipv4Addr, Ipv6Addr};

pub(super) fn show(z: &FakeZone, r: &FakeRecord) -> Value {
    json!({"id": r.id, "zone_id": z.id, "zone_name": z.name, "name": r.name, "type": r.rtype,
           "content": r.content, "proxiable": proxiable(&r.rtype), "proxied": r.proxied,
           "ttl": r.ttl, "priority": r.priority, "meta": {}, "comment": null, "tags": []})
}

fn proxiable(rtype: &str) -> bool {
    matches!(rtype, "A" | "AAAA" | "CNAME")
}

pub(super) fn batch(s: &mut State, z: &mut FakeZone, body: &Value) -> Result<Value, ApiError> {
    let list = |k: &str| body[k].as_array().cloned().unwrap_or_default();
    let mut result = json!({"deletes": [], "patches": [], "puts": [], "posts": []});
    // The documented order: deletes, patches, puts, posts.
    for d in list("deletes") {
        let id = d["id"].as_str().unwrap_or_default().to_string();
        let r = delete(z, &id)?;
        push(&mut result, "deletes", r);
    }
    for (key, put) in [("patches", false), ("puts", true)] {
        for p in list(key) {
            let id = p["id"].as_str().unwrap_or_default().to_string();
            let r = edit(z, &id, &p, put)?;
            push(&mut result, key, r);
        }
    }
    for p in list("posts") {
        let r = create(s, z, &p)?;
        push(&mut result, "posts", r);
    }
    Ok(result)
}

fn push(result: &mut Value, key: &str, v: Value) {
    if let Some(a) = result[key].as_array_mut() {
        a.push(v);
    }
}

pub(super) fn delete(z: &mut FakeZone, id: &str) -> Result<Value, ApiError> {
    let i = z.records.iter().position(|r| r.id == id).ok_or((
        404,
        81044,
        format!("Record {id} does not exist."),
    ))?;
    z.records.remove(i);
    Ok(json!({"id": id}))
}

pub(super) fn create(s: &mut State, z: &mut FakeZone, b: &Value) -> Result<Value, ApiError> {
    let mut r = FakeRecord {
        id: s.id(),
        rtype: b["type"].as_str().unwrap_or_default().to_ascii_uppercase(),
        name: b["name"]
            .as_str()
            .unwrap_or_default()
            .trim_end_matches('.')
            .to_ascii_lowercase(),
        content: b["content"].as_str().unwrap_or_default().to_string(),
        ttl: b["ttl"].as_u64().unwrap_or(1) as u32,
        proxied: b["proxied"].as_bool().unwrap_or(false),
        priority: b["priority"].as_u64().map(|p| p as u16),
    };
    if !r.name.is_empty() && !r.name.contains('.') {
        r.name = format!("{}.{}", r.name, z.name);
    }
    validate(z, &mut r)?;
    z.records.push(r.clone());
    Ok(show(z, &r))
}

pub(super) fn edit(z: &mut FakeZone, id: &str, b: &Value, put: bool) -> Result<Value, ApiError> {
    let i = z.records.iter().position(|r| r.id == id).ok_or((
        404,
        81044,
        format!("Record {id} does not exist."),
    ))?;
    let mut r = z.records[i].clone();
    if put {
        // PUT overwrites: fields not given take their defaults.
        r.ttl = 1;
        r.proxied = false;
    }
    if let Some(t) = b["type"].as_str() {
        r.rtype = t.to_ascii_uppercase();
    }
    if let Some(n) = b["name"].as_str() {
        r.name = n.trim_end_matches('.').to_ascii_lowercase();
    }
    if let Some(c) = b["content"].as_str() {
        r.content = c.to_string();
    }
    if let Some(t) = b["ttl"].as_u64() {
        r.ttl = t as u32;
    }
    if let Some(p) = b["proxied"].as_bool() {
        r.proxied = p;
    }
    if let Some(p) = b["priority"].as_u64() {
        r.priority = Some(p as u16);
    }
    let others: Vec<FakeRecord> = z.records.iter().filter(|x| x.id != id).cloned().collect();
    let view = FakeZone {
        records: others,
        ..z.clone()
    };
    validate(&view, &mut r)?;
    z.records[i] = r.clone();
    Ok(show(z, &r))
}

/// Cloudflare's rules for one record against the rest of the zone.
fn validate(z: &FakeZone, r: &mut FakeRecord) -> Result<(), ApiError> {
    let bad = |code: u32, m: String| Err((400, code, m));
    if r.name != z.name && !r.name.ends_with(&format!(".{}", z.name)) {
        return bad(
            1004,
            format!("DNS Validation Error: {} is not in zone {}", r.name, z.name),
        );
    }
    match r.rtype.as_str() {
        "A" if r.content.parse::<Ipv4Addr>().is_err() => {
            return bad(
                9005,
                "Content for A record must be a valid IPv4 address.".into(),
            )
        }
        "AAAA" if r.content.parse::<Ipv6Addr>().is_err() => {
            return bad(
                9006,
                "Content for AAAA record must be a valid IPv6 address.".into(),
            )
        }
        "CNAME" if r.content.is_empty() || r.content.contains(' ') => {
            return bad(9007, "Content for CNAME record is invalid.".into())
        }
        // The documented contract: an MX's preference is `priority`, its host `content`.
        "MX" if r.priority.is_none() || r.content.is_empty() || r.content.contains(' ') => {
            return bad(
                9101,
                "MX records need a `priority` and a host name as `content`.".into(),
            )
        }
        "A" | "AAAA" | "CNAME" | "TXT" | "MX" | "NS" => {}
        other => return bad(9000, format!("DNS record type {other} is invalid.")),
    }
    r.content = match r.rtype.as_str() {
        "CNAME" | "MX" | "NS" => r.content.trim_end_matches('.').to_ascii_lowercase(),
        _ => r.content.clone(),
    };
    if r.proxied && !proxiable(&r.rtype) {
        return bad(9004, format!("{} records cannot be proxied.", r.rtype));
    }
    let min = if z.enterprise { 30 } else { 60 };
    if r.ttl != 1 && !(min..=86400).contains(&r.ttl) {
        return bad(
            9021,
            format!("Invalid TTL. Must be between {min} and 86400 seconds, or 1 for Automatic."),
        );
    }
    if r.proxied {
        // Proxied records always have the automatic TTL.
        r.ttl = 1;
    }
    let same_name = z
        .records
        .iter()
        .filter(|x| x.name == r.name && x.id != r.id);
    for x in same_name {
        let address = |t: &str| t == "A" || t == "AAAA";
        if (x.rtype == "CNAME" && (address(&r.rtype) || r.rtype == "CNAME"))
            || (r.rtype == "CNAME" && address(&x.rtype))
        {
            return bad(
                81053,
                "An A, AAAA, or CNAME record with that host already exists.".into(),
            );
        }
        if x.rtype == r.rtype && x.content == r.content {
            return bad(81058, "An identical record already exists.".into());
        }
    }
    Ok(())
}
