//! A PostgreSQL database as the `postgres.*` steps name it: which plan host runs the client
//! tools for it, how that host reaches the server, and the credentials.
//!
//! ```toml
//! source = { host = "old", db = "shop", user = "shop", password = "{{ secrets.old_db }}" }
//! target = { host = "new", port = 5433, db = "shop", user = "shop", password = "{{ secrets.new_db }}" }
//! ```

use crate::limits;
use crate::problem::{Problem, Problems};
use crate::read::{Fields, FromToml, Spanned};
use crate::template::Template;
use toml_span::value::Value;

/// One PostgreSQL database.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct PgEndpoint {
    /// The plan host on which this side's client tools (`psql`, `pg_dump`...) run. Usually
    /// the database's own host; a host that reaches the server over the network works too
    /// (e.g. the new host, whose newer tools then dump the old server directly).
    pub host: Spanned<String>,
    /// How `host` reaches the server: a host name, an address, or a Unix socket directory
    /// (default `localhost`).
    pub address: Option<Template>,
    /// The server's port (default 5432).
    pub port: Option<u16>,
    /// The database's name.
    pub db: Template,
    /// The role to connect as (default `postgres`). Copies and replication need a superuser
    /// or a role owning every object (and `REPLICATION` for logical replication).
    pub user: Option<Template>,
    /// The role's password, normally `{{ secrets.NAME }}`. It reaches the tools as
    /// `PGPASSWORD` through the environment (sent over the SSH channel's standard input),
    /// never on a command line.
    pub password: Option<Template>,
    /// A pgpass file on `host` (`PGPASSFILE`), instead of `password`.
    pub passfile: Option<Template>,
    /// libpq's `sslmode` (`disable`, `prefer`, `require`, `verify-ca`, `verify-full`).
    pub sslmode: Option<Spanned<String>>,
    /// Directory of the client tools on `host` (default: found in the usual places, e.g.
    /// `/usr/lib/postgresql/MAJOR/bin`, choosing the target server's major version).
    pub bin: Option<Template>,
    /// A container on `host` the server runs in (e.g. "shop-db-1"): the client tools run
    /// inside it through `docker exec` (the server's own tools, found on its `PATH`), and
    /// `address` defaults to the container's own `localhost`. To use the host's tools over
    /// a published port instead, leave this out and set `address`/`port` to it.
    pub container: Option<Template>,
}

/// Values `sslmode` accepts.
pub const SSLMODES: &[&str] = &[
    "disable",
    "allow",
    "prefer",
    "require",
    "verify-ca",
    "verify-full",
];

impl PgEndpoint {
    /// The fields `source` and `target` accept.
    pub const FIELDS: &'static [&'static str] = &[
        "host",
        "address",
        "port",
        "db",
        "user",
        "password",
        "passfile",
        "sslmode",
        "bin",
        "container",
    ];

    /// Cross-reference checks: the host exists; only `password` may name a secret.
    pub(crate) fn validate(&self, check: &crate::validate::Checker<'_>, p: &mut Problems) {
        check.host(&self.host, p);
        check.command("db", &self.db, p);
        for (field, t) in [
            ("address", &self.address),
            ("user", &self.user),
            ("passfile", &self.passfile),
            ("bin", &self.bin),
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

impl FromToml for PgEndpoint {
    fn read(value: &mut Value<'_>, what: &str, p: &mut Problems) -> Option<Self> {
        let mut f = Fields::new(value, what.to_string(), Self::FIELDS, p)?;
        let e = PgEndpoint {
            host: f.required("host", p)?,
            address: f.optional("address", p),
            port: f.int("port", &limits::PORT, p),
            db: f.required("db", p)?,
            user: f.optional("user", p),
            password: f.optional("password", p),
            passfile: f.optional("passfile", p),
            sslmode: f.optional("sslmode", p),
            bin: f.optional("bin", p),
            container: f.optional("container", p),
        };
        let owner = f.owner().to_string();
        f.finish(p);
        if let Some(mode) = &e.sslmode {
            if !SSLMODES.contains(&mode.value.as_str()) {
                p.push(
                    Problem::new(
                        mode.span,
                        format!(
                            "`sslmode` of {owner} is `{}`, which libpq does not know",
                            mode.value
                        ),
                        "unknown sslmode",
                    )
                    .help(format!("use one of: {}", SSLMODES.join(", "))),
                );
                return None;
            }
        }
        Some(e)
    }
}
