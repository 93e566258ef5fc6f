//! `kind = "postgres.switch"`: the moment the target becomes the primary: writes frozen on
//! the source, the target's catch-up waited for, sequences advanced, the subscription
//! dropped; the freeze window is measured and journaled.

use crate::limits;
use crate::problem::{Problem, Problems};
use crate::read::{Fields, FromToml, Spanned};
use crate::steps::StepKind;
use crate::template::Template;
use std::time::Duration;
use toml_span::value::Value;

/// A command on one host: `{ host = "old", command = "..." }`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct HostCommand {
    /// The host (a name from `[hosts]`).
    pub host: Spanned<String>,
    /// Shell command (no secrets: they would show in `ps`).
    pub command: Template,
}

impl FromToml for HostCommand {
    fn read(value: &mut Value<'_>, what: &str, p: &mut Problems) -> Option<Self> {
        let mut f = Fields::new(value, what.to_string(), &["host", "command"], p)?;
        let c = HostCommand {
            host: f.required("host", p)?,
            command: f.required("command", p)?,
        };
        f.finish(p);
        Some(c)
    }
}

/// Switches the database of a `postgres.sync` step: freezes writes on the source (`freeze =
/// "read-only"`: the database's default transactions become read-only and its client
/// sessions are ended, so applications reconnect read-only; or `freeze = "command"`: the
/// plan's `freeze_command`), waits until the target has replayed the source's WAL position
/// at the freeze, advances every sequence on the target to the source's value, drops the
/// subscription, runs `unfreeze_command` (the freeze lifted on the target side). The freeze
/// window is measured and journaled. Rollback after the switch carries the writes made on
/// the target back to the source when `reverse` kept a reverse subscription, advances the
/// source's sequences and lifts the source's freeze.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct PostgresSwitchStep {
    /// The id of the `postgres.sync` step whose databases are switched.
    pub sync: Spanned<String>,
    /// How writes are frozen on the source: "read-only" (default) or "command".
    pub freeze: Option<Spanned<FreezeMode>>,
    /// With `freeze = "command"`: the command that stops the writes (maintenance mode,
    /// a paused proxy).
    pub freeze_command: Option<HostCommand>,
    /// A command run once the target takes writes (e.g. the application pointed at it).
    pub unfreeze_command: Option<HostCommand>,
    /// Keep a reverse subscription so that writes made on the target flow back to the
    /// source until the run finishes (for a rollback after the switch; default false). The
    /// source's role used by cutover stays writable for it: applications must use another.
    #[serde(default)]
    pub reverse: bool,
    /// With `reverse`: how the source *server* reaches the target server (default: the
    /// target's `address` unless it is local, else the target host's `address`).
    pub reverse_address: Option<Template>,
    /// Longest wait for the target to replay the source's last write (default "30s"); when
    /// exceeded the freeze is lifted and nothing is switched.
    #[schemars(with = "Option<String>")]
    pub max_wait: Option<Duration>,
}

crate::named::named_enum! {
    /// How a `postgres.switch` freezes writes on the source.
    pub enum FreezeMode {
        /// The database's default transactions become read-only and its sessions end.
        ReadOnly = "read-only",
        /// The plan's `freeze_command` (maintenance mode, a paused proxy).
        Command = "command",
    }
}

impl PostgresSwitchStep {
    /// The fields a `postgres.switch` step accepts.
    pub const FIELDS: &'static [&'static str] = &[
        "id",
        "kind",
        "description",
        "sync",
        "freeze",
        "freeze_command",
        "unfreeze_command",
        "reverse",
        "reverse_address",
        "max_wait",
    ];

    /// True when writes are frozen by the plan's command.
    pub fn by_command(&self) -> bool {
        self.freeze
            .as_ref()
            .is_some_and(|f| f.value == FreezeMode::Command)
    }

    pub(crate) fn read(f: &mut Fields<'_>, p: &mut Problems) -> Option<Self> {
        let span = f.span();
        let step = PostgresSwitchStep {
            sync: f.required("sync", p)?,
            freeze: f.optional("freeze", p),
            freeze_command: f.optional("freeze_command", p),
            unfreeze_command: f.optional("unfreeze_command", p),
            reverse: f.optional("reverse", p).unwrap_or(false),
            reverse_address: f.optional("reverse_address", p),
            max_wait: f.duration("max_wait", &limits::STEP_TIMEOUT, p),
        };
        let owner = f.owner().to_string();
        if step.by_command() != step.freeze_command.is_some() {
            let (message, help) = if step.by_command() {
                (
                    "`freeze = \"command\"` needs `freeze_command`",
                    "add `freeze_command = { host = \"old\", command = \"...\" }`",
                )
            } else {
                (
                    "`freeze_command` is only used with `freeze = \"command\"`",
                    "add `freeze = \"command\"`, or remove `freeze_command`",
                )
            };
            p.push(Problem::new(span, format!("{message} in {owner}"), "freeze").help(help));
            return None;
        }
        Some(step)
    }
}

impl crate::steps::kind::Validate for PostgresSwitchStep {
    fn validate(&self, check: &crate::validate::StepCheck<'_>, p: &mut Problems) {
        let id = check.id;
        let plan = check.plan;
        let position = |name: &str| plan.steps().position(|(_, s)| s.id.value == name);
        match (
            plan.step(&self.sync.value).map(|s| &s.kind),
            position(&self.sync.value),
            position(&id.value),
        ) {
            (Some(StepKind::PostgresSync(_)), Some(a), Some(b)) if a < b => {}
            (Some(StepKind::PostgresSync(_)), _, _) => p.push(
                Problem::new(
                    self.sync.span,
                    format!(
                        "step `{}` switches `{}`, which runs after it",
                        id.value, self.sync.value
                    ),
                    "not an earlier step",
                )
                .help("move the switch below its postgres.sync step"),
            ),
            (Some(other), _, _) => p.push(
                Problem::new(
                    self.sync.span,
                    format!(
                        "step `{}` is a `{}` step, not `postgres.sync`",
                        self.sync.value,
                        other.name()
                    ),
                    "not a postgres.sync step",
                )
                .help("name the id of the postgres.sync step whose databases are switched"),
            ),
            (None, _, _) => {
                let syncs: Vec<&str> = plan
                    .steps()
                    .filter(|(_, s)| matches!(s.kind, StepKind::PostgresSync(_)))
                    .map(|(_, s)| s.id.value.as_str())
                    .collect();
                p.push(
                    Problem::new(
                        self.sync.span,
                        format!("no step `{}` to switch", self.sync.value),
                        "unknown step",
                    )
                    .help(if syncs.is_empty() {
                        "add a postgres.sync step before this one".to_string()
                    } else {
                        format!("postgres.sync steps: {}", syncs.join(", "))
                    }),
                )
            }
        }
        for c in [&self.freeze_command, &self.unfreeze_command]
            .into_iter()
            .flatten()
        {
            check.host(&c.host, p);
            check.command("command", &c.command, p);
        }
        if let Some(a) = &self.reverse_address {
            check.command("reverse_address", a, p);
        }
    }
}
