//! `kind = "redis.switch"`: the switch of a `redis.sync`, under a short write pause.

use super::postgres_switch::HostCommand;
use super::StepKind;
use crate::limits;
use crate::problem::{Problem, Problems};
use crate::read::{Fields, Spanned};
use crate::template::Template;
use std::time::Duration;

/// Switches the servers of a `redis.sync` step: `CLIENT PAUSE ... WRITE` on the source
/// (clients' writes wait, they do not fail), waits until the target has processed the
/// source's replication offset, promotes the target (`REPLICAOF NO ONE`), runs
/// `clients_command` (points the clients at the target), makes the source follow the target
/// (`reverse`), and lifts the pause. The pause window is measured and journaled; the pause
/// carries its own timeout, so a controller killed inside it leaves the source writable.
/// Rollback gives the source its role back with every write made on the target since.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct RedisSwitchStep {
    /// The id of the `redis.sync` step whose servers are switched.
    pub sync: Spanned<String>,
    /// The source follows the target after the switch (default true): it refuses writes
    /// from clients still connected to it (none are lost there) and keeps the writes made on
    /// the target, for a rollback. Across versions it resumes partially from the point of the
    /// switch (an older server cannot load a newer one's full copy).
    pub reverse: Option<bool>,
    /// How the source *server* reaches the target server (default: the target's `address`
    /// unless it is local, else the target host's `address` from `[hosts]`).
    pub target_address: Option<Template>,
    /// Longest wait for the target to catch up inside the pause (default "10s"); past it the
    /// pause is lifted and nothing is switched.
    #[schemars(with = "Option<String>")]
    pub max_wait: Option<Duration>,
    /// A command run inside the pause once the target is the primary, before the source's
    /// writes are let go: point the clients at the target (a proxy, a config reload) and
    /// wait until they moved. It may run twice when a switch is resumed after a crash.
    pub clients_command: Option<HostCommand>,
    /// The longest `clients_command` may take (default "30s"); the pause's own timeout
    /// covers it.
    #[schemars(with = "Option<String>")]
    pub clients_timeout: Option<Duration>,
}

impl RedisSwitchStep {
    /// The fields a `redis.switch` step accepts.
    pub const FIELDS: &'static [&'static str] = &[
        "id",
        "kind",
        "description",
        "sync",
        "reverse",
        "target_address",
        "max_wait",
        "clients_command",
        "clients_timeout",
    ];

    pub(crate) fn read(f: &mut Fields<'_>, p: &mut Problems) -> Option<Self> {
        Some(RedisSwitchStep {
            sync: f.required("sync", p)?,
            reverse: f.optional("reverse", p),
            target_address: f.optional("target_address", p),
            max_wait: f.duration("max_wait", &limits::STEP_TIMEOUT, p),
            clients_command: f.optional("clients_command", p),
            clients_timeout: f.duration("clients_timeout", &limits::STEP_TIMEOUT, p),
        })
    }

    /// `reverse` with its default.
    pub fn reverse(&self) -> bool {
        self.reverse.unwrap_or(true)
    }

    /// `max_wait` with its default.
    pub fn max_wait(&self) -> Duration {
        self.max_wait.unwrap_or(Duration::from_secs(10))
    }
}

impl crate::steps::kind::Validate for RedisSwitchStep {
    fn validate(&self, check: &crate::validate::StepCheck<'_>, p: &mut Problems) {
        let id = check.id;
        let plan = check.plan;
        let position = |name: &str| plan.steps().position(|(_, s)| s.id.value == name);
        let found = plan.step(&self.sync.value).map(|s| &s.kind);
        let problem = match (found, position(&self.sync.value), position(&id.value)) {
            (Some(StepKind::RedisSync(_)), Some(a), Some(b)) if a < b => None,
            (Some(StepKind::RedisSync(_)), _, _) => Some((
                format!(
                    "step `{}` switches `{}`, which runs after it",
                    id.value, self.sync.value
                ),
                "not an earlier step",
                "move the switch below its redis.sync step".to_string(),
            )),
            (Some(other), _, _) => Some((
                format!(
                    "step `{}` is a `{}` step, not `redis.sync`",
                    self.sync.value,
                    other.name()
                ),
                "not a redis.sync step",
                "name the id of the redis.sync step whose servers are switched".to_string(),
            )),
            (None, _, _) => {
                let syncs: Vec<&str> = plan
                    .steps()
                    .filter(|(_, s)| matches!(s.kind, StepKind::RedisSync(_)))
                    .map(|(_, s)| s.id.value.as_str())
                    .collect();
                Some((
                    format!("no step `{}` to switch", self.sync.value),
                    "unknown step",
                    if syncs.is_empty() {
                        "add a redis.sync step before this one".to_string()
                    } else {
                        format!("redis.sync steps: {}", syncs.join(", "))
                    },
                ))
            }
        };
        if let Some((message, label, help)) = problem {
            p.push(Problem::new(self.sync.span, message, label).help(help));
        }
        if let Some(c) = &self.clients_command {
            check.host(&c.host, p);
            check.command("command", &c.command, p);
        }
        if let Some(a) = &self.target_address {
            check.command("target_address", a, p);
        }
    }
}
