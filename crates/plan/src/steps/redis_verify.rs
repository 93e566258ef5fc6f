//! `kind = "redis.verify"`: the proof that the target holds every key the source holds; a
//! difference stops the run before any traffic moves.

use super::redis_endpoint::RedisEndpoint;
use crate::limits;
use crate::problem::Problems;
use crate::read::Fields;
use std::time::Duration;

/// Compares every key of every database: type, value (read per type, so equal data digests
/// alike across versions and encodings) and TTL within `ttl_tolerance`. Each side's agent
/// digests its keys next to the data, bucket by bucket; only buckets that differ are
/// compared key by key. Every difference is named (database, key, what differs and where
/// inside the value) and fails the step with exit code 9.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct RedisVerifyStep {
    /// The server copied from.
    pub source: Box<RedisEndpoint>,
    /// The server copied to.
    pub target: Box<RedisEndpoint>,
    /// TTLs this close are equal (default "1s").
    #[schemars(with = "Option<String>")]
    pub ttl_tolerance: Option<Duration>,
}

impl RedisVerifyStep {
    /// The fields a `redis.verify` step accepts.
    pub const FIELDS: &'static [&'static str] = &[
        "id",
        "kind",
        "description",
        "source",
        "target",
        "ttl_tolerance",
    ];

    pub(crate) fn read(f: &mut Fields<'_>, p: &mut Problems) -> Option<Self> {
        Some(RedisVerifyStep {
            source: Box::new(f.required("source", p)?),
            target: Box::new(f.required("target", p)?),
            ttl_tolerance: f.duration("ttl_tolerance", &limits::TTL_TOLERANCE, p),
        })
    }
}

impl crate::steps::kind::Validate for RedisVerifyStep {
    fn validate(&self, check: &crate::validate::StepCheck<'_>, p: &mut Problems) {
        self.source.validate(check, p);
        self.target.validate(check, p);
    }
}
