//! `kind = "run"`: a shell command on one or more hosts, with an optional check and undo.

use crate::limits;
use crate::problem::Problem;
use crate::problem::Problems;
use crate::read::{Fields, Spanned};
use crate::steps::kind::Validate;
use crate::template::{read_env, Template};
use crate::validate::StepCheck;
use std::collections::BTreeMap;
use std::time::Duration;

/// Runs `command` with `sh -c` on every host in `hosts`, in parallel.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct RunStep {
    /// Hosts to run on (names from `[hosts]`), in parallel.
    pub hosts: Vec<Spanned<String>>,
    /// Shell command, run with `sh -c`. It must not contain secrets: pass them through `env`.
    pub command: Template,
    /// Shell command that tells whether the step's effect is already in place (exit 0 = yes).
    /// When it passes before `apply`, the command is not run again; it is also the re-check
    /// after an interrupted run.
    pub check: Option<Template>,
    /// Shell command that reverses the step, run by `cutover rollback`.
    pub undo: Option<Template>,
    /// Environment variables for the command (values may use `{{ secrets.NAME }}`; they are
    /// sent over the SSH channel's standard input, never on a command line).
    #[serde(default)]
    pub env: BTreeMap<String, Template>,
    /// Run through `sudo -n`, overriding the host's `sudo` setting.
    pub sudo: Option<bool>,
    /// Give up after this long (e.g. "10m"); default 1h.
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Duration>,
    /// Checks (names from `[checks]`) that must pass after the command ran, e.g. the health
    /// endpoint of what it started; tried again until `health_deadline`.
    #[serde(default)]
    pub health: Vec<Spanned<String>>,
    /// How long `health` may take to pass (default "60s").
    #[schemars(with = "Option<String>")]
    pub health_deadline: Option<Duration>,
}

impl RunStep {
    /// The fields a `run` step accepts.
    pub const FIELDS: &'static [&'static str] = &[
        "id",
        "kind",
        "description",
        "hosts",
        "command",
        "check",
        "undo",
        "env",
        "sudo",
        "timeout",
        "health",
        "health_deadline",
    ];

    pub(crate) fn read(f: &mut Fields<'_>, p: &mut Problems) -> Option<Self> {
        // Read every field before giving up on a bad one, so none is reported as unknown.
        let hosts = f.required("hosts", p);
        let command = f.required("command", p);
        let check = f.optional("check", p);
        let undo = f.optional("undo", p);
        let env = read_env(f, p);
        let sudo = f.optional("sudo", p);
        let timeout = f.duration("timeout", &limits::STEP_TIMEOUT, p);
        let health = crate::checks::read_names(f, "health", p);
        let health_deadline = f.duration("health_deadline", &limits::STEP_TIMEOUT, p);
        Some(RunStep {
            hosts: hosts?,
            command: command?,
            check,
            undo,
            env,
            sudo,
            timeout,
            health,
            health_deadline,
        })
    }
}

impl Validate for RunStep {
    fn validate(&self, c: &StepCheck<'_>, p: &mut Problems) {
        if self.hosts.is_empty() {
            p.push(
                Problem::new(
                    c.id.span,
                    format!("{} runs on no host", c.owner),
                    "`hosts` is empty",
                )
                .help(format!(
                    "name at least one host: {}",
                    c.host_names.join(", ")
                )),
            );
        }
        for h in &self.hosts {
            c.host(h, p);
        }
        c.command("command", &self.command, p);
        c.optional_command("check", self.check.as_ref(), p);
        c.optional_command("undo", self.undo.as_ref(), p);
        c.env(&self.env, p);
        crate::checks::validate::names(c.plan, &self.health, c.owner, p);
    }
}
