//! Where traffic is switched: DNS providers (`[dns.NAME]`) and reverse proxies
//! (`[proxies.NAME]`), and the record lists of the `dns.*` steps. Which providers and proxy
//! kinds exist is the traffic crate's registry; the names are repeated here so that a typo is
//! a plan problem with its location.

use crate::limits;
use crate::problem::{did_you_mean, Problem, Problems};
use crate::read::Fields;
use crate::read::{FromToml, Spanned};
use crate::template::Template;
use std::time::Duration;
use toml_span::value::Value;

crate::named::named_enum! {
    /// The kind of a `[dns.NAME]` provider (the traffic crate's registry has one module each).
    pub enum DnsProviderKind {
        /// RFC 2136 dynamic updates signed with TSIG (BIND, Knot, PowerDNS).
        Rfc2136 = "rfc2136",
        /// Cloudflare's API.
        Cloudflare = "cloudflare",
        /// The operator makes the change; cutover waits and verifies.
        Manual = "manual",
    }
}

crate::named::named_enum! {
    /// The kind of a `[proxies.NAME]` reverse proxy (the traffic crate has one switcher each).
    pub enum ProxyKind {
        /// Caddy, through its admin API.
        Caddy = "caddy",
        /// HAProxy, through its runtime API.
        Haproxy = "haproxy",
        /// nginx: an upstream include rewritten, `nginx -t`, reload.
        Nginx = "nginx",
        /// A proxy resolving its upstream by a DNS name, switched through a `[dns]` provider.
        DnsName = "dns-name",
    }
}
/// Record types the `dns.*` steps change.
pub const RECORD_TYPES: &[&str] = &["A", "AAAA", "CNAME", "TXT", "MX", "NS"];

/// `[dns.NAME]`: a DNS provider holding the zones whose records move.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct DnsProvider {
    /// The provider's name in the plan (the key of `[dns.NAME]`).
    #[serde(skip)]
    pub name: Spanned<String>,
    /// `rfc2136` (dynamic updates with TSIG: BIND, Knot, PowerDNS), `cloudflare` or `manual`.
    pub provider: Spanned<DnsProviderKind>,
    /// The zones the plan changes (`example.com`); each record belongs to the longest match.
    pub zones: Vec<String>,
    /// rfc2136: the primary server that takes updates, `address` or `address:port`.
    pub server: Option<String>,
    /// rfc2136: the TSIG key's name as the server knows it.
    pub tsig_key: Option<String>,
    /// rfc2136: `hmac-sha256` (default), `hmac-sha384` or `hmac-sha512`.
    pub tsig_algorithm: Option<String>,
    /// rfc2136: the secret (from `[secrets]`, by name) holding the key's base64 value.
    pub tsig_secret: Option<Spanned<String>>,
    /// cloudflare: the secret (from `[secrets]`, by name) holding an API token with
    /// Zone.DNS edit permission.
    pub api_token: Option<Spanned<String>>,
    /// cloudflare: the API's base URL (default `https://api.cloudflare.com/client/v4`).
    pub api: Option<String>,
    /// Name servers to query (`address[:port]`) instead of those found from the NS records.
    #[serde(default)]
    pub nameservers: Vec<String>,
    /// Per-request timeout (default "5s").
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Duration>,
    /// manual: how long to wait for the operator's change (default "1h").
    #[schemars(with = "Option<String>")]
    pub wait: Option<Duration>,
}

