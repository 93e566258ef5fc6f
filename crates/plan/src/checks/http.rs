//! `kind = "http"` and `kind = "smoke"` checks.

use super::assert::JsonAssert;
use super::Names;
use crate::bounded::read_int;
use crate::limits;
use crate::problem::{Problem, Problems};
use crate::read::{wrong_type, Fields, FromToml, Spanned};
use crate::template::Template;
use std::collections::BTreeMap;
use std::time::Duration;
use toml_span::value::{Value, ValueInner};

/// One HTTP(S) request and what its response must show.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct HttpCheck {
    /// The URL users would request, e.g. `"https://app.example.com/healthz"`.
    pub url: Template,
    /// Send the request to this address instead of what the URL's name resolves to, keeping
    /// the Host header and TLS name of the URL (`curl --resolve`): an address such as
    /// "{{ hosts.new.address }}", or "HOST:PORT:ADDRESS".
    pub resolve: Option<Template>,
    /// HTTP method (default GET).
    pub method: Option<String>,
    /// Request headers (values may use `{{ secrets.NAME }}`; they are redacted from output).
    #[serde(default)]
    pub headers: BTreeMap<String, Template>,
    /// Request body (may use secrets).
    pub body: Option<Template>,
    /// Accepted status codes, one or a list (default: any 2xx).
    #[serde(default)]
    pub status: Vec<u16>,
    /// Assertions on the JSON body, e.g. ['$.status == "ok"', '$.db == "ok"'].
    #[serde(default)]
    pub json: Vec<JsonAssert>,
    /// Text the body must contain.
    pub body_contains: Option<String>,
    /// A regular expression the body must match.
    pub body_matches: Option<String>,
    /// Fail when the response takes longer than this (e.g. "500ms").
    #[schemars(with = "Option<String>")]
    pub max_latency: Option<Duration>,
    /// Follow redirects (default false: a 3xx is judged as it is).
    pub follow_redirects: Option<bool>,
    /// A PEM file of CA certificates to trust besides the system's (relative to the plan).
    pub ca_file: Option<String>,
    /// Fail when the TLS certificate expires in fewer days than this (default 7).
    pub min_cert_days: Option<u32>,
    /// Open the connection from this host (`ssh -W` through its connection), not from the
    /// controller: an upstream on the host's loopback (`http://127.0.0.1:8080/healthz`), or
    /// one only the host can reach. Names in the URL are resolved by the host.
    pub from: Option<Spanned<String>>,
}

impl HttpCheck {
    /// The fields an `http` check accepts.
    pub const FIELDS: &'static [&'static str] = &[
        "kind",
        "description",
        "timeout",
        "url",
        "resolve",
        "method",
        "headers",
        "body",
        "status",
        "json",
        "body_contains",
        "body_matches",
        "max_latency",
        "follow_redirects",
        "ca_file",
        "min_cert_days",
        "from",
    ];

    pub(crate) fn read(f: &mut Fields<'_>, p: &mut Problems) -> Option<Self> {
        let url = f.required("url", p);
        let resolve = f.optional("resolve", p);
        let method_span = f.value_span("method");
        let method: Option<String> = f.optional("method", p);
        if let (Some(m), Some(span)) = (&method, method_span) {
            if m.is_empty() || !m.bytes().all(|b| b.is_ascii_uppercase()) {
                p.push(
                    Problem::new(
                        span,
                        format!(
                            "`method` of {} must be an HTTP method in capitals",
                            f.owner()
                        ),
                        "not a method",
                    )
                    .help("for example GET, POST, PUT, DELETE, HEAD"),
                );
            }
        }
        let headers = f.optional("headers", p).unwrap_or_default();
        let body = f.optional("body", p);
        let status = f
            .optional::<Statuses>("status", p)
            .map(|s| s.0)
            .unwrap_or_default();
        let json = f.optional("json", p).unwrap_or_default();
        let check = HttpCheck {
            url: url?,
            resolve,
            method,
            headers,
            body,
            status,
            json,
            body_contains: f.optional("body_contains", p),
            body_matches: f.optional("body_matches", p),
            max_latency: f.duration("max_latency", &limits::LATENCY, p),
            follow_redirects: f.optional("follow_redirects", p),
            ca_file: f.optional("ca_file", p),
            min_cert_days: f.int("min_cert_days", &limits::CERT_DAYS, p),
            from: f.optional("from", p),
        };
        Some(check)
    }
}

/// A status code or a list of them.
struct Statuses(Vec<u16>);

impl FromToml for Statuses {
    fn read(value: &mut Value<'_>, what: &str, p: &mut Problems) -> Option<Self> {
        let span = value.span;
        let status = |mut v: Value<'_>, what: &str, p: &mut Problems| {
            read_int(&mut v, what, &limits::HTTP_STATUS, p)
        };
        match value.take() {
            ValueInner::Integer(i) => {
                let one = Value::with_span(ValueInner::Integer(i), span);
                status(one, what, p).map(|s| Statuses(vec![s]))
            }
            ValueInner::Array(items) => {
                let before = p.0.len();
                let list: Vec<u16> = items
                    .into_iter()
                    .enumerate()
                    .filter_map(|(i, v)| status(v, &format!("item {} of {what}", i + 1), p))
                    .collect();
                (p.0.len() == before).then_some(Statuses(list))
            }
            other => {
                wrong_type(span, what, "a status code or a list of them", &other, p);
                None
            }
        }
    }
}

/// A Hurl file of ordered requests (register, log in, use the token, create, poll, list)
/// with captures and asserts; see the README for the supported subset.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct SmokeCheck {
    /// The `.hurl` file (relative to the plan's directory).
    pub file: Spanned<String>,
    /// Pins for every request, like `curl --resolve`: an address (every request goes
    /// there) or "HOST:PORT:ADDRESS" entries; one or a list.
    #[serde(default)]
    #[schemars(with = "crate::schema::OneOrMany<Template>")]
    pub resolve: Vec<Template>,
    /// Values for `{{name}}` in the file (may use secrets; they are redacted from output).
    #[serde(default)]
    pub variables: BTreeMap<String, Template>,
    /// A PEM file of CA certificates to trust besides the system's (relative to the plan).
    pub ca_file: Option<String>,
}

impl SmokeCheck {
    /// The fields a `smoke` check accepts.
    pub const FIELDS: &'static [&'static str] = &[
        "kind",
        "description",
        "timeout",
        "file",
        "resolve",
        "variables",
        "ca_file",
    ];

    pub(crate) fn read(f: &mut Fields<'_>, p: &mut Problems) -> Option<Self> {
        let file = f.required("file", p);
        let resolve = match f.take_raw("resolve") {
            Some(mut v) => read_templates(&mut v, &format!("`resolve` of {}", f.owner()), p),
            None => Vec::new(),
        };
        let variables = f.optional("variables", p).unwrap_or_default();
        let ca_file = f.optional("ca_file", p);
        Some(SmokeCheck {
            file: file?,
            resolve,
            variables,
            ca_file,
        })
    }
}

/// One template or a list of them.
fn read_templates(value: &mut Value<'_>, what: &str, p: &mut Problems) -> Vec<Template> {
    if let ValueInner::String(_) = value.as_ref() {
        return Template::read(value, what, p).into_iter().collect();
    }
    Vec::<Template>::read(value, what, p).unwrap_or_default()
}

/// Reads a `checks = ...` field: one name or a list.
pub fn read_names(f: &mut Fields<'_>, key: &str, p: &mut Problems) -> Vec<Spanned<String>> {
    f.optional::<Names>(key, p).map(|n| n.0).unwrap_or_default()
}
