//! What the `dns.*` and `proxy.switch` steps share: building providers and switchers from the
//! plan's `[dns]` and `[proxies]` sections, the records a step names, and the step's own state
//! (previous values, TTL expiry) kept in the journal so that rollback and the TTL gate work
//! after a crash. State is a typed journal record ([`Event::StateRecorded`]).

use crate::context::{StepCtx, Values};
use crate::error::EngineError;
use async_trait::async_trait;
use cutover_exec::{Command, Output, SecretValue};
use cutover_journal::Event;
use cutover_plan::traffic::{DnsProviderKind, DnsRecord, ProxyKind};
use cutover_plan::Plan;
use cutover_traffic::dns::cloudflare::CloudflareConfig;
use cutover_traffic::dns::manual::ManualConfig;
use cutover_traffic::dns::rfc2136::Rfc2136Config;
use cutover_traffic::dns::tsig::TsigKey;
use cutover_traffic::dns::{self, Desired, DnsProvider, ProviderConfig, RecordKey, RecordType};
use cutover_traffic::proxy::dns_name::DnsName;
use cutover_traffic::proxy::{caddy::Caddy, haproxy::Haproxy, nginx::Nginx, Runner, Switcher};
use std::net::SocketAddr;
use std::time::Duration;

/// How journals written before typed state records kept it: a command's output.
const OLD_STATE_PREFIX: &str = "cutover-state ";

/// `address[:port]` with a default port.
fn socket(text: &str, port: u16) -> Result<SocketAddr, EngineError> {
    text.parse::<SocketAddr>()
        .or_else(|_| {
            text.parse::<std::net::IpAddr>()
                .map(|ip| SocketAddr::new(ip, port))
        })
        .map_err(|_| EngineError::Invalid(format!("`{text}` is not an address or address:port")))
}

/// The provider `name` of the plan, with its secrets (never logged).
pub(crate) fn provider(ctx: &StepCtx<'_>, name: &str) -> Result<Box<dyn DnsProvider>, EngineError> {
    build_provider(ctx.plan, name, Some(ctx.secrets)).map_err(|e| ctx.failed(e.to_string()))
}

/// Builds provider `name`; without `secrets` (previews) its secrets are left empty, so it
/// can describe itself but any call it makes is refused.
fn build_provider(
    plan: &Plan,
    name: &str,
    secrets: Option<&crate::secrets::Secrets>,
) -> Result<Box<dyn DnsProvider>, EngineError> {
    let d = plan
        .dns_provider(name)
        .ok_or_else(|| EngineError::Invalid(format!("no DNS provider `{name}` in [dns]")))?;
    let secret =
        |s: &Option<cutover_plan::read::Spanned<String>>| -> Result<SecretValue, EngineError> {
            let n = s.as_ref().map(|s| s.value.as_str()).unwrap_or_default();
            let Some(secrets) = secrets else {
                return Ok(SecretValue::new(String::new()));
            };
            secrets.get(n).cloned().ok_or_else(|| {
                EngineError::Invalid(format!(
                    "secret `{n}` of DNS provider `{name}` has no value"
                ))
            })
        };
    let timeout = d.timeout.unwrap_or(Duration::from_secs(5));
    let nameservers = d
        .nameservers
        .iter()
        .map(|n| socket(n, 53))
        .collect::<Result<Vec<_>, _>>()?;
    let cfg = match d.provider.value {
        DnsProviderKind::Rfc2136 => ProviderConfig::Rfc2136(Rfc2136Config {
            server: socket(d.server.as_deref().unwrap_or_default(), 53)?,
            zones: d.zones.clone(),
            key: Some(TsigKey {
                name: d.tsig_key.clone().unwrap_or_default(),
                algorithm: d
                    .tsig_algorithm
                    .clone()
                    .unwrap_or_else(|| "hmac-sha256".into()),
                secret: secret(&d.tsig_secret)?,
            }),
            timeout,
        }),
        DnsProviderKind::Cloudflare => ProviderConfig::Cloudflare(CloudflareConfig {
            api: d.api.clone().unwrap_or_else(|| dns::cloudflare::API.into()),
            token: secret(&d.api_token)?,
            zones: d.zones.clone(),
            timeout,
        }),
        DnsProviderKind::Manual => ProviderConfig::Manual(ManualConfig {
            zones: d.zones.clone(),
            nameservers,
            wait: d.wait.unwrap_or(Duration::from_secs(3600)),
            timeout,
        }),
    };
    Ok(dns::build(cfg))
}

