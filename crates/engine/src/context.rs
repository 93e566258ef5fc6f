//! What a step sees while it runs: the plan, its hosts, secrets, the journal, and helpers
//! that render templates and run commands with everything journaled.

use crate::error::EngineError;
use crate::outputs::{Outputs, SealKey};
use crate::secrets::Secrets;
use crate::ui::{Progress, Ui};
use cutover_exec::{Command, EnvValue, ExecError, Executor, Output};
use cutover_journal::{Event, Journal, RunState};
use cutover_plan::{Plan, Reference, Resolve, Stage, Step, Template};
use std::collections::BTreeMap;
use tokio::sync::watch;

/// Resolves template references; secrets only when `secrets` is given, else masked.
pub struct Values<'a> {
    /// The plan.
    pub plan: &'a Plan,
    /// The run id, when there is a run.
    pub run_id: Option<&'a str>,
    /// Secret values; `None` renders them as `***` (for `cutover plan`).
    pub secrets: Option<&'a Secrets>,
    /// Values steps captured so far; `None` (for `cutover plan`) shows each reference as
    /// written, since it is known only once its step ran.
    pub outputs: Option<&'a Outputs>,
}

impl Resolve for Values<'_> {
    fn resolve(&self, r: &Reference) -> Result<String, String> {
        match r {
            Reference::Host { name, field } => {
                let h = self
                    .plan
                    .host(name)
                    .ok_or_else(|| format!("no host `{name}`"))?;
                Ok(match field.as_str() {
                    "address" => h.address(),
                    "name" => h.name.value.clone(),
                    "port" => h.port.unwrap_or(22).to_string(),
                    "ssh" => h.ssh.clone().unwrap_or_else(|| "local".into()),
                    "user" => h.user.clone().unwrap_or_default(),
                    other => return Err(format!("hosts have no field `{other}`")),
                })
            }
            Reference::Secret(name) => match self.secrets {
                Some(s) => s
                    .get(name)
                    .map(|v| v.expose().to_string())
                    .ok_or_else(|| format!("no secret `{name}`")),
                None => Ok("***".into()),
            },
            Reference::Var(name) => self
                .plan
                .vars
                .get(name)
                .cloned()
                .ok_or_else(|| format!("no var `{name}`")),
            Reference::Plan(field) => Ok(match field.as_str() {
                "dir" => self.plan.dir.display().to_string(),
                _ => self.plan.name.clone(),
            }),
            Reference::Run(_) => Ok(self.run_id.unwrap_or("RUN").to_string()),
            Reference::StepOutput { step, name } => match self.outputs {
                Some(o) => o.get(step, name, self.secrets.is_some()),
                None => Ok(r.to_string()),
            },
        }
    }
}

/// Runs or undoes the steps a coordinated move carries (the data switches a `proxy.switch`
/// lists in `data`) through the engine's own loop, so that each is journaled as the step it
/// is. The loop gives a step this, never the other way round.
#[async_trait::async_trait]
pub trait Members: Send + Sync {
    /// Does the part of steps `ids` that can happen before requests are held (their
    /// `prepare`), kept for their `apply`.
    async fn prepare(&self, ids: &[String]) -> Result<(), EngineError>;
    /// Applies steps `ids` in order (a step already done is left as it is).
    async fn apply(&self, ids: &[String]) -> Result<(), EngineError>;
    /// Does the part of the undo of steps `ids` that can happen before a move back holds
    /// requests (their `prepare_undo`), kept for their `rollback` in [`Members::undo`].
    async fn prepare_undo(&self, ids: &[String]) -> Result<(), EngineError>;
    /// Undoes those of steps `ids` this run applied, newest first; returns those undone.
    /// Each step marks `writable` once its source takes writes again (or its undo ended).
    async fn undo(
        &self,
        ids: &[String],
        writable: Option<&crate::writable::WritableAgain>,
    ) -> Result<Vec<String>, EngineError>;
}

/// What every step of one `apply` or `rollback` shares: the plan, the run, and the means to
/// run and journal. [`StepCtx::new`] makes a step's context from it.
#[derive(Clone)]
pub struct RunScope<'a> {
    /// The plan.
    pub plan: &'a Plan,
    /// The run's id.
    pub run_id: &'a str,
    /// The executor.
    pub exec: &'a Executor,
    /// The journal.
    pub journal: &'a dyn Journal,
    /// Secret values.
    pub secrets: &'a Secrets,
    /// Progress output.
    pub ui: &'a dyn Ui,
    /// Becomes true when the operator interrupts.
    pub cancel: watch::Receiver<bool>,
    /// Stop at gates instead of waiting.
    pub no_wait: bool,
    /// Runs the steps of a coordinated move (given by the apply and rollback loops).
    pub members: Option<&'a dyn Members>,
    /// Told when a data switch undone inside a move back gives its source writes back.
    pub writable: Option<&'a crate::writable::WritableAgain>,
}

