//! `kind = "redis.sync"`: the target kept in sync with the source by the servers' own
//! replication until a `redis.switch` step.

use super::redis_endpoint::RedisEndpoint;
use crate::limits;
use crate::problem::Problems;
use crate::read::Fields;
use crate::template::Template;
use std::time::Duration;

/// Makes the target a replica of the source (`REPLICAOF`, with the source's credentials set
/// through `CONFIG SET masteruser/masterauth`), watches the full sync (bytes, keys) and then
/// the offset lag until it is under `max_lag_kb`. Checked first, before anything changes:
/// versions and RDB formats (the target must load what the source sends), a source that is
/// itself a replica, replication already set up on the target, keys on the target (refused
/// unless `replace`), commands renamed or disabled (`CONFIG`, `REPLICAOF`, `CLIENT`, `PSYNC`,
/// `FLUSHALL`), `maxmemory` on the target against the source's used memory, the number of
/// databases; differing eviction policies and persistence are reported. A dropped link is
/// retried by the target, with a partial resync where the backlog allows. Rollback
/// (before the switch) returns the target to its previous role and removes the copied keys.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct RedisSyncStep {
    /// The server replicated from.
    pub source: Box<RedisEndpoint>,
    /// The server replicated to (its keys are replaced).
    pub target: Box<RedisEndpoint>,
    /// How the target *server* reaches the source server (default: the source's `address`
    /// unless it is local, else the source host's `address` from `[hosts]`).
    pub source_address: Option<Template>,
    /// Let the sync replace the keys the target holds (default false: a target holding keys
    /// is refused).
    #[serde(default)]
    pub replace: bool,
    /// The step finishes once the target is less than this many KB behind (default 1024).
    pub max_lag_kb: Option<u64>,
    /// Once in sync, keep reporting the lag for this long (e.g. "30s"; default 0).
    #[schemars(with = "Option<String>")]
    pub watch: Option<Duration>,
    /// Give up on the full sync after this long (default 24h).
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Duration>,
    /// Give up when the sync makes no headway (link down, a full sync failing over and over)
    /// for this long (default "60s").
    #[schemars(with = "Option<String>")]
    pub link_timeout: Option<Duration>,
}

impl RedisSyncStep {
    /// The fields a `redis.sync` step accepts.
    pub const FIELDS: &'static [&'static str] = &[
        "id",
        "kind",
        "description",
        "source",
        "target",
        "source_address",
        "replace",
        "max_lag_kb",
        "watch",
        "timeout",
        "link_timeout",
    ];

    pub(crate) fn read(f: &mut Fields<'_>, p: &mut Problems) -> Option<Self> {
        Some(RedisSyncStep {
            source: Box::new(f.required("source", p)?),
            target: Box::new(f.required("target", p)?),
            source_address: f.optional("source_address", p),
            replace: f.optional("replace", p).unwrap_or(false),
            max_lag_kb: f.int("max_lag_kb", &limits::LAG_KB, p),
            watch: f.duration("watch", &limits::WAIT, p),
            timeout: f.duration("timeout", &limits::STEP_TIMEOUT, p),
            link_timeout: f.duration("link_timeout", &limits::STEP_TIMEOUT, p),
        })
    }
}

impl crate::steps::kind::Validate for RedisSyncStep {
    fn validate(&self, check: &crate::validate::StepCheck<'_>, p: &mut Problems) {
        self.source.validate(check, p);
        self.target.validate(check, p);
        if let Some(a) = &self.source_address {
            check.command("source_address", a, p);
        }
    }
}