/// The wished state of `records`: values rendered when `with_values`, TTL when given.
pub(crate) fn desired(
    values: &Values<'_>,
    records: &[DnsRecord],
    with_values: bool,
    ttl: Option<Duration>,
) -> Result<Vec<Desired>, EngineError> {
    records
        .iter()
        .map(|r| {
            let rtype = RecordType::parse(&r.rtype.value)
                .ok_or_else(|| EngineError::Invalid(format!("record type `{}`", r.rtype.value)))?;
            let templates = r.templates();
            let value = if with_values && !templates.is_empty() {
                Some(
                    templates
                        .iter()
                        .map(|t| t.render(values))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| EngineError::Invalid(e.to_string()))?,
                )
            } else {
                None
            };
            Ok(Desired {
                key: RecordKey::new(&r.name.value, rtype),
                values: value,
                ttl: ttl.map(|t| t.as_secs() as u32),
                proxied: r.proxied,
            })
        })
        .collect()
}

/// Capability problems of a provider for `wish`: the check made before any network call.
pub(crate) fn capability_problems(plan: &Plan, provider: &str, wish: &[Desired]) -> Vec<String> {
    match plan.dns_provider(provider) {
        Some(d) => dns::check_capabilities(d.provider.value.name(), &d.zones, wish),
        None => vec![format!("no DNS provider `{provider}`")],
    }
}

/// Fails the step when the provider cannot do what it asks.
pub(crate) fn check_capabilities(
    ctx: &StepCtx<'_>,
    provider: &str,
    wish: &[Desired],
) -> Result<(), EngineError> {
    let problems = capability_problems(ctx.plan, provider, wish);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ctx.failed(problems.join("\n")))
    }
}

/// `wish` grouped by zone, in zone order.
pub(crate) fn by_zone(
    ctx: &StepCtx<'_>,
    p: &dyn DnsProvider,
    wish: Vec<Desired>,
) -> Result<Vec<(String, Vec<Desired>)>, EngineError> {
    let mut zones: Vec<(String, Vec<Desired>)> = Vec::new();
    for d in wish {
        let zone = p.zone_of(&d.key.name).ok_or_else(|| {
            ctx.failed(format!(
                "{} is in none of the provider's `zones`; add its zone",
                d.key
            ))
        })?;
        match zones.iter_mut().find(|(z, _)| *z == zone) {
            Some((_, list)) => list.push(d),
            None => zones.push((zone, vec![d])),
        }
    }
    Ok(zones)
}

/// Journals `value` as this step's state `label`.
pub(crate) fn save_state<T: serde::Serialize>(
    ctx: &StepCtx<'_>,
    label: &str,
    value: &T,
) -> Result<(), EngineError> {
    let body = serde_json::to_string(value).map_err(|e| ctx.failed(e.to_string()))?;
    ctx.record(Event::StateRecorded {
        step: ctx.id().to_string(),
        label: label.to_string(),
        body,
    })
}

/// The first state `label` step `step` journaled in this run (the first is the original:
/// a retry after a crash reads values the first try already changed).
pub(crate) fn load_state<T: serde::de::DeserializeOwned>(
    ctx: &StepCtx<'_>,
    step: &str,
    label: &str,
) -> Result<Option<T>, EngineError> {
    let old_prefix = format!("{OLD_STATE_PREFIX}{label} ");
    for r in ctx.journal.events(ctx.run_id)? {
        let body = match &r.event {
            Event::StateRecorded {
                step: s,
                label: l,
                body,
            } if s == step && l == label => body.as_str(),
            Event::CommandFinished {
                step: s, stdout, ..
            } if s == step && stdout.starts_with(&old_prefix) => &stdout[old_prefix.len()..],
            _ => continue,
        };
        return serde_json::from_str(body)
            .map(Some)
            .map_err(|e| ctx.failed(format!("journaled {label} of `{step}` is unreadable: {e}")));
    }
    Ok(None)
}

/// The switcher for proxy `name`; `secrets` for switchers that call a DNS provider
/// (`dns-name`), `None` for previews.
pub(crate) fn switcher(
    plan: &Plan,
    name: &str,
    secrets: Option<&crate::secrets::Secrets>,
) -> Result<Box<dyn Switcher>, EngineError> {
    let x = plan
        .proxy(name)
        .ok_or_else(|| EngineError::Invalid(format!("no proxy `{name}` in [proxies]")))?;
    let host = x.host.value.clone();
    Ok(match x.kind.value {
        ProxyKind::Caddy => Box::new(Caddy {
            host,
            admin: x.admin.clone().unwrap_or_else(|| "localhost:2019".into()),
            id: x.id.clone().unwrap_or_else(|| "cutover".into()),
        }),
        ProxyKind::Haproxy => Box::new(Haproxy {
            host,
            socket: x
                .socket
                .clone()
                .unwrap_or_else(|| "/run/haproxy/admin.sock".into()),
            backend: x.backend.clone().unwrap_or_default(),
            server: x.server.clone().unwrap_or_default(),
            config: x.config.clone(),
        }),
        ProxyKind::DnsName => {
            let dns = x.dns.as_ref().map(|d| d.value.as_str()).unwrap_or_default();
            Box::new(DnsName {
                label: format!("{name} on {host}"),
                provider: build_provider(plan, dns, secrets)?,
                record: x.record.clone().unwrap_or_default(),
                port: x.port.unwrap_or(80),
                settle: x.settle.unwrap_or(Duration::from_secs(1)),
            })
        }
        ProxyKind::Nginx => Box::new(Nginx {
            host,
            include: x.include.clone().unwrap_or_default(),
            args: x.nginx_args.clone(),
        }),
    })
}

