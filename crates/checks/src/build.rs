//! From a plan's `[checks.NAME]` to a probe ready to run: templates rendered, URLs, pins,
//! regexes and record types parsed (each failure names the check and the field).

use crate::dns::DnsProbe;
use crate::host::HostProbe;
use crate::http::{HttpProbe, Pin, Request};
use crate::probe::{NamedProbe, Probe, DEFAULT_TIMEOUT};
use crate::smoke::SmokeProbe;
use cutover_exec::{EnvValue, SecretValue};
use cutover_plan::checks::{Check, CheckKind, ClientCheck};
use cutover_plan::{Plan, Template};
use std::collections::BTreeMap;

/// Renders a template with every reference filled (secrets included), or says why not.
pub type Render<'a> = &'a dyn Fn(&Template) -> Result<String, String>;

/// Builds the probe of `check` of `plan` (relative paths are taken from the plan's
/// directory; `sudo` defaults to the host's setting).
pub fn build(check: &Check, plan: &Plan, render: Render<'_>) -> Result<NamedProbe, String> {
    let name = &check.name.value;
    let dir = &plan.dir;
    let host_sudo = |h: &str| plan.host(h).is_some_and(|h| h.sudo);
    let field =
        |f: &str, t: &Template| render(t).map_err(|e| format!("check `{name}`, `{f}`: {e}"));
    let probe = match &check.kind {
        CheckKind::Http(h) => {
            let url = field("url", &h.url)?;
            let uri = url
                .parse()
                .map_err(|e| format!("check `{name}`: `{url}` is not a URL: {e}"))?;
            let mut probe = HttpProbe::get(uri);
            let req: &mut Request = &mut probe.request;
            if let Some(m) = &h.method {
                req.method = m
                    .parse()
                    .map_err(|_| format!("check `{name}`: `{m}` is not an HTTP method"))?;
            }
            for (k, v) in &h.headers {
                req.headers.push((k.clone(), field("headers", v)?));
            }
            if let Some(b) = &h.body {
                req.body = field("body", b)?.into();
            }
            if let Some(r) = &h.resolve {
                req.pins.push(
                    Pin::parse(&field("resolve", r)?)
                        .map_err(|e| format!("check `{name}`: {e}"))?,
                );
            }
            req.ca_file = h.ca_file.as_ref().map(|f| dir.join(f));
            probe.status = h.status.clone();
            probe.json = h.json.clone();
            probe.body_contains = h.body_contains.clone();
            probe.body_matches = match &h.body_matches {
                Some(re) => Some(regex_lite::Regex::new(re).map_err(|e| {
                    format!("check `{name}`, `body_matches`: bad regular expression: {e}")
                })?),
                None => None,
            };
            probe.max_latency = h.max_latency;
            probe.follow_redirects = h.follow_redirects.unwrap_or(false);
            if let Some(days) = h.min_cert_days {
                probe.min_cert_days = i64::from(days);
            }
            probe.from = h.from.as_ref().map(|f| f.value.clone());
            Probe::Http(probe)
        }
        CheckKind::Tcp(t) => Probe::Tcp(crate::probe::TcpProbe {
            address: field("address", &t.address)?,
            from: t.from.as_ref().map(|f| f.value.clone()),
        }),
        CheckKind::Dns(d) => {
            let expect = d
                .expect
                .iter()
                .map(|e| field("expect", e))
                .collect::<Result<_, _>>()?;
            Probe::Dns(
                DnsProbe::new(
                    &field("name", &d.name)?,
                    d.record.as_deref().unwrap_or("A"),
                    &field("server", &d.server)?,
                    expect,
                    d.max_ttl,
                )
                .map_err(|e| format!("check `{name}`: {e}"))?,
            )
        }
        CheckKind::Command(c) => {
            let mut p = HostProbe::shell(
                &c.host.value,
                &field("command", &c.command)?,
                env(&c.env, &field)?,
            );
            p.command.sudo = c.sudo.unwrap_or_else(|| host_sudo(&c.host.value));
            p.exit = i32::from(c.exit.unwrap_or(0));
            p.expect = c.expect.clone();
            Probe::Host(p)
        }
        CheckKind::Postgres(c) | CheckKind::Mysql(c) | CheckKind::Redis(c) => {
            let (default, make): (&str, ClientFn) = match &check.kind {
                CheckKind::Postgres(_) => ("select 1", HostProbe::postgres),
                CheckKind::Mysql(_) => ("select 1", HostProbe::mysql),
                _ => ("PING", HostProbe::redis),
            };
            let mut p = client(c, default, make, &field)?;
            p.command.sudo = c.sudo.unwrap_or_else(|| host_sudo(&c.host.value));
            Probe::Host(p)
        }
        CheckKind::Smoke(s) => {
            let mut pins = Vec::new();
            for r in &s.resolve {
                pins.push(
                    Pin::parse(&field("resolve", r)?)
                        .map_err(|e| format!("check `{name}`: {e}"))?,
                );
            }
            let mut variables = Vec::new();
            for (k, v) in &s.variables {
                variables.push((k.clone(), field("variables", v)?, v.uses_secrets()));
            }
            Probe::Smoke(SmokeProbe {
                file: dir.join(&s.file.value),
                pins,
                variables,
                ca_file: s.ca_file.as_ref().map(|f| dir.join(f)),
            })
        }
    };
    let mut named = NamedProbe::new(name.clone(), probe);
    named.description = check.description.clone();
    named.timeout = check.timeout.unwrap_or(DEFAULT_TIMEOUT);
    if let Probe::Host(h) = &mut named.probe {
        // The host enforces the limit itself; the margin lets its own error come back.
        h.command.timeout = Some(named.timeout);
        named.timeout += std::time::Duration::from_secs(5);
    }
    Ok(named)
}