impl DnsProvider {
    /// The fields `[dns.NAME]` accepts.
    pub const FIELDS: &'static [&'static str] = &[
        "provider",
        "zones",
        "server",
        "tsig_key",
        "tsig_algorithm",
        "tsig_secret",
        "api_token",
        "api",
        "nameservers",
        "timeout",
        "wait",
    ];

    /// Reads `[dns.NAME]`.
    pub fn read(name: Spanned<String>, value: &mut Value<'_>, p: &mut Problems) -> Option<Self> {
        let owner = format!("DNS provider `{}`", name.value);
        let mut f = Fields::new(value, owner.clone(), Self::FIELDS, p)?;
        let provider: Option<Spanned<String>> = f.required("provider", p);
        let zones: Option<Vec<String>> = f.required("zones", p);
        let server = f.optional("server", p);
        let tsig_key = f.optional("tsig_key", p);
        let tsig_algorithm = f.optional("tsig_algorithm", p);
        let tsig_secret = f.optional("tsig_secret", p);
        let api_token = f.optional("api_token", p);
        let api = f.optional("api", p);
        let nameservers = f.optional("nameservers", p).unwrap_or_default();
        let timeout = f.duration("timeout", &limits::REQUEST_TIMEOUT, p);
        let wait = f.duration("wait", &limits::WAIT, p);
        let span = f.span();
        f.finish(p);
        let provider = provider?;
        let Some(kind) = DnsProviderKind::parse(&provider.value) else {
            p.push(unknown_kind(
                "DNS provider",
                &provider,
                DnsProviderKind::NAMES,
            ));
            return None;
        };
        let d = DnsProvider {
            provider: Spanned {
                value: kind,
                span: provider.span,
            },
            zones: zones.unwrap_or_default(),
            server,
            tsig_key,
            tsig_algorithm,
            tsig_secret,
            api_token,
            api,
            nameservers,
            timeout,
            wait,
            name,
        };
        let kind = d.provider.value.name();
        let need = |field: &str, present: bool, p: &mut Problems| {
            if !present {
                p.push(
                    Problem::new(span, format!("{owner} (`{kind}`) needs `{field}`"), format!("`{field}` is missing"))
                        .help(match field {
                            "server" => "add `server = \"192.0.2.53\"`: the zone's primary, which takes updates".to_string(),
                            "tsig_secret" => "add `tsig_key = \"NAME\"` and `tsig_secret = \"SECRET\"` naming a `[secrets.SECRET]` with the key's base64 value".to_string(),
                            _ => "add `api_token = \"SECRET\"` naming a `[secrets.SECRET]` holding a Cloudflare API token".to_string(),
                        }),
                );
            }
        };
        match d.provider.value {
            DnsProviderKind::Rfc2136 => {
                need("server", d.server.is_some(), p);
                need(
                    "tsig_secret",
                    d.tsig_secret.is_some() && d.tsig_key.is_some(),
                    p,
                );
            }
            DnsProviderKind::Cloudflare => need("api_token", d.api_token.is_some(), p),
            DnsProviderKind::Manual => {}
        }
        Some(d)
    }
}

/// `[proxies.NAME]`: a reverse proxy whose upstream a `proxy.switch` step changes.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct Proxy {
    /// The proxy's name in the plan (the key of `[proxies.NAME]`).
    #[serde(skip)]
    pub name: Spanned<String>,
    /// `caddy` (admin API), `haproxy` (runtime API), `nginx` (upstream include + reload), or
    /// `dns-name`: a proxy that resolves its upstream by a DNS name (Caddy `dynamic_upstreams`,
    /// nginx `resolver` + `proxy_pass http://$name`), switched by updating that name's A record
    /// through a `[dns]` provider: no reload, so no keep-alive connection is closed.
    pub kind: Spanned<ProxyKind>,
    /// The plan host the proxy runs on; its control interface is used from there.
    pub host: Spanned<String>,
    /// caddy: the admin API address on the host (default `localhost:2019`).
    pub admin: Option<String>,
    /// caddy: the `@id` of the `reverse_proxy` handler (default `cutover`).
    pub id: Option<String>,
    /// haproxy: the admin stats socket's path (default `/run/haproxy/admin.sock`).
    pub socket: Option<String>,
    /// haproxy: the backend holding the server entry.
    pub backend: Option<String>,
    /// haproxy: the server entry to move.
    pub server: Option<String>,
    /// haproxy: its configuration file on the host (e.g. `/etc/haproxy/haproxy.cfg`). After
    /// each switch the server's line in it is rewritten to the new address (atomically,
    /// checked with `haproxy -c`), so that a reload or restart keeps the switch; rollback
    /// rewrites it back. Without it the switch lives in HAProxy's memory only.
    pub config: Option<String>,
    /// nginx: the include file holding the upstream's `server ADDRESS:PORT;` line.
    pub include: Option<String>,
    /// nginx: extra arguments for `nginx -t` and `nginx -s reload` (e.g. ["-c", "/etc/nginx/x.conf"]).
    #[serde(default)]
    pub nginx_args: Vec<String>,
    /// dns-name: the DNS provider (a name from `[dns]`) holding the record the proxy resolves.
    pub dns: Option<Spanned<String>>,
    /// dns-name: the name the proxy resolves its upstream by (`app.internal.example.com`).
    pub record: Option<String>,
    /// dns-name: the upstream port the proxy dials (the record holds only the address).
    pub port: Option<u16>,
    /// dns-name: how long the proxy may keep the previous address, waited after each update
    /// (its re-resolve interval plus a margin; default "1s").
    #[schemars(with = "Option<String>")]
    pub settle: Option<Duration>,
}

