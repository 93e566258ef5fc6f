//! `kind = "mysql.copy"`: MariaDB/MySQL databases copied to another server from one
//! consistent snapshot, host to host, with no temporary file anywhere.

use super::mysql_endpoint::{read_databases, MysqlEndpoint};
use crate::limits;
use crate::problem::Problems;
use crate::read::{Fields, Spanned};
use crate::template::Template;
use std::time::Duration;

/// Copies `databases` from `source` to `target` (databases missing or empty there): one
/// consistent snapshot of the source shared by `workers` sessions (commits held for a moment
/// while they open and the binary-log position is recorded), tables split into primary-key
/// ranges and streamed by cutover's agents straight from the source's host to the target's,
/// loaded with `LOAD DATA LOCAL` fed from memory, each table's secondary keys built once its
/// rows are in, then foreign keys, views, routines, triggers, events and (with `users`)
/// accounts and their grants. Each table loaded is journaled: an interrupted copy resumes
/// with the tables not yet loaded (from a new snapshot; a `mysql.sync` then replays the
/// difference). Rollback drops the databases the copy created.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct MysqlCopyStep {
    /// The server copied from.
    pub source: Box<MysqlEndpoint>,
    /// The server copied to (`local_infile` on).
    pub target: Box<MysqlEndpoint>,
    /// The databases to copy (same names on the target).
    pub databases: Vec<Spanned<String>>,
    /// Parallel workers: snapshot sessions on the source, loaders on the target (default 4).
    pub workers: Option<Spanned<u32>>,
    /// Tables are split into primary-key ranges of about this many MB (default 64).
    pub chunk_mb: Option<u64>,
    /// Copy accounts (other than the server's own) and their grants on these databases
    /// (default false).
    #[serde(default)]
    pub users: bool,
    /// How the source host reaches the target host's agent (default: the target host's
    /// `address`, else the host name its SSH configuration resolves to).
    pub address: Option<Template>,
    /// The port the target's agent listens on for the rows (default: any free port).
    pub port: Option<u16>,
    /// Longest wait to hold the source's commits for the snapshot (default "30s").
    #[schemars(with = "Option<String>")]
    pub lock_timeout: Option<Duration>,
    /// Give up after this long (default 24h).
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Duration>,
}

impl MysqlCopyStep {
    /// The fields a `mysql.copy` step accepts.
    pub const FIELDS: &'static [&'static str] = &[
        "id",
        "kind",
        "description",
        "source",
        "target",
        "databases",
        "workers",
        "chunk_mb",
        "users",
        "address",
        "port",
        "lock_timeout",
        "timeout",
    ];

    pub(crate) fn read(f: &mut Fields<'_>, p: &mut Problems) -> Option<Self> {
        Some(MysqlCopyStep {
            source: Box::new(f.required("source", p)?),
            target: Box::new(f.required("target", p)?),
            databases: read_databases(f, p)?,
            workers: f.spanned_int("workers", &limits::WORKERS, p),
            chunk_mb: f.int("chunk_mb", &limits::CHUNK_MB, p),
            users: f.optional("users", p).unwrap_or(false),
            address: f.optional("address", p),
            port: f.int("port", &limits::PORT, p),
            lock_timeout: f.duration("lock_timeout", &limits::REQUEST_TIMEOUT, p),
            timeout: f.duration("timeout", &limits::STEP_TIMEOUT, p),
        })
    }
}

impl crate::steps::kind::Validate for MysqlCopyStep {
    fn validate(&self, check: &crate::validate::StepCheck<'_>, p: &mut Problems) {
        self.source.validate(check, p);
        self.target.validate(check, p);
        check.optional_command("address", self.address.as_ref(), p);
    }
}
