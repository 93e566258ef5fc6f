//! Prometheus instant queries (`/api/v1/query`) for soak triggers: like an alerting rule, an
//! expression fires when it returns any sample (`rate(errors[1m]) > 0`, `up == 0`), or, for
//! a scalar, a non-zero value.

use crate::http::{Client, Request};
use std::time::Duration;

/// One sample of a query's answer: its labels as written by Prometheus, and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct PromSample {
    /// `{job="app",code="500"}`.
    pub labels: String,
    /// The value.
    pub value: f64,
}

/// Runs `expr` at `base` (e.g. "http://127.0.0.1:9090") now.
pub async fn query(client: &Client, base: &str, expr: &str) -> Result<Vec<PromSample>, String> {
    let url = format!(
        "{}/api/v1/query?query={}",
        base.trim_end_matches('/'),
        encode(expr)
    );
    let uri = url
        .parse()
        .map_err(|e| format!("Prometheus URL `{base}`: {e}"))?;
    let mut req = Request::get(uri);
    req.timeout = Duration::from_secs(5);
    let resp = client
        .send(&req)
        .await
        .map_err(|e| format!("Prometheus at {base}: {e}"))?;
    let doc: serde_json::Value = serde_json::from_slice(&resp.body).map_err(|e| {
        format!(
            "Prometheus at {base} answered {} with no JSON: {e}",
            resp.status
        )
    })?;
    if doc["status"] != "success" {
        return Err(format!(
            "Prometheus rejected `{expr}`: {}",
            doc["error"].as_str().unwrap_or("(no error text)")
        ));
    }
    let data = &doc["data"];
    let value = |v: &serde_json::Value| v[1].as_str().and_then(|s| s.parse::<f64>().ok());
    Ok(match data["resultType"].as_str() {
        Some("scalar") => value(&data["result"])
            .map(|v| PromSample {
                labels: String::new(),
                value: v,
            })
            .into_iter()
            .collect(),
        _ => data["result"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| {
                let labels = r["metric"]
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .unwrap_or_default();
                Some(PromSample {
                    labels: format!("{{{labels}}}"),
                    value: value(&r["value"])?,
                })
            })
            .collect(),
    })
}

/// Percent-encodes a query parameter (RFC 3986 unreserved characters kept).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn encodes_promql() {
        assert_eq!(
            super::encode("rate(x{code=\"5\"}[1m]) > 0"),
            "rate%28x%7Bcode%3D%225%22%7D%5B1m%5D%29%20%3E%200"
        );
    }
}