/// Runs a switcher's commands through the step context, so each is journaled.
pub(crate) struct CtxRunner<'a, 'b>(pub &'a StepCtx<'b>);

#[async_trait]
impl Runner for CtxRunner<'_, '_> {
    async fn run(&self, cmd: &Command) -> Result<Output, String> {
        let sudo = self.0.plan.host(&cmd.host).is_some_and(|h| h.sudo);
        let cmd = cmd
            .clone()
            .sudo(sudo)
            .timeout(Some(Duration::from_secs(60)));
        self.0.run(&cmd).await.map_err(|e| e.to_string())
    }
}

/// For the manual provider: what the operator must change (nothing for providers with an API).
pub(crate) fn manual_instructions(
    p: &dyn DnsProvider,
    plan: &[(String, Vec<dns::Correction>)],
) -> Vec<String> {
    if p.kind() != "manual" {
        return Vec::new();
    }
    let all: Vec<dns::Correction> = plan.iter().flat_map(|(_, f)| f.iter().cloned()).collect();
    if all.is_empty() {
        return Vec::new();
    }
    dns::manual::instructions(&all)
}

/// Puts `previous` back (values too when `values`, else TTLs only), one change per zone;
/// returns how many record sets changed.
pub(crate) async fn restore(
    ctx: &StepCtx<'_>,
    provider_name: &str,
    previous: &[dns::RecordSet],
    values: bool,
) -> Result<usize, EngineError> {
    let p = provider(ctx, provider_name)?;
    let wish: Vec<Desired> = previous
        .iter()
        .map(|r| Desired {
            key: r.key.clone(),
            values: values.then(|| r.values.clone()),
            ttl: Some(r.ttl),
            proxied: if values { r.proxied } else { None },
        })
        .collect();
    let mut changed = 0;
    for (zone, list) in by_zone(ctx, p.as_ref(), wish)? {
        let keys: Vec<_> = list.iter().map(|d| d.key.clone()).collect();
        let current = p
            .read(&zone, &keys)
            .await
            .map_err(|e| ctx.failed(e.to_string()))?;
        let fixes =
            dns::corrections(p.as_ref(), &current, &list).map_err(|e| ctx.failed(e.to_string()))?;
        for line in manual_instructions(p.as_ref(), &[(zone.clone(), fixes.clone())]) {
            ctx.detail(line);
        }
        for f in &fixes {
            ctx.detail(format!("{zone}: {}", f.msg));
        }
        p.apply(&zone, &fixes)
            .await
            .map_err(|e| ctx.failed(e.to_string()))?;
        changed += fixes.len();
    }
    Ok(changed)
}

/// One capability problem of the plan: where (the record in the plan file) and what.
pub(crate) struct PlanCapability {
    /// The step's id.
    pub step: String,
    /// The DNS provider's name in the plan.
    pub provider: String,
    /// Byte offset of the record's name in the plan file.
    pub at: usize,
    /// What the provider cannot do, and why.
    pub problem: String,
}

/// Every `dns.*` step's records against what its provider declares it can do, from the plan
/// alone (no secret, no network): the pass `cutover check` makes before connecting anywhere.
pub(crate) fn plan_capabilities(plan: &Plan) -> Vec<PlanCapability> {
    use cutover_plan::StepKind as K;
    let mut out = Vec::new();
    for (_, step) in plan.steps() {
        let (provider, records, ttl) = match &step.kind {
            K::DnsLowerTtl(s) | K::DnsRaiseTtl(s) => (&s.provider, &s.records, Some(s.ttl)),
            K::DnsSwitch(s) => (&s.provider, &s.records, s.ttl),
            K::DnsRecord(s) => (&s.provider, &s.records, s.ttl),
            _ => continue,
        };
        let Some(d) = plan.dns_provider(&provider.value) else {
            continue; // an unknown provider is a plan problem already
        };
        for r in records {
            let Some(rtype) = RecordType::parse(&r.rtype.value) else {
                continue;
            };
            let wish = Desired {
                key: RecordKey::new(&r.name.value, rtype),
                values: None,
                ttl: ttl.map(|t| t.as_secs() as u32),
                proxied: r.proxied,
            };
            for problem in dns::check_capabilities(d.provider.value.name(), &d.zones, &[wish]) {
                out.push(PlanCapability {
                    step: step.id.value.clone(),
                    provider: provider.value.clone(),
                    at: r.name.span.start,
                    problem,
                });
            }
        }
    }
    out
}
