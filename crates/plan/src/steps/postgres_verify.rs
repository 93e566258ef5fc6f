//! `kind = "postgres.verify"`: the proof that the target database holds what the source
//! holds, computed on each server; a difference stops the run before any traffic moves.

use super::pg_endpoint::PgEndpoint;
use crate::limits;
use crate::problem::Problems;
use crate::read::{Fields, Spanned};

/// Compares `source` and `target`: per table the row count and an order-independent content
/// checksum (computed by each server, only the results travel), sequences' next values,
/// and the schema objects with their definitions (view queries, function bodies and
/// attributes, triggers, constraints, indexes, column defaults and generated expressions,
/// identity, collations, domains, policies, rules, enum labels, extensions, comments),
/// normalized where major versions print them differently. Any difference is named (schema, object,
/// kind) and fails the step with exit code 9; the journal keeps the table of counts and
/// checksums of both sides.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct PostgresVerifyStep {
    /// The database copied from.
    pub source: Box<PgEndpoint>,
    /// The database copied to.
    pub target: Box<PgEndpoint>,
    /// Parallel sessions per server (default 4); large tables are split across them.
    pub jobs: Option<Spanned<u32>>,
    /// Read all of a server's tables at one instant (one exported snapshot shared by the
    /// sessions; default true).
    pub consistent: Option<bool>,
    /// Compare owners and privileges (grants) too (default false: copies are often made
    /// with `no_owner`/`no_privileges` on purpose).
    pub privileges: Option<bool>,
}

impl PostgresVerifyStep {
    /// The fields a `postgres.verify` step accepts.
    pub const FIELDS: &'static [&'static str] = &[
        "id",
        "kind",
        "description",
        "source",
        "target",
        "jobs",
        "consistent",
        "privileges",
    ];

    pub(crate) fn read(f: &mut Fields<'_>, p: &mut Problems) -> Option<Self> {
        let step = PostgresVerifyStep {
            source: Box::new(f.required("source", p)?),
            target: Box::new(f.required("target", p)?),
            jobs: f.spanned_int("jobs", &limits::JOBS, p),
            consistent: f.optional("consistent", p),
            privileges: f.optional("privileges", p),
        };
        Some(step)
    }
}

impl crate::steps::kind::Validate for PostgresVerifyStep {
    fn validate(&self, check: &crate::validate::StepCheck<'_>, p: &mut Problems) {
        self.source.validate(check, p);
        self.target.validate(check, p);
    }
}
