//! `tcp`, `dns`, `command`, and the database clients' checks (`postgres`, `mysql`, `redis`),
//! which run the usual client on a host through the executor instead of linking drivers.

use super::assert::Predicate;
use crate::limits;
use crate::problem::Problems;
use crate::read::{Fields, Spanned};
use crate::template::{read_env, Template};
use std::collections::BTreeMap;

/// A TCP connection that must open.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct TcpCheck {
    /// "HOST:PORT" to connect to, e.g. "{{ hosts.new.address }}:5432".
    pub address: Template,
    /// Connect from this host (`ssh -W` through its connection), not from the controller:
    /// `address = "127.0.0.1:5432"` with `from = "new"` is new's own loopback.
    pub from: Option<Spanned<String>>,
}

impl TcpCheck {
    /// The fields a `tcp` check accepts.
    pub const FIELDS: &'static [&'static str] =
        &["kind", "description", "timeout", "address", "from"];

    pub(crate) fn read(f: &mut Fields<'_>, p: &mut Problems) -> Option<Self> {
        let address = f.required("address", p);
        let from = f.optional("from", p);
        Some(TcpCheck {
            address: address?,
            from,
        })
    }
}

/// A DNS answer, asked of a chosen server.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct DnsCheck {
    /// The name asked, e.g. "app.example.com".
    pub name: Template,
    /// Record type: A, AAAA, CNAME, TXT, MX, NS (default A).
    #[serde(rename = "type")]
    pub record: Option<String>,
    /// The server asked, "ADDRESS" or "ADDRESS:PORT" (default port 53).
    pub server: Template,
    /// The answer must be exactly these values (any order), e.g. ["198.51.100.20"].
    #[serde(default)]
    pub expect: Vec<Template>,
    /// Fail when the answer's TTL is above this many seconds.
    pub max_ttl: Option<u32>,
}

impl DnsCheck {
    /// The fields a `dns` check accepts.
    pub const FIELDS: &'static [&'static str] = &[
        "kind",
        "description",
        "timeout",
        "name",
        "type",
        "server",
        "expect",
        "max_ttl",
    ];

    pub(crate) fn read(f: &mut Fields<'_>, p: &mut Problems) -> Option<Self> {
        let name = f.required("name", p);
        let record = f.optional("type", p);
        let server = f.required("server", p);
        let expect = f.optional("expect", p).unwrap_or_default();
        let max_ttl = f.int("max_ttl", &limits::MAX_TTL, p);
        Some(DnsCheck {
            name: name?,
            record,
            server: server?,
            expect,
            max_ttl,
        })
    }
}

/// A command on a host: its exit status and, optionally, its output.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct CommandCheck {
    /// The host to run it on.
    pub host: Spanned<String>,
    /// Shell command (no secrets: pass them through `env`).
    pub command: Template,
    /// Environment variables (may use `{{ secrets.NAME }}`).
    #[serde(default)]
    pub env: BTreeMap<String, Template>,
    /// Run through `sudo -n`, overriding the host's setting.
    pub sudo: Option<bool>,
    /// The exit status that passes (default 0).
    pub exit: Option<u8>,
    /// A predicate on the trimmed standard output, e.g. '== "active"' or '>= 3'.
    pub expect: Option<Predicate>,
}

impl CommandCheck {
    /// The fields a `command` check accepts.
    pub const FIELDS: &'static [&'static str] = &[
        "kind",
        "description",
        "timeout",
        "host",
        "command",
        "env",
        "sudo",
        "exit",
        "expect",
    ];

    pub(crate) fn read(f: &mut Fields<'_>, p: &mut Problems) -> Option<Self> {
        let host = f.required("host", p);
        let command = f.required("command", p);
        let env = read_env(f, p);
        let sudo = f.optional("sudo", p);
        let exit = f.int("exit", &limits::EXIT_STATUS, p);
        let expect = f.optional("expect", p);
        Some(CommandCheck {
            host: host?,
            command: command?,
            env,
            sudo,
            exit,
            expect,
        })
    }
}

/// A query (PostgreSQL, MySQL) or command (Redis) run with the database's own client on a
/// host: reachability, and optionally the value it returns.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct ClientCheck {
    /// The host the client runs on.
    pub host: Spanned<String>,
    /// The query (default `select 1`), or for Redis the command (default `PING`).
    pub query: Option<Template>,
    /// Connection arguments for the client, e.g. ["-h", "127.0.0.1", "-p", "5432", "-d",
    /// "app"] (no secrets: passwords go in `env`: PGPASSWORD, MYSQL_PWD, REDISCLI_AUTH).
    #[serde(default)]
    pub args: Vec<Template>,
    /// Environment variables (may use `{{ secrets.NAME }}`).
    #[serde(default)]
    pub env: BTreeMap<String, Template>,
    /// The client program (default `psql`, `mariadb` or `redis-cli`).
    pub client: Option<String>,
    /// A predicate on the trimmed result, e.g. '== "1"', '>= 1000', '== "PONG"'.
    pub expect: Option<Predicate>,
    /// Run through `sudo -n`, overriding the host's setting.
    pub sudo: Option<bool>,
    /// A container on `host` the server runs in (e.g. "shop-db-1"): the client runs inside
    /// it through `docker exec` (the image's own `psql`, `mariadb`, `redis-cli`); `env`
    /// reaches it by name, never by value on a command line.
    pub container: Option<Template>,
}

impl ClientCheck {
    /// The fields a `postgres`, `mysql` or `redis` check accepts.
    pub const FIELDS: &'static [&'static str] = &[
        "kind",
        "description",
        "timeout",
        "host",
        "query",
        "args",
        "env",
        "client",
        "expect",
        "sudo",
        "container",
    ];

    pub(crate) fn read(f: &mut Fields<'_>, p: &mut Problems) -> Option<Self> {
        let host = f.required("host", p);
        let query = f.optional("query", p);
        let args = f.optional("args", p).unwrap_or_default();
        let env = read_env(f, p);
        let client = f.optional("client", p);
        let expect = f.optional("expect", p);
        let sudo = f.optional("sudo", p);
        let container = f.optional("container", p);
        Some(ClientCheck {
            host: host?,
            query,
            args,
            env,
            client,
            expect,
            sudo,
            container,
        })
    }
}
