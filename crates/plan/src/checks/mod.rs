//! `[checks.NAME]`: probes that `check` and `soak` steps (and `run` steps' `health`) name.
//! One kind per probe: `http`, `tcp`, `dns`, `command`, `postgres`, `mysql`, `redis`, `smoke`.

pub mod assert;
pub mod downtime;
mod http;
mod probes;
pub(crate) mod validate;

pub use http::{read_names, HttpCheck, SmokeCheck};
pub use probes::{ClientCheck, CommandCheck, DnsCheck, TcpCheck};

use crate::limits;
use crate::problem::{did_you_mean, Problem, Problems};
use crate::read::{wrong_type, Fields, FromToml, Spanned};
use std::time::Duration;
use toml_span::value::{Value, ValueInner};

/// Every probe kind.
pub const KINDS: &[&str] = &[
    "http", "tcp", "dns", "command", "postgres", "mysql", "redis", "smoke",
];
/// Fields every check has.
pub const COMMON_FIELDS: &[&str] = &["kind", "description", "timeout"];

/// A named probe.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct Check {
    /// The check's name (the key of `[checks.NAME]`).
    #[serde(skip)]
    pub name: Spanned<String>,
    /// What it proves, shown in checklists.
    pub description: Option<String>,
    /// Give up on one try after this long (default 10s).
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Duration>,
    /// The probe.
    #[serde(flatten)]
    pub kind: CheckKind,
}

/// What a check probes, chosen by its `kind`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[schemars(transform = crate::schema::describe_variant_fields)]
pub enum CheckKind {
    /// An HTTP(S) request: status, JSON fields, body, latency, TLS certificate.
    Http(HttpCheck),
    /// A TCP connection.
    Tcp(TcpCheck),
    /// A DNS answer from a chosen server.
    Dns(DnsCheck),
    /// A command's exit status and output on a host.
    Command(CommandCheck),
    /// A PostgreSQL query run with `psql` on a host.
    Postgres(ClientCheck),
    /// A MySQL/MariaDB query run with `mariadb` on a host.
    Mysql(ClientCheck),
    /// A Redis command run with `redis-cli` on a host.
    Redis(ClientCheck),
    /// A Hurl file of ordered requests with captures and asserts.
    Smoke(SmokeCheck),
}

impl CheckKind {
    /// The kind's name as written.
    pub fn name(&self) -> &'static str {
        match self {
            CheckKind::Http(_) => "http",
            CheckKind::Tcp(_) => "tcp",
            CheckKind::Dns(_) => "dns",
            CheckKind::Command(_) => "command",
            CheckKind::Postgres(_) => "postgres",
            CheckKind::Mysql(_) => "mysql",
            CheckKind::Redis(_) => "redis",
            CheckKind::Smoke(_) => "smoke",
        }
    }
}

impl Check {
    /// Reads `[checks.NAME]`.
    pub fn read(name: Spanned<String>, value: &mut Value<'_>, p: &mut Problems) -> Option<Self> {
        let owner = format!("check `{}`", name.value);
        let mut f = Fields::new(value, owner, COMMON_FIELDS, p)?;
        let kind_span = f.value_span("kind");
        let kind: Option<String> = f.required("kind", p);
        let description = f.optional("description", p);
        let timeout = f.duration("timeout", &limits::REQUEST_TIMEOUT, p);
        let kind = match kind {
            Some(k) if KINDS.contains(&k.as_str()) => read_kind(&k, &mut f, p),
            Some(k) => {
                let help = match did_you_mean(&k, KINDS.iter().copied()) {
                    Some(near) => format!("did you mean `{near}`?"),
                    None => format!("check kinds are: {}", KINDS.join(", ")),
                };
                p.push(
                    Problem::new(
                        kind_span.unwrap_or(f.span()),
                        format!("unknown check kind `{k}` in {}", f.owner()),
                        "unknown kind",
                    )
                    .help(help),
                );
                return None;
            }
            None => return None,
        };
        f.finish(p);
        Some(Check {
            name,
            description,
            timeout,
            kind: kind?,
        })
    }
}

fn read_kind(kind: &str, f: &mut Fields<'_>, p: &mut Problems) -> Option<CheckKind> {
    match kind {
        "http" => {
            f.set_known(HttpCheck::FIELDS);
            HttpCheck::read(f, p).map(CheckKind::Http)
        }
        "smoke" => {
            f.set_known(SmokeCheck::FIELDS);
            SmokeCheck::read(f, p).map(CheckKind::Smoke)
        }
        "tcp" => {
            f.set_known(TcpCheck::FIELDS);
            TcpCheck::read(f, p).map(CheckKind::Tcp)
        }
        "dns" => {
            f.set_known(DnsCheck::FIELDS);
            DnsCheck::read(f, p).map(CheckKind::Dns)
        }
        "command" => {
            f.set_known(CommandCheck::FIELDS);
            CommandCheck::read(f, p).map(CheckKind::Command)
        }
        "postgres" => {
            f.set_known(ClientCheck::FIELDS);
            ClientCheck::read(f, p).map(CheckKind::Postgres)
        }
        "mysql" => {
            f.set_known(ClientCheck::FIELDS);
            ClientCheck::read(f, p).map(CheckKind::Mysql)
        }
        "redis" => {
            f.set_known(ClientCheck::FIELDS);
            ClientCheck::read(f, p).map(CheckKind::Redis)
        }
        _ => None,
    }
}

/// A list of names written as one string or an array of strings (`checks = "health"` or
/// `checks = ["health", "smoke"]`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Names(pub Vec<Spanned<String>>);

impl FromToml for Names {
    fn read(value: &mut Value<'_>, what: &str, p: &mut Problems) -> Option<Self> {
        let span = value.span;
        match value.take() {
            ValueInner::String(s) => Some(Names(vec![Spanned {
                value: s.into_owned(),
                span,
            }])),
            ValueInner::Array(items) => {
                let mut out = Vec::new();
                for (i, mut item) in items.into_iter().enumerate() {
                    let item_what = format!("item {} of {what}", i + 1);
                    out.push(Spanned::<String>::read(&mut item, &item_what, p)?);
                }
                Some(Names(out))
            }
            other => {
                wrong_type(span, what, "a name or an array of names", &other, p);
                None
            }
        }
    }
}

impl FromToml for assert::JsonAssert {
    fn read(value: &mut Value<'_>, what: &str, p: &mut Problems) -> Option<Self> {
        let span = value.span;
        let text = String::read(value, what, p)?;
        assert::parse_json_assert(&text)
            .map_err(|e| {
                p.push(
                    Problem::new(span, format!("{what}: {e}"), "bad assertion")
                        .help("write `PATH PREDICATE`, e.g. '$.status == \"ok\"', '$.items[0].id exists', '$.queue < 100'"),
                )
            })
            .ok()
    }
}

impl FromToml for assert::Predicate {
    fn read(value: &mut Value<'_>, what: &str, p: &mut Problems) -> Option<Self> {
        let span = value.span;
        let text = String::read(value, what, p)?;
        assert::parse_predicate(&text)
            .map_err(|e| {
                p.push(
                    Problem::new(span, format!("{what}: {e}"), "bad predicate").help(
                        "e.g. '== \"PONG\"', '>= 1', 'contains \"active\"', 'matches \"^v[0-9]\"'",
                    ),
                )
            })
            .ok()
    }
}