impl Proxy {
    /// The fields `[proxies.NAME]` accepts.
    pub const FIELDS: &'static [&'static str] = &[
        "kind",
        "host",
        "admin",
        "id",
        "socket",
        "backend",
        "server",
        "config",
        "include",
        "nginx_args",
        "dns",
        "record",
        "port",
        "settle",
    ];

    /// Reads `[proxies.NAME]`.
    pub fn read(name: Spanned<String>, value: &mut Value<'_>, p: &mut Problems) -> Option<Self> {
        let owner = format!("proxy `{}`", name.value);
        let mut f = Fields::new(value, owner.clone(), Self::FIELDS, p)?;
        let kind: Option<Spanned<String>> = f.required("kind", p);
        let host: Option<Spanned<String>> = f.required("host", p);
        // What a kind needs is judged on what is written, so that a value out of range
        // (reported by itself) is not also reported as missing.
        let written = |key: &str| f.has(key);
        let has = ["backend", "server", "include", "dns", "record", "port"].map(written);
        let admin = f.optional("admin", p);
        let id = f.optional("id", p);
        let socket = f.optional("socket", p);
        let backend = f.optional("backend", p);
        let server = f.optional("server", p);
        let config: Option<Spanned<String>> = f.optional("config", p);
        let include = f.optional("include", p);
        let nginx_args = f.optional("nginx_args", p).unwrap_or_default();
        let dns = f.optional("dns", p);
        let record = f.optional("record", p);
        let port = f.int("port", &limits::PORT, p);
        let settle = f.duration("settle", &limits::SETTLE, p);
        let span = f.span();
        f.finish(p);
        let kind = kind?;
        let Some(value) = ProxyKind::parse(&kind.value) else {
            p.push(unknown_kind("proxy kind", &kind, ProxyKind::NAMES));
            return None;
        };
        let x = Proxy {
            admin,
            id,
            socket,
            backend,
            server,
            config: config.as_ref().map(|c| c.value.clone()),
            include,
            nginx_args,
            dns,
            record,
            port,
            settle,
            kind: Spanned {
                value,
                span: kind.span,
            },
            host: host?,
            name,
        };
        let [backend, server, include, dns, record, port] = has;
        let missing: Vec<&str> = match x.kind.value {
            ProxyKind::Haproxy => [("backend", backend), ("server", server)]
                .iter()
                .filter(|(_, ok)| !ok)
                .map(|(n, _)| *n)
                .collect(),
            ProxyKind::Nginx if !include => vec!["include"],
            ProxyKind::DnsName => [("dns", dns), ("record", record), ("port", port)]
                .iter()
                .filter(|(_, ok)| !ok)
                .map(|(n, _)| *n)
                .collect(),
            ProxyKind::Nginx | ProxyKind::Caddy => Vec::new(),
        };
        if let Some(c) = config.filter(|_| x.kind.value != ProxyKind::Haproxy) {
            p.push(
                Problem::new(
                    c.span,
                    format!(
                        "{owner} (`{}`) has `config`, which only an `haproxy` proxy uses",
                        x.kind.value.name()
                    ),
                    "not used by this kind",
                )
                .help("remove `config`: this kind's switch already outlives a reload"),
            );
        }
        for field in missing {
            p.push(
                Problem::new(
                    span,
                    format!("{owner} (`{}`) needs `{field}`", x.kind.value.name()),
                    format!("`{field}` is missing"),
                )
                .help(if field == "port" {
                    format!("add `port = 8080` to {owner}")
                } else {
                    format!("add `{field} = \"...\"` to {owner}")
                }),
            );
        }
        Some(x)
    }
}