type Field<'a> = dyn Fn(&str, &Template) -> Result<String, String> + 'a;
type ClientFn = fn(&str, Option<&str>, &[String], &str, Vec<(String, EnvValue)>) -> HostProbe;

fn client(
    c: &ClientCheck,
    default: &str,
    make: ClientFn,
    field: &Field<'_>,
) -> Result<HostProbe, String> {
    let query = match &c.query {
        Some(q) => field("query", q)?,
        None => default.to_string(),
    };
    let args: Vec<String> = c
        .args
        .iter()
        .map(|a| field("args", a))
        .collect::<Result<_, _>>()?;
    let mut p = make(
        &c.host.value,
        c.client.as_deref(),
        &args,
        &query,
        env(&c.env, field)?,
    );
    p.expect = c.expect.clone();
    if let Some(container) = &c.container {
        p.command = p.command.in_container(&field("container", container)?);
    }
    Ok(p)
}

fn env(
    env: &BTreeMap<String, Template>,
    field: &Field<'_>,
) -> Result<Vec<(String, EnvValue)>, String> {
    env.iter()
        .map(|(k, t)| {
            let v = field("env", t)?;
            Ok((
                k.clone(),
                if t.uses_secrets() {
                    EnvValue::Secret(SecretValue::new(v))
                } else {
                    EnvValue::Plain(v)
                },
            ))
        })
        .collect()
}

/// One line on what `check` probes, for `cutover plan` (render with secrets masked).
pub fn describe(check: &Check, render: Render<'_>) -> String {
    let show = |t: &Template| render(t).unwrap_or_else(|_| t.raw.clone());
    let name = &check.name.value;
    match &check.kind {
        CheckKind::Http(h) => {
            let mut line = format!(
                "{name}: {} {}",
                h.method.as_deref().unwrap_or("GET"),
                show(&h.url)
            );
            if let Some(r) = &h.resolve {
                line += &format!(" via {}", show(r));
            }
            if let Some(f) = &h.from {
                line += &format!(" from {}", f.value);
            }
            let status = if h.status.is_empty() {
                "2xx".to_string()
            } else {
                h.status
                    .iter()
                    .map(u16::to_string)
                    .collect::<Vec<_>>()
                    .join("/")
            };
            line += &format!(", expect {status}");
            for a in &h.json {
                line += &format!(", {} {}", a.path.text, a.predicate.text);
            }
            if let Some(c) = &h.body_contains {
                line += &format!(", body contains {c:?}");
            }
            if let Some(m) = h.max_latency {
                line += &format!(", within {}", humantime::format_duration(m));
            }
            line
        }
        CheckKind::Tcp(t) => match &t.from {
            Some(f) => format!(
                "{name}: TCP connect to {} from {}",
                show(&t.address),
                f.value
            ),
            None => format!("{name}: TCP connect to {}", show(&t.address)),
        },
        CheckKind::Dns(d) => {
            let expect: Vec<String> = d.expect.iter().map(show).collect();
            format!(
                "{name}: DNS {} {} at {}, expect [{}]",
                show(&d.name),
                d.record.as_deref().unwrap_or("A"),
                show(&d.server),
                expect.join(", ")
            )
        }
        CheckKind::Command(c) => format!("{name}: on {}: {}", c.host.value, show(&c.command)),
        CheckKind::Postgres(c) | CheckKind::Mysql(c) | CheckKind::Redis(c) => {
            let q = c
                .query
                .as_ref()
                .map_or_else(|| "(reachability)".to_string(), show);
            let expect = c
                .expect
                .as_ref()
                .map_or(String::new(), |p| format!(", expect {}", p.text));
            format!(
                "{name}: {} on {}: {q}{expect}",
                check.kind.name(),
                c.host.value
            )
        }
        CheckKind::Smoke(s) => format!("{name}: smoke scenario {}", s.file.value),
    }
}