/// Everything a step needs to run.
pub struct StepCtx<'a> {
    /// The plan.
    pub plan: &'a Plan,
    /// The stage.
    pub stage: &'a Stage,
    /// The step.
    pub step: &'a Step,
    /// The run's id.
    pub run_id: &'a str,
    /// Number of fresh tries of this step: while applying, the tries that ended (failed or
    /// rolled back) + 1; while rolling back, the undos that ran or failed + 1. Interrupted
    /// tries do not count, so a resumed step reuses the ids of its tracked commands.
    pub try_number: u32,
    /// The executor.
    pub exec: &'a Executor,
    /// The journal.
    pub journal: &'a dyn Journal,
    /// Secret values.
    pub secrets: &'a Secrets,
    /// The run's state when the step began.
    pub state: &'a RunState,
    /// When this step first started in this run (unix ms): time gates count from here, so a
    /// resumed run waits only for what is left.
    pub first_started_ms: i64,
    /// Progress output.
    pub ui: &'a dyn Ui,
    /// Becomes true when the operator interrupts.
    pub cancel: watch::Receiver<bool>,
    /// Stop at gates instead of waiting.
    pub no_wait: bool,
    /// Runs the steps of a coordinated move (given by the apply and rollback loops).
    pub members: Option<&'a dyn Members>,
    /// Told when this step's undo gives its source writes back (inside a move back).
    pub writable: Option<&'a crate::writable::WritableAgain>,
    /// What this step's `prepare` made ready, before a coordinated move held requests.
    pub prepared: std::sync::Mutex<Option<crate::step::Prepared>>,
    /// Values steps captured in this run (this step's own too, once captured).
    pub outputs: std::sync::RwLock<Outputs>,
    /// The key secret outputs of this run are sealed with.
    pub seal_key: SealKey,
}

impl<'a> StepCtx<'a> {
    /// The context of `step` (of `stage`) in `scope`: its fresh try `try_number`, the run's
    /// `state` as the step begins, and when it first started in this run.
    pub fn new(
        scope: &RunScope<'a>,
        stage: &'a Stage,
        step: &'a Step,
        state: &'a RunState,
        try_number: u32,
        first_started_ms: i64,
    ) -> Self {
        let seal_key = SealKey::derive(scope.run_id, scope.secrets);
        let outputs = std::sync::RwLock::new(Outputs::from_state(state, &seal_key));
        StepCtx {
            plan: scope.plan,
            stage,
            step,
            run_id: scope.run_id,
            try_number,
            exec: scope.exec,
            journal: scope.journal,
            secrets: scope.secrets,
            state,
            first_started_ms,
            ui: scope.ui,
            cancel: scope.cancel.clone(),
            no_wait: scope.no_wait,
            members: scope.members,
            writable: scope.writable,
            prepared: std::sync::Mutex::new(None),
            outputs,
            seal_key,
        }
    }