/// One record set a `dns.*` step names: `{ name = "www.example.com", type = "A", value = "..." }`
/// (or `values = [...]` for several).
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct DnsRecord {
    /// The fully qualified name (`www.example.com`).
    pub name: Spanned<String>,
    /// `A`, `AAAA`, `CNAME`, `TXT`, `MX` (`"10 mx.example.com"`) or `NS` (default `A`).
    #[serde(rename = "type")]
    #[schemars(default = "crate::schema::default_record_type")]
    pub rtype: Spanned<String>,
    /// The new value (`{{ hosts.new.address }}`, a CNAME target); `dns.switch` and
    /// `dns.verify` need it or `values`, TTL steps ignore it.
    pub value: Option<Template>,
    /// Several values for one A/AAAA record set, instead of `value` (e.g. two addresses:
    /// `values = ["{{ hosts.new.address }}", "192.0.2.7"]`); the set becomes exactly these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<Template>,
    /// cloudflare: the proxied flag to set.
    pub proxied: Option<bool>,
}

impl DnsRecord {
    const FIELDS: &'static [&'static str] = &["name", "type", "value", "values", "proxied"];

    /// The record set's new values as written: `value`, or every entry of `values`.
    pub fn templates(&self) -> Vec<&Template> {
        self.value.iter().chain(self.values.iter()).collect()
    }
}

impl FromToml for DnsRecord {
    fn read(value: &mut Value<'_>, what: &str, p: &mut Problems) -> Option<Self> {
        let span = value.span;
        let mut f = Fields::new(value, what.to_string(), Self::FIELDS, p)?;
        let name: Option<Spanned<String>> = f.required("name", p);
        let rtype: Option<Spanned<String>> = f.optional("type", p);
        let values: Option<Spanned<Vec<Template>>> = f.optional("values", p);
        let r = DnsRecord {
            value: f.optional("value", p),
            values: values.as_ref().map(|v| v.value.clone()).unwrap_or_default(),
            proxied: f.optional("proxied", p),
            rtype: rtype.unwrap_or(Spanned {
                value: "A".into(),
                span,
            }),
            name: name?,
        };
        f.finish(p);
        if let Some(v) = &values {
            let problem = if r.value.is_some() {
                Some((
                    "give either `value` or `values`, not both",
                    "`value` is set too",
                ))
            } else if v.value.is_empty() {
                Some(("`values` is empty", "no value"))
            } else if v.value.len() > 1 && r.rtype.value.eq_ignore_ascii_case("CNAME") {
                Some((
                    "a CNAME record set holds one target",
                    "several CNAME targets",
                ))
            } else {
                None
            };
            if let Some((message, label)) = problem {
                p.push(
                    Problem::new(v.span, message, label)
                        .help("write `value = \"...\"` for one value, `values = [\"...\", \"...\"]` for several A/AAAA records"),
                );
            }
        }
        if !RECORD_TYPES.contains(&r.rtype.value.to_ascii_uppercase().as_str()) {
            p.push(
                Problem::new(
                    r.rtype.span,
                    format!(
                        "record type `{}` is not supported by the DNS steps",
                        r.rtype.value
                    ),
                    "unsupported type",
                )
                .help("use A, AAAA, CNAME, TXT, MX or NS"),
            );
            return None;
        }
        Some(r)
    }
}

fn unknown_kind(what: &str, got: &Spanned<String>, known: &[&str]) -> Problem {
    let help = match did_you_mean(&got.value, known.iter().copied()) {
        Some(near) => format!("did you mean `{near}`?"),
        None => format!("use one of: {}", known.join(", ")),
    };
    Problem::new(
        got.span,
        format!("unknown {what} `{}`", got.value),
        format!("unknown {what}"),
    )
    .help(help)
}

