//! A Redis or Valkey server as the `redis.*` steps name it: the plan host whose cutover agent
//! talks to it, how that host reaches it, and the credentials.
//!
//! ```toml
//! source = { host = "old", password = "{{ secrets.old_redis }}" }
//! target = { host = "new", port = 6380, user = "cutover", password = "{{ secrets.new_redis }}" }
//! source = { host = "old", container = "shop-redis-1", password = "{{ secrets.old_redis }}" }
//! ```

use super::in_container;
use crate::limits;
use crate::problem::Problems;
use crate::read::{Fields, FromToml, Spanned};
use crate::template::Template;
use toml_span::value::Value;

/// One Redis or Valkey server.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct RedisEndpoint {
    /// The plan host on which cutover's agent talks to the server (usually the server's own
    /// host: the agent reads every key there, next to the data).
    pub host: Spanned<String>,
    /// How `host` reaches the server: a host name, an address, or a Unix socket path
    /// (default `127.0.0.1`). Not with `container`.
    pub address: Option<Template>,
    /// The server's port (default 6379); with `container`, the port it listens on inside
    /// the container.
    pub port: Option<u16>,
    /// The ACL user to connect as (default: the default user). Syncs and switches need
    /// `CONFIG`, `REPLICAOF`, `CLIENT` and `INFO`; proofs read every key.
    pub user: Option<Template>,
    /// The user's password, normally `{{ secrets.NAME }}`. It reaches the agent over its SSH
    /// channel's standard input and the server in the protocol's `AUTH`, never a command line.
    pub password: Option<Template>,
    /// A container on `host` the server runs in (e.g. "shop-redis-1"). The agent stays on
    /// the host and reaches the server through the port the container publishes for
    /// `port`, else at the container's address on its network; another server (the other
    /// side of a sync or a switch) reaches it through the published port on `host`'s
    /// address, so a container on another host than its peer must publish `port` on an
    /// address other hosts reach (or set `source_address` / `target_address`).
    pub container: Option<Template>,
}

impl RedisEndpoint {
    /// The fields `source` and `target` accept.
    pub const FIELDS: &'static [&'static str] =
        &["host", "address", "port", "user", "password", "container"];

    /// Cross-reference checks: the host exists; only `password` may name a secret.
    pub(crate) fn validate(&self, check: &crate::validate::Checker<'_>, p: &mut Problems) {
        check.host(&self.host, p);
        for (field, t) in [
            ("address", &self.address),
            ("user", &self.user),
            ("container", &self.container),
        ] {
            if let Some(t) = t {
                check.command(field, t, p);
            }
        }
        if let Some(pw) = &self.password {
            check.references(pw, p);
        }
    }
}

impl FromToml for RedisEndpoint {
    fn read(value: &mut Value<'_>, what: &str, p: &mut Problems) -> Option<Self> {
        let mut f = Fields::new(value, what.to_string(), Self::FIELDS, p)?;
        let e = RedisEndpoint {
            host: f.required("host", p)?,
            address: f.optional("address", p),
            port: f.int("port", &limits::PORT, p),
            user: f.optional("user", p),
            password: f.optional("password", p),
            container: f.optional("container", p),
        };
        if e.container.is_some() {
            let why = "the server's address is the container's (its published port, else its own address)";
            in_container::refuse(f.owner(), "address", &e.address, why, p);
        }
        f.finish(p);
        Some(e)
    }
}
