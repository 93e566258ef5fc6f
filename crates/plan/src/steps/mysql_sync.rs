//! `kind = "mysql.sync"`: the target of a `mysql.copy` kept in sync with the source by the
//! servers' own replication until a `mysql.switch`.

use super::mysql_endpoint::earlier_step;
use crate::limits;
use crate::problem::Problems;
use crate::read::{Fields, Spanned};
use crate::steps::Kind;
use crate::template::Template;
use std::time::Duration;

/// Makes the target of the `copy` step replicate from its source, starting at the copy's
/// snapshot position (its GTID on MariaDB), only the copied databases, the target kept
/// read-only meanwhile; then reports the lag (seconds and transactions) until the target is
/// at most `max_behind` transactions behind. Checked first: the source's binary log on in
/// ROW format, distinct `server_id`s, every table with a primary key (or
/// `allow_no_primary_key`), the replication account logging in to the source from the
/// target's host with `REPLICATION SLAVE`. Rollback (before the switch) stops and removes
/// the replication and puts the target's settings back.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct MysqlSyncStep {
    /// The id of the `mysql.copy` step whose target replicates from its source.
    pub copy: Spanned<String>,
    /// How the target's *server* reaches the source's (default: the source's `address`
    /// unless it is local, else the source host's `address`).
    pub source_address: Option<Template>,
    /// The source's port as the target's server reaches it (default: the source's `port`).
    pub source_port: Option<u16>,
    /// The replication account on the source (default "repl"), with `REPLICATION SLAVE`.
    pub replication_user: Option<Template>,
    /// Its password, normally `{{ secrets.NAME }}` (it is stored by the target server in
    /// its replication settings, as MariaDB and MySQL do).
    pub replication_password: Option<Template>,
    /// Replicate tables without a primary key anyway (each change made to one then scans it
    /// on the target; default false: refused with their names).
    #[serde(default)]
    pub allow_no_primary_key: bool,
    /// The step is done once the target is at most this many transactions behind (default
    /// 100).
    pub max_behind: Option<u64>,
    /// Once caught up, keep reporting the lag for this long (e.g. "30s"; default 0).
    #[schemars(with = "Option<String>")]
    pub watch: Option<Duration>,
    /// Give up waiting to catch up after this long (default 24h).
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Duration>,
}

impl MysqlSyncStep {
    /// The fields a `mysql.sync` step accepts.
    pub const FIELDS: &'static [&'static str] = &[
        "id",
        "kind",
        "description",
        "copy",
        "source_address",
        "source_port",
        "replication_user",
        "replication_password",
        "allow_no_primary_key",
        "max_behind",
        "watch",
        "timeout",
    ];

    pub(crate) fn read(f: &mut Fields<'_>, p: &mut Problems) -> Option<Self> {
        Some(MysqlSyncStep {
            copy: f.required("copy", p)?,
            source_address: f.optional("source_address", p),
            source_port: f.int("source_port", &limits::PORT, p),
            replication_user: f.optional("replication_user", p),
            replication_password: f.optional("replication_password", p),
            allow_no_primary_key: f.optional("allow_no_primary_key", p).unwrap_or(false),
            max_behind: f.int("max_behind", &limits::BEHIND, p),
            watch: f.duration("watch", &limits::WAIT, p),
            timeout: f.duration("timeout", &limits::STEP_TIMEOUT, p),
        })
    }
}

impl crate::steps::kind::Validate for MysqlSyncStep {
    fn validate(&self, check: &crate::validate::StepCheck<'_>, p: &mut Problems) {
        earlier_step(check, "copy", &self.copy, Kind::MysqlCopy, p);
        check.optional_command("source_address", self.source_address.as_ref(), p);
        check.optional_command("replication_user", self.replication_user.as_ref(), p);
        if let Some(pw) = &self.replication_password {
            check.references(pw, p);
        }
    }
}