/// Cross-references of the traffic sections and steps: providers, proxies, hosts and secrets
/// that exist, values present where needed and free of secrets.
pub(crate) fn validate(plan: &crate::Plan, p: &mut Problems) {
    use crate::steps::StepKind as K;
    let secret = |s: &Option<Spanned<String>>, p: &mut Problems| {
        if let Some(s) = s {
            if plan.secret(&s.value).is_none() {
                let names: Vec<&str> = plan.secrets.iter().map(|x| x.name.value.as_str()).collect();
                p.push(missing("secret", s, &names, "[secrets]"));
            }
        }
    };
    for d in &plan.dns {
        secret(&d.tsig_secret, p);
        secret(&d.api_token, p);
    }
    let hosts: Vec<&str> = plan.hosts.iter().map(|h| h.name.value.as_str()).collect();
    let providers: Vec<&str> = plan.dns.iter().map(|d| d.name.value.as_str()).collect();
    for x in &plan.proxies {
        if plan.host(&x.host.value).is_none() {
            p.push(missing("host", &x.host, &hosts, "[hosts]"));
        }
        if let Some(d) = &x.dns {
            if plan.dns_provider(&d.value).is_none() {
                p.push(missing("DNS provider", d, &providers, "[dns]"));
            }
        }
    }
    let proxies: Vec<&str> = plan.proxies.iter().map(|d| d.name.value.as_str()).collect();
    for (_, step) in plan.steps() {
        let (provider, records, needs_value) = match &step.kind {
            K::DnsLowerTtl(s) | K::DnsRaiseTtl(s) => (&s.provider, &s.records, false),
            K::DnsSwitch(s) => (&s.provider, &s.records, true),
            // Its values are checked by the step itself (none when it deletes).
            K::DnsRecord(s) => (&s.provider, &s.records, false),
            K::DnsVerify(s) => (&s.provider, &s.records, true),
            K::ProxySwitch(s) => {
                if plan.proxy(&s.proxy.value).is_none() {
                    p.push(missing("proxy", &s.proxy, &proxies, "[proxies]"));
                }
                continue;
            }
            K::ComposeDeploy(s) => {
                if plan.proxy(&s.proxy.value).is_none() {
                    p.push(missing("proxy", &s.proxy, &proxies, "[proxies]"));
                }
                continue;
            }
            _ => continue,
        };
        if plan.dns_provider(&provider.value).is_none() {
            p.push(missing("DNS provider", provider, &providers, "[dns]"));
        }
        for r in records {
            for t in r.values.iter().filter(|t| t.uses_secrets()) {
                p.push(Problem::new(
                    t.span,
                    "a DNS record value cannot use a secret: records are public",
                    "secret in a record",
                ));
            }
            match &r.value {
                None if needs_value && r.values.is_empty() => p.push(
                    Problem::new(
                        r.name.span,
                        format!(
                            "record `{}` of step `{}` has no `value`",
                            r.name.value, step.id.value
                        ),
                        "no value",
                    )
                    .help(
                        "add `value = \"{{ hosts.new.address }}\"` (the address traffic moves to)",
                    ),
                ),
                Some(t) if t.uses_secrets() => p.push(Problem::new(
                    t.span,
                    "a DNS record value cannot use a secret: records are public",
                    "secret in a record",
                )),
                _ => {}
            }
        }
    }
}

/// True when two DNS names are the same name (case and the trailing dot do not count).
pub(crate) fn same_name(a: &str, b: &str) -> bool {
    a.trim_end_matches('.')
        .eq_ignore_ascii_case(b.trim_end_matches('.'))
}

fn missing(what: &str, name: &Spanned<String>, known: &[&str], section: &str) -> Problem {
    let problem = Problem::new(
        name.span,
        format!("unknown {what} `{}`", name.value),
        format!("no such {what}"),
    );
    match did_you_mean(&name.value, known.iter().copied()) {
        Some(near) => problem.help(format!("did you mean `{near}`?")),
        None if known.is_empty() => problem.help(format!("define it in `{section}`")),
        None => problem.help(format!(
            "define it in `{section}`, or use one of: {}",
            known.join(", ")
        )),
    }
}
