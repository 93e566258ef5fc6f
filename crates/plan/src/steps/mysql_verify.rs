//! `kind = "mysql.verify"`: the proof that the target's databases hold what the source's
//! hold, computed next to each server; a difference stops the run before traffic moves.

use super::mysql_endpoint::{read_databases, MysqlEndpoint};
use crate::limits;
use crate::problem::Problems;
use crate::read::{Fields, Spanned};

/// Compares `databases` on `source` and `target`: per table the row count and a digest of
/// every row (hashed by cutover's agent next to each server, in primary-key ranges read in
/// parallel; only one line per range travels), narrowed to the rows where a range differs
/// (named by primary key: differs, missing on target, only on target); the definitions of
/// tables, views, routines, triggers and events; auto-increment counters behind the
/// source's. Any difference fails the step with exit code 9; the journal keeps both sides'
/// figures. Run it when the source takes no writes (after a `mysql.switch`, or with the
/// application stopped).
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct MysqlVerifyStep {
    /// The server copied from.
    pub source: Box<MysqlEndpoint>,
    /// The server copied to.
    pub target: Box<MysqlEndpoint>,
    /// The databases to compare.
    pub databases: Vec<Spanned<String>>,
    /// Parallel sessions per server (default 4).
    pub workers: Option<Spanned<u32>>,
}

impl MysqlVerifyStep {
    /// The fields a `mysql.verify` step accepts.
    pub const FIELDS: &'static [&'static str] = &[
        "id",
        "kind",
        "description",
        "source",
        "target",
        "databases",
        "workers",
    ];

    pub(crate) fn read(f: &mut Fields<'_>, p: &mut Problems) -> Option<Self> {
        Some(MysqlVerifyStep {
            source: Box::new(f.required("source", p)?),
            target: Box::new(f.required("target", p)?),
            databases: read_databases(f, p)?,
            workers: f.spanned_int("workers", &limits::WORKERS, p),
        })
    }
}

impl crate::steps::kind::Validate for MysqlVerifyStep {
    fn validate(&self, check: &crate::validate::StepCheck<'_>, p: &mut Problems) {
        self.source.validate(check, p);
        self.target.validate(check, p);
    }
}
