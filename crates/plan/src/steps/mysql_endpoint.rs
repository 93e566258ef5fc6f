//! A MariaDB/MySQL server as the `mysql.*` steps name it: which plan host runs cutover's agent
//! for it, how that host reaches the server, and the account; and the check shared by the
//! kinds that name an earlier `mysql.*` step.
//!
//! ```toml
//! source = { host = "old", password = "{{ secrets.old_db }}" }
//! target = { host = "new", port = 3307, user = "migrator", password = "{{ secrets.new_db }}" }
//! source = { host = "old", container = "shop-db-1", password = "{{ secrets.old_db }}" }
//! ```

use super::in_container;
use crate::limits;
use crate::problem::{Problem, Problems};
use crate::read::{Fields, FromToml, Spanned};
use crate::steps::Kind;
use crate::template::Template;
use toml_span::value::Value;

/// One MariaDB/MySQL server.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct MysqlEndpoint {
    /// The plan host on which cutover's agent for this server runs (usually the server's
    /// own host; one that reaches it over the network works too).
    pub host: Spanned<String>,
    /// How `host` reaches the server (default `127.0.0.1`). Not with `container`.
    pub address: Option<Template>,
    /// The server's port (default 3306); with `container`, the port it listens on inside
    /// the container.
    pub port: Option<u16>,
    /// A Unix socket on `host` (e.g. `/run/mysqld/mysqld.sock`), instead of TCP. Not with
    /// `container`.
    pub socket: Option<Template>,
    /// The account (default `root`). Copies need to read everything on the source (and
    /// `RELOAD` for the snapshot) and to create everything on the target; the switch needs
    /// to set `read_only` and end sessions.
    pub user: Option<Template>,
    /// The account's password, normally `{{ secrets.NAME }}`. It travels only inside the
    /// agent's requests over the SSH channel's standard input: never on a command line, in a
    /// file or in an environment.
    pub password: Option<Template>,
    /// A container on `host` the server runs in (e.g. "shop-db-1"). The agent stays on the
    /// host and reaches the server over TCP through the port the container publishes for
    /// `port`, else at the container's address on its network; another server (the other
    /// side of a sync or a switch) reaches it through the published port on `host`'s
    /// address, so a container on another host than its peer must publish `port` on an
    /// address other hosts reach (or set `source_address` / `target_address`).
    pub container: Option<Template>,
}

impl MysqlEndpoint {
    /// The fields `source` and `target` accept.
    pub const FIELDS: &'static [&'static str] = &[
        "host",
        "address",
        "port",
        "socket",
        "user",
        "password",
        "container",
    ];

    /// Cross-reference checks: the host exists; only `password` may name a secret.
    pub(crate) fn validate(&self, check: &crate::validate::Checker<'_>, p: &mut Problems) {
        check.host(&self.host, p);
        for (field, t) in [
            ("address", &self.address),
            ("socket", &self.socket),
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

impl FromToml for MysqlEndpoint {
    fn read(value: &mut Value<'_>, what: &str, p: &mut Problems) -> Option<Self> {
        let mut f = Fields::new(value, what.to_string(), Self::FIELDS, p)?;
        let e = MysqlEndpoint {
            host: f.required("host", p)?,
            address: f.optional("address", p),
            port: f.int("port", &limits::PORT, p),
            socket: f.optional("socket", p),
            user: f.optional("user", p),
            password: f.optional("password", p),
            container: f.optional("container", p),
        };
        if e.container.is_some() {
            let owner = f.owner();
            let why = "the server's address is the container's (its published port, else its own address)";
            in_container::refuse(owner, "address", &e.address, why, p);
            let why = "a socket inside the container is out of the agent's reach on the host";
            in_container::refuse(owner, "socket", &e.socket, why, p);
        }
        f.finish(p);
        Some(e)
    }
}

/// Reads `databases`: at least one name, none twice, each a plain name.
pub(crate) fn read_databases(f: &mut Fields<'_>, p: &mut Problems) -> Option<Vec<Spanned<String>>> {
    let span = f.value_span("databases").unwrap_or(f.span());
    let owner = f.owner().to_string();
    let dbs: Vec<Spanned<String>> = f.required("databases", p)?;
    if dbs.is_empty() {
        p.push(
            Problem::new(
                span,
                format!("`databases` of {owner} is empty"),
                "no database",
            )
            .help("name the databases to move, e.g. `databases = [\"shop\"]`"),
        );
        return None;
    }
    let mut ok = true;
    for (i, d) in dbs.iter().enumerate() {
        let n = &d.value;
        if n.is_empty() || n.len() > 64 || n.contains(['/', '\\', '.', '\0']) {
            p.push(
                Problem::new(
                    d.span,
                    format!("`{n}` in {owner} is not a database name"),
                    "invalid name",
                )
                .help("use 1 to 64 characters without `/`, `\\`, `.`"),
            );
            ok = false;
        } else if dbs[..i].iter().any(|x| x.value == *n) {
            p.push(
                Problem::new(
                    d.span,
                    format!("database `{n}` is named twice in {owner}"),
                    "named again",
                )
                .help("name each database once"),
            );
            ok = false;
        }
    }
    ok.then_some(dbs)
}

/// Checks that `field` names an earlier step of kind `kind` (`mysql.copy`, `mysql.sync`).
pub(crate) fn earlier_step(
    check: &crate::validate::StepCheck<'_>,
    field: &str,
    named: &Spanned<String>,
    kind: Kind,
    p: &mut Problems,
) {
    let (id, plan) = (check.id, check.plan);
    if check.dropped(&named.value) {
        return;
    }
    let position = |name: &str| plan.steps().position(|(_, s)| s.id.value == name);
    let want = kind.name();
    match (
        plan.step(&named.value).map(|s| s.kind.kind()),
        position(&named.value),
        position(&id.value),
    ) {
        (Some(k), Some(a), Some(b)) if k == kind && a < b => {}
        (Some(k), _, _) if k == kind => p.push(
            Problem::new(
                named.span,
                format!(
                    "step `{}` names `{}` in `{field}`, which runs after it",
                    id.value, named.value
                ),
                "not an earlier step",
            )
            .help(format!("move this step below its {want} step")),
        ),
        (Some(other), _, _) => p.push(
            Problem::new(
                named.span,
                format!(
                    "step `{}` is a `{}` step, not `{want}`",
                    named.value,
                    other.name()
                ),
                format!("not a {want} step"),
            )
            .help(format!("name the id of a {want} step in `{field}`")),
        ),
        (None, _, _) => {
            let ids: Vec<&str> = plan
                .steps()
                .filter(|(_, s)| s.kind.kind() == kind)
                .map(|(_, s)| s.id.value.as_str())
                .collect();
            p.push(
                Problem::new(
                    named.span,
                    format!("no step `{}` for `{field}`", named.value),
                    "unknown step",
                )
                .help(if ids.is_empty() {
                    format!("add a {want} step before this one")
                } else {
                    format!("{want} steps: {}", ids.join(", "))
                }),
            )
        }
    }
}
