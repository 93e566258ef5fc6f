//! `kind = "postgres.sync"`: the target kept in sync with the source by logical replication
//! until a `postgres.switch` step (near-zero downtime).

use super::pg_endpoint::PgEndpoint;
use crate::limits;
use crate::problem::{Problem, Problems};
use crate::read::{Fields, Spanned};
use crate::template::Template;
use std::time::Duration;

/// Copies the schema to `target` (created if missing; new or empty), publishes every table
/// of `source` and subscribes `target` to it, watches the initial copy of the rows to
/// completion, then reports the lag (bytes and seconds) until it is under `max_lag_mb`.
/// Checked first: `wal_level = logical`, free slots and WAL senders, a role allowed to
/// replicate, no large objects (not replicated), and a replica identity on every table
/// (tables without a primary key are named with the fix). Sequences are not replicated:
/// `postgres.switch` sets them. Rollback (before the switch) drops the subscription, its
/// slot and the publication, leaving the source as it was, and the target database when
/// the step created it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct PostgresSyncStep {
    /// The database replicated from (its server needs `wal_level = logical`).
    pub source: Box<PgEndpoint>,
    /// The database replicated to.
    pub target: Box<PgEndpoint>,
    /// The publication created on the source (default "cutover").
    pub publication: Option<Spanned<String>>,
    /// The subscription created on the target, also the replication slot's name on the
    /// source (default "cutover").
    pub subscription: Option<Spanned<String>>,
    /// How the target *server* reaches the source server, for the subscription's
    /// connection (default: the source's `address` unless it is local, else the source
    /// host's `address` from `[hosts]`).
    pub source_address: Option<Template>,
    /// Give tables without a primary key `REPLICA IDENTITY FULL` on the source (undone by
    /// rollback) instead of refusing to start (default false).
    #[serde(default)]
    pub replica_identity_full: bool,
    /// Objects owned by the target's connecting role (`--no-owner`; default false).
    #[serde(default)]
    pub no_owner: bool,
    /// Leave privileges out (`--no-privileges`; default false).
    #[serde(default)]
    pub no_privileges: bool,
    /// Create the roles that own or are granted the source's objects and that the target
    /// lacks, from the source's definitions (attributes and memberships) without passwords
    /// (default false: their absence is refused before anything starts, naming each).
    /// Roles are server-wide: rollback leaves them.
    #[serde(default)]
    pub roles: bool,
    /// Passwords for the login roles `roles = true` creates, by role name, each from the
    /// plan's secrets (`{ app = "{{ secrets.APP_DB_PW }}" }`). Sent to the target as a
    /// SCRAM-SHA-256 verifier computed by cutover: the password itself never reaches the
    /// server or its logs. Roles that exist already keep theirs.
    #[serde(default)]
    #[schemars(with = "std::collections::BTreeMap<String, String>")]
    pub role_passwords: super::role_passwords::RolePasswords,
    /// The step finishes once the target is less than this many MB behind (default 1).
    pub max_lag_mb: Option<u64>,
    /// Once caught up, keep reporting the lag for this long (e.g. "30s"; default 0).
    #[schemars(with = "Option<String>")]
    pub watch: Option<Duration>,
    /// Give up waiting for the initial copy after this long (default 24h).
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Duration>,
}

impl PostgresSyncStep {
    /// The fields a `postgres.sync` step accepts.
    pub const FIELDS: &'static [&'static str] = &[
        "id",
        "kind",
        "description",
        "source",
        "target",
        "publication",
        "subscription",
        "source_address",
        "replica_identity_full",
        "no_owner",
        "no_privileges",
        "roles",
        "role_passwords",
        "max_lag_mb",
        "watch",
        "timeout",
    ];

    pub(crate) fn read(f: &mut Fields<'_>, p: &mut Problems) -> Option<Self> {
        let mut step = PostgresSyncStep {
            source: Box::new(f.required("source", p)?),
            target: Box::new(f.required("target", p)?),
            publication: f.optional("publication", p),
            subscription: f.optional("subscription", p),
            source_address: f.optional("source_address", p),
            replica_identity_full: f.optional("replica_identity_full", p).unwrap_or(false),
            no_owner: f.optional("no_owner", p).unwrap_or(false),
            no_privileges: f.optional("no_privileges", p).unwrap_or(false),
            roles: f.optional("roles", p).unwrap_or(false),
            role_passwords: Default::default(),
            max_lag_mb: f.int("max_lag_mb", &limits::LAG_MB, p),
            watch: f.duration("watch", &limits::WAIT, p),
            timeout: f.duration("timeout", &limits::STEP_TIMEOUT, p),
        };
        step.role_passwords = super::role_passwords::read(f, step.roles, p);
        let owner = f.owner().to_string();
        let ok = [
            ("publication", &step.publication),
            ("subscription", &step.subscription),
        ]
        .into_iter()
        .all(|(field, v)| v.as_ref().is_none_or(|n| check_name(field, n, &owner, p)));
        ok.then_some(step)
    }
}

/// Publication and subscription names: 1 to 63 lowercase letters, digits or `_`.
fn check_name(field: &str, name: &Spanned<String>, owner: &str, p: &mut Problems) -> bool {
    let n = &name.value;
    let ok = !n.is_empty()
        && n.len() <= 63
        && n.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && n.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !ok {
        p.push(
            Problem::new(
                name.span,
                format!("`{field}` of {owner} is `{n}`, not a plain PostgreSQL name"),
                "invalid name",
            )
            .help("use 1 to 63 lowercase letters, digits or `_`, not starting with a digit"),
        );
    }
    ok
}

impl crate::steps::kind::Validate for PostgresSyncStep {
    fn validate(&self, check: &crate::validate::StepCheck<'_>, p: &mut Problems) {
        self.source.validate(check, p);
        self.target.validate(check, p);
        check.env(&self.role_passwords, p);
        if let Some(a) = &self.source_address {
            check.command("source_address", a, p);
        }
    }
}
