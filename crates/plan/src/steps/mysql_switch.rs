//! `kind = "mysql.switch"`: the moment the target of a `mysql.sync` becomes the primary:
//! writes frozen on the source, the target's catch-up waited for, replication stopped, the
//! target made writable; the freeze window is measured and journaled.

use super::mysql_endpoint::earlier_step;
use super::postgres_switch::{FreezeMode, HostCommand};
use crate::limits;
use crate::problem::{Problem, Problems};
use crate::read::{Fields, Spanned};
use crate::steps::Kind;
use crate::template::Template;
use std::time::Duration;

crate::named::named_enum! {
    /// What a `mysql.switch` does with the source's client sessions at the freeze.
    pub enum SessionsMode {
        /// Ended (`KILL CONNECTION`): no transaction stays open across the switch, and
        /// clients reconnect.
        Kill = "kill",
        /// Left connected (their writes fail while the source is read-only).
        Keep = "keep",
    }
}

/// Switches the servers of a `mysql.sync` step: freezes writes on the source (`freeze =
/// "read-only"`: `read_only = 1`, `super_read_only` on MySQL; or the plan's
/// `freeze_command`, then read-only too), ends its client sessions (`sessions = "kill"`,
/// the default), waits until the target has applied the source's last GTID
/// (`MASTER_GTID_WAIT`), stops and removes replication, advances the auto-increment
/// counters the target has behind, enables the events the copy created disabled, makes the
/// target writable and runs `unfreeze_command`. The freeze window (freeze to the target
/// taking writes) is journaled. With `reverse`, the source then replicates from the target,
/// so that a rollback after the switch carries back what was written on the target before
/// the source takes writes again.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct MysqlSwitchStep {
    /// The id of the `mysql.sync` step whose servers are switched.
    pub sync: Spanned<String>,
    /// How writes are frozen on the source: "read-only" (default) or "command".
    pub freeze: Option<Spanned<FreezeMode>>,
    /// With `freeze = "command"`: the command that stops the writes (maintenance mode).
    pub freeze_command: Option<HostCommand>,
    /// A command run once the target takes writes (e.g. the application pointed at it).
    pub unfreeze_command: Option<HostCommand>,
    /// The source's client sessions at the freeze: "kill" (default) or "keep". Accounts with
    /// `READ_ONLY ADMIN` (MariaDB) or `SUPER` (MySQL) can write through `read_only`: the
    /// application must not use one.
    pub sessions: Option<Spanned<SessionsMode>>,
    /// Keep the source replicating from the target after the switch, for a rollback that
    /// loses nothing (default false; the target needs its binary log on).
    #[serde(default)]
    pub reverse: bool,
    /// With `reverse`: how the source's *server* reaches the target's (default: the
    /// target's `address` unless it is local, else the target host's `address`).
    pub reverse_address: Option<Template>,
    /// Longest wait for the target to apply the source's last write (default "30s"); when
    /// exceeded the freeze is lifted and nothing is switched.
    #[schemars(with = "Option<String>")]
    pub max_wait: Option<Duration>,
}

impl MysqlSwitchStep {
    /// The fields a `mysql.switch` step accepts.
    pub const FIELDS: &'static [&'static str] = &[
        "id",
        "kind",
        "description",
        "sync",
        "freeze",
        "freeze_command",
        "unfreeze_command",
        "sessions",
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
        let step = MysqlSwitchStep {
            sync: f.required("sync", p)?,
            freeze: f.optional("freeze", p),
            freeze_command: f.optional("freeze_command", p),
            unfreeze_command: f.optional("unfreeze_command", p),
            sessions: f.optional("sessions", p),
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

impl crate::steps::kind::Validate for MysqlSwitchStep {
    fn validate(&self, check: &crate::validate::StepCheck<'_>, p: &mut Problems) {
        earlier_step(check, "sync", &self.sync, Kind::MysqlSync, p);
        for c in [&self.freeze_command, &self.unfreeze_command]
            .into_iter()
            .flatten()
        {
            check.host(&c.host, p);
            check.command("command", &c.command, p);
        }
        check.optional_command("reverse_address", self.reverse_address.as_ref(), p);
    }
}