    /// Takes what this step's `prepare` made ready, if it ran and was of type `T`.
    pub fn take_prepared<T: 'static>(&self) -> Option<Box<T>> {
        let p = self.prepared.lock().ok()?.take()?;
        p.downcast::<T>().ok()
    }

    /// True when this step's `prepare` ran (its `apply` need not check again).
    pub fn is_prepared(&self) -> bool {
        self.prepared.lock().is_ok_and(|p| p.is_some())
    }

    /// The scope this step runs in (for the steps a rollback request undoes).
    pub fn scope(&self) -> RunScope<'a> {
        RunScope {
            plan: self.plan,
            run_id: self.run_id,
            exec: self.exec,
            journal: self.journal,
            secrets: self.secrets,
            ui: self.ui,
            cancel: self.cancel.clone(),
            no_wait: self.no_wait,
            members: self.members,
            writable: self.writable,
        }
    }

    /// Says that this step's source takes writes again, so that a move back may release its
    /// held requests before the rest of this undo.
    pub fn writable_again(&self) {
        if let Some(w) = self.writable {
            w.mark(self.id());
        }
    }

    /// The step's id.
    pub fn id(&self) -> &str {
        &self.step.id.value
    }

    /// Renders a template with real values (secrets included: only for env and stdin).
    pub fn render(&self, t: &Template) -> Result<String, EngineError> {
        let outputs = self
            .outputs
            .read()
            .map_err(|_| self.failed("outputs lock poisoned"))?;
        let values = Values {
            plan: self.plan,
            run_id: Some(self.run_id),
            secrets: Some(self.secrets),
            outputs: Some(&outputs),
        };
        t.render(&values).map_err(|e| self.failed(e.to_string()))
    }

    /// Renders an `env` table; values that use secrets stay secret.
    pub fn env(
        &self,
        env: &BTreeMap<String, Template>,
    ) -> Result<Vec<(String, EnvValue)>, EngineError> {
        env.iter()
            .map(|(k, t)| {
                let v = self.render(t)?;
                Ok((
                    k.clone(),
                    if self.uses_secrets(t) {
                        EnvValue::Secret(cutover_exec::SecretValue::new(v))
                    } else {
                        EnvValue::Plain(v)
                    },
                ))
            })
            .collect()
    }

    /// Appends an event to the journal.
    pub fn record(&self, event: Event) -> Result<(), EngineError> {
        self.journal.append(self.run_id, &event)?;
        Ok(())
    }

    /// Journals the start of work the controller does itself rather than through a host's
    /// shell (a verifier, a recorded state), as a command on `host`, so that the timeline
    /// and the report show it like any other.
    pub fn command_started(&self, host: &str, command: String) -> Result<(), EngineError> {
        self.record(Event::CommandStarted {
            step: self.id().to_string(),
            host: host.to_string(),
            command,
            invocation: None,
        })
    }

    /// Journals the end of such work: its exit code, duration and output (stored as given).
    pub fn command_finished(
        &self,
        host: &str,
        code: i32,
        duration_ms: u64,
        stdout: String,
    ) -> Result<(), EngineError> {
        self.record(Event::CommandFinished {
            step: self.id().to_string(),
            host: host.to_string(),
            code: Some(code),
            duration_ms,
            stdout,
            stderr: String::new(),
        })
    }

    /// Journals the proof this step established, in full (text and data).
    pub fn record_proof<T: serde::Serialize>(
        &self,
        hosts: &str,
        matches: bool,
        text: String,
        data: &T,
    ) -> Result<(), EngineError> {
        let data = serde_json::to_string(data).map_err(|e| self.failed(e.to_string()))?;
        self.record(Event::ProofRecorded {
            step: self.id().to_string(),
            hosts: hosts.to_string(),
            matches,
            text,
            data,
        })
    }

    /// Journals a measured figure.
    pub fn measure(&self, name: &str, value: f64, unit: &str) -> Result<(), EngineError> {
        self.record(Event::Measured {
            step: self.id().to_string(),
            name: name.into(),
            value,
            unit: unit.into(),
        })
    }

    /// Journals a stretch users could notice (`what`: "writes frozen"...), timed where it
    /// began and ended; nothing when its start is not known (0: a resumed switch).
    pub fn outage(&self, what: &str, from_ms: i64, to_ms: i64) -> Result<(), EngineError> {
        if from_ms <= 0 {
            return Ok(());
        }
        self.record(Event::Outage {
            step: self.id().to_string(),
            what: what.into(),
            from_ms,
            to_ms: to_ms.max(from_ms),
        })
    }

    /// Journals one point of a time series (`figures` of `subject` now), for the charts of
    /// the HTML report and the dashboard.
    pub fn sample(&self, subject: &str, figures: &[(&str, f64)]) -> Result<(), EngineError> {
        self.record(Event::Sampled {
            step: self.id().to_string(),
            subject: subject.into(),
            figures: figures
                .iter()
                .filter(|(_, v)| v.is_finite())
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
        })
    }

    /// Runs `cmd`, journaling its start and outcome.
    pub async fn run(&self, cmd: &Command) -> Result<Output, EngineError> {
        self.run_capturing(cmd, None).await
    }

    /// Runs `cmd` like [`run`](Self::run); when it succeeds and `outputs` is given, captures
    /// them from its standard output first, so that a secret one is redacted from the
    /// output before the journal or the screen sees it.
    pub async fn run_capturing(
        &self,
        cmd: &Command,
        outputs: Option<&BTreeMap<String, cutover_plan::steps::Output>>,
    ) -> Result<Output, EngineError> {
        self.record(Event::CommandStarted {
            step: self.id().to_string(),
            host: cmd.host.clone(),
            command: self.redact_outputs(&self.exec.redactor().redact(&cmd.to_string())),
            invocation: cmd.track.as_ref().map(|t| t.invocation.clone()),
        })?;
        let mut out = self.exec.run(cmd).await.map_err(|e| self.exec_failed(e))?;
        let captured = match outputs {
            Some(o) if out.success() && !o.is_empty() => Some(self.capture(o, &out.stdout)),
            _ => None,
        };
        out.stdout = self.redact_outputs(&out.stdout);
        out.stderr = self.redact_outputs(&out.stderr);
        self.record(Event::CommandFinished {
            step: self.id().to_string(),
            host: cmd.host.clone(),
            code: out.code,
            duration_ms: out.duration.as_millis() as u64,
            stdout: tail(&out.stdout),
            stderr: tail(&out.stderr),
        })?;
        // The captures are journaled before the host forgets the output, so that a
        // controller cut off in between captures again from the same output on resume.
        let journaled = match (captured, outputs) {
            (Some(result), Some(o)) => result.and_then(|fresh| self.record_captures(o, &fresh)),
            _ => Ok(()),
        };
        if let Some(track) = &cmd.track {
            self.forget(cmd, track).await;
        }
        journaled?;
        Ok(out)
    }

    /// Removes a tracked command's output from its host now that the journal holds it: the
    /// output would otherwise stay there until the run ends (its exit status stays, for a
    /// resumed attempt). A failure only leaves the file for the run's end to remove.
    async fn forget(&self, cmd: &Command, track: &cutover_exec::TrackId) {
        let forget = Command::shell(
            &cmd.host,
            cutover_exec::tracked::forget_line(&track.run, &track.invocation),
        )
        .sudo(cmd.sudo)
        .timeout(Some(std::time::Duration::from_secs(30)));
        match self.exec.run(&forget).await {
            Ok(out) if out.success() => {}
            Ok(out) => tracing::warn!(
                "could not remove the output of `{}` from {}: {}",
                track.invocation,
                cmd.host,
                out.stderr.trim()
            ),
            Err(e) => tracing::warn!(
                "could not remove the output of `{}` from {}: {e}",
                track.invocation,
                cmd.host
            ),
        }
    }

    /// Shows a line of detail.
    pub fn detail(&self, text: impl Into<String>) {
        self.ui.show(Progress::Detail(text.into()));
    }

    /// A step failure with `message`.
    pub fn failed(&self, message: impl Into<String>) -> EngineError {
        self.failed_as(cutover_exec::FailureClass::Failed, message)
    }

    /// A failure of class `class` (which chooses the exit code).
    pub fn failed_as(
        &self,
        class: cutover_exec::FailureClass,
        message: impl Into<String>,
    ) -> EngineError {
        EngineError::StepFailed {
            step: self.id().to_string(),
            message: message.into(),
            class,
        }
    }

    /// A verification failure (a data proof or health gate found a difference): its own
    /// exit code, and the run stops before any traffic moves.
    pub fn verify_failed(&self, message: impl Into<String>) -> EngineError {
        self.failed_as(cutover_exec::FailureClass::VerificationFailed, message)
    }

    /// The address another host reaches plan host `name` at: its `address`, else the host
    /// name its SSH configuration resolves to (`ssh -G`: an alias in `~/.ssh/config` means
    /// nothing on the other host), else its SSH destination.
    pub async fn reach_address(&self, name: &str) -> Result<String, EngineError> {
        let host = self
            .plan
            .host(name)
            .ok_or_else(|| self.failed(format!("no host `{name}` in the plan")))?;
        if let Some(a) = &host.address {
            return Ok(a.clone());
        }
        if let Ok(cutover_exec::Target::Ssh(t)) = self.exec.target(name) {
            let config = t.resolved_config().await.map_err(|e| self.exec_failed(e))?;
            if let Some((_, h)) = config.iter().find(|(k, _)| k == "hostname") {
                return Ok(h.clone());
            }
        }
        Ok(host.address())
    }

    /// A failure to run a command: connection problems keep their own class.
    pub fn exec_failed(&self, e: ExecError) -> EngineError {
        match e {
            e @ ExecError::Connect { .. } => EngineError::Connect(e),
            e @ ExecError::Lost { .. } => EngineError::HostLost {
                step: self.id().to_string(),
                message: e.to_string(),
            },
            other => self.failed_as(other.class(), other.to_string()),
        }
    }
}

/// The last 4 KiB of a command's output, for the journal.
pub fn tail(text: &str) -> String {
    const KEEP: usize = 4096;
    if text.len() <= KEEP {
        return text.to_string();
    }
    let mut start = text.len() - KEEP;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("[… {} bytes before]\n{}", start, &text[start..])
}
