//! `kind = "postgres.copy"`: a database copied to another server of the same or a newer
//! major version, streamed host to host with no temporary file anywhere.

use super::pg_endpoint::PgEndpoint;
use crate::limits;
use crate::problem::Problems;
use crate::read::{Fields, Spanned};

/// Copies `source` into `target` (created if missing; it must be new or empty): the
/// schema first, then parallel per-table COPY streams that all read one snapshot of the
/// source (large tables split into page ranges), each table's indexes and keys built as soon
/// as its rows are in while other tables still stream, sequences, the remaining objects
/// (foreign keys, refreshed materialized views, triggers, comments), then `ANALYZE`. The
/// client tools of the target's major version are used (checked first, with the roles and
/// extensions the target needs). Progress (rows and bytes per table) is shown and journaled.
/// Applying again does nothing once the copy finished; rollback drops the target database
/// when the copy created it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct PostgresCopyStep {
    /// The database to copy.
    pub source: Box<PgEndpoint>,
    /// Where to copy it (the database is created when missing).
    pub target: Box<PgEndpoint>,
    /// Parallel sessions: COPY streams and index builds at once (default 4).
    pub jobs: Option<Spanned<u32>>,
    /// Objects are owned by the target's connecting role instead of their source owners
    /// (`pg_dump --no-owner`); otherwise every owner must exist on the target (default false).
    #[serde(default)]
    pub no_owner: bool,
    /// Leave privileges (GRANTs) out (`pg_dump --no-privileges`; default false).
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
    /// Tables larger than this many MB are split into page ranges copied in parallel
    /// (default 4096; 0 never splits; sources on PostgreSQL 14+). Split parts load in parallel
    /// but without `COPY FREEZE`: worth it for tables much larger than the others.
    pub split_mb: Option<u64>,
    /// `ANALYZE` each table once built (default true).
    pub analyze: Option<bool>,
    /// `maintenance_work_mem` for index builds (default "256MB").
    pub maintenance_work_mem: Option<String>,
}

impl PostgresCopyStep {
    /// The fields a `postgres.copy` step accepts.
    pub const FIELDS: &'static [&'static str] = &[
        "id",
        "kind",
        "description",
        "source",
        "target",
        "jobs",
        "no_owner",
        "no_privileges",
        "roles",
        "role_passwords",
        "split_mb",
        "analyze",
        "maintenance_work_mem",
    ];

    pub(crate) fn read(f: &mut Fields<'_>, p: &mut Problems) -> Option<Self> {
        let mut step = PostgresCopyStep {
            source: Box::new(f.required("source", p)?),
            target: Box::new(f.required("target", p)?),
            jobs: f.spanned_int("jobs", &limits::JOBS, p),
            no_owner: f.optional("no_owner", p).unwrap_or(false),
            no_privileges: f.optional("no_privileges", p).unwrap_or(false),
            roles: f.optional("roles", p).unwrap_or(false),
            role_passwords: Default::default(),
            split_mb: f.int("split_mb", &limits::SPLIT_MB, p),
            analyze: f.optional("analyze", p),
            maintenance_work_mem: f.optional("maintenance_work_mem", p),
        };
        step.role_passwords = super::role_passwords::read(f, step.roles, p);
        Some(step)
    }
}

impl crate::steps::kind::Validate for PostgresCopyStep {
    fn validate(&self, check: &crate::validate::StepCheck<'_>, p: &mut Problems) {
        self.source.validate(check, p);
        self.target.validate(check, p);
        check.env(&self.role_passwords, p);
    }
}
