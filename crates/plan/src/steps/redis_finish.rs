//! `kind = "redis.finish"`: the end of a Redis switch's way back. Once the soak has passed,
//! the source stops following the target (the reverse replication a `redis.switch` left
//! running for a rollback ends); the source refuses writes or takes them as the plan says.

use super::mysql_endpoint::earlier_step;
use super::postgres_finish::SourceAfter;
use crate::problem::{Problem, Problems};
use crate::read::{Fields, Spanned};
use crate::steps::{Kind, StepKind};

/// Ends what the `redis.switch` step `switch` left running: the source server stops
/// following the target (`REPLICAOF NO ONE`), and the credentials the switch gave it for
/// the reverse replication (`masterauth`) and those the sync gave the target are cleared
/// when they were not set before. The source is left refusing writes (`source =
/// "read-only"`, the default: `min-replicas-to-write` set beyond any replica count, so every
/// write gets `NOREPLICAS`; set before the source stops being a replica, so it never takes a
/// write in between) or takes writes again (`source = "writable"`). Both are runtime
/// settings, like every one cutover makes: a restart of the source's server reads its
/// config file. Applying again changes nothing. Afterwards a rollback of the switch is
/// refused: with the reverse replication gone, writes made on the target can no longer go
/// back.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct RedisFinishStep {
    /// The id of the `redis.switch` step whose reverse replication ends.
    pub switch: Spanned<String>,
    /// What the source server becomes: "read-only" (default) or "writable".
    pub source: Option<Spanned<SourceAfter>>,
}

impl RedisFinishStep {
    /// The fields a `redis.finish` step accepts.
    pub const FIELDS: &'static [&'static str] = &["id", "kind", "description", "switch", "source"];

    /// True when the source takes writes again.
    pub fn writable(&self) -> bool {
        self.source
            .as_ref()
            .is_some_and(|s| s.value == SourceAfter::Writable)
    }

    pub(crate) fn read(f: &mut Fields<'_>, p: &mut Problems) -> Option<Self> {
        Some(RedisFinishStep {
            switch: f.required("switch", p)?,
            source: f.optional("source", p),
        })
    }
}

impl crate::steps::kind::Validate for RedisFinishStep {
    fn validate(&self, check: &crate::validate::StepCheck<'_>, p: &mut Problems) {
        earlier_step(check, "switch", &self.switch, Kind::RedisSwitch, p);
        if let Some(StepKind::RedisSwitch(s)) = check.plan.step(&self.switch.value).map(|s| &s.kind)
        {
            if !s.reverse() {
                p.push(no_reverse(check, &self.switch, "reverse = true"));
            }
        }
    }
}

/// The problem of a finish naming a switch that keeps no reverse replication.
pub(crate) fn no_reverse(
    check: &crate::validate::StepCheck<'_>,
    switch: &Spanned<String>,
    setting: &str,
) -> Problem {
    Problem::new(
        switch.span,
        format!(
            "step `{}` finishes `{}`, which keeps no reverse replication to end",
            check.id.value, switch.value
        ),
        "no reverse replication",
    )
    .help(format!(
        "set `{setting}` on the switch, or remove this step (a switch without reverse replication leaves nothing running)"
    ))
}
