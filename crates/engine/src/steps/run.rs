//! `run`: a shell command on one or more hosts, in parallel, tracked on each host so that an
//! interrupted controller re-attaches to it instead of running it twice.

use super::{describe_failure, show, show_env};
use crate::context::{StepCtx, Values};
use crate::error::EngineError;
use crate::step::{Applied, Interrupted, StepRunner, Verified};
use async_trait::async_trait;
use cutover_exec::tracked::{self, Settled};
use cutover_exec::{Command, TrackId};
use cutover_journal::{Event, StepStatus};
use cutover_plan::steps::RunStep;
use cutover_plan::Template;
use futures_util::future::join_all;
use std::collections::BTreeSet;

const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3600);

pub(crate) struct Run<'a>(pub &'a RunStep);

impl Run<'_> {
    fn sudo(&self, ctx: &StepCtx<'_>, host: &str) -> bool {
        self.0
            .sudo
            .unwrap_or_else(|| ctx.plan.host(host).is_some_and(|h| h.sudo))
    }

    async fn on_every_host(
        &self,
        ctx: &StepCtx<'_>,
        script: &Template,
        track: Option<&str>,
        capture: bool,
    ) -> Result<Vec<cutover_exec::Output>, EngineError> {
        let rendered = ctx.render(script)?;
        let env = ctx.env(&self.0.env)?;
        let commands: Vec<Command> = self
            .0
            .hosts
            .iter()
            .map(|h| {
                let mut c = Command::shell(&h.value, &rendered)
                    .sudo(self.sudo(ctx, &h.value))
                    .timeout(Some(self.0.timeout.unwrap_or(DEFAULT_TIMEOUT)));
                c.env = env.clone();
                if let Some(label) = track {
                    c = c.track(TrackId {
                        run: ctx.run_id.to_string(),
                        invocation: format!("{}.{}.{label}", ctx.id(), h.value),
                    });
                }
                c
            })
            .collect();
        // A step with outputs runs on one host (`cutover check` sees to it).
        let outputs = (capture && !self.0.outputs.is_empty()).then_some(&self.0.outputs);
        join_all(commands.iter().map(|c| ctx.run_capturing(c, outputs)))
            .await
            .into_iter()
            .collect()
    }
}

#[async_trait]
impl StepRunner for Run<'_> {
    fn plan(&self, values: &Values<'_>) -> Result<Vec<String>, EngineError> {
        let cmd = show(&self.0.command, values)?;
        let env = show_env(&self.0.env, values)?;
        let env = if env.is_empty() {
            String::new()
        } else {
            format!("{env} ")
        };
        let mut lines: Vec<String> = self
            .0
            .hosts
            .iter()
            .map(|h| format!("{}$ {env}{cmd}", h.value))
            .collect();
        if let Some(check) = &self.0.check {
            lines.push(format!(
                "skipped when `{}` passes on every host",
                show(check, values)?
            ));
        }
        for (name, output) in &self.0.outputs {
            lines.push(super::describe_output(name, output));
        }
        if let Some(undo) = &self.0.undo {
            lines.push(format!("undo: {}", show(undo, values)?));
        }
        lines.extend(super::check::describe(values, &self.0.health));
        Ok(lines)
    }

    fn reattaches(&self) -> bool {
        true
    }

    fn interrupted(&self) -> Interrupted {
        match self.0.undo {
            Some(_) => Interrupted::Undoes,
            None => Interrupted::Leaves(format!(
                "interrupted; its command may have run on {} and the step has no `undo`, so what it did stays",
                self.hosts()
            )),
        }
    }

    async fn verify(&self, ctx: &StepCtx<'_>) -> Result<Verified, EngineError> {
        let Some(check) = &self.0.check else {
            return Ok(Verified::Unknown);
        };
        let outs = self.on_every_host(ctx, check, None, false).await?;
        Ok(if outs.iter().all(|o| o.success()) {
            Verified::InPlace
        } else {
            Verified::NotInPlace
        })
    }

    async fn apply(&self, ctx: &StepCtx<'_>) -> Result<Applied, EngineError> {
        let label = ctx.try_number.to_string();
        let outs = self
            .on_every_host(ctx, &self.0.command, Some(&label), true)
            .await?;
        let mut failures = Vec::new();
        for out in &outs {
            if out.outcome_unknown() {
                failures.push(format!(
                    "on {}: the command was started by an earlier, interrupted run and stopped without recording how it ended (host rebooted or process killed); check the host, then run `cutover apply` again to run it anew, or `cutover rollback`",
                    out.host
                ));
            } else if !out.success() {
                failures.push(describe_failure(out));
            } else {
                for line in out.stdout.lines().take(20) {
                    ctx.detail(format!("{}: {line}", out.host));
                }
            }
        }
        if !failures.is_empty() {
            return Err(ctx.failed(failures.join("\n")));
        }
        let hosts: Vec<&str> = outs.iter().map(|o| o.host.as_str()).collect();
        let mut summary = format!("ran on {}", hosts.join(", "));
        if !self.0.health.is_empty() {
            // What the command started must answer its health checks before the run moves on.
            let policy = super::check::health_policy(self.0.health_deadline);
            let healthy = super::check::run_gate(ctx, &self.0.health, policy).await?;
            summary = format!("{summary}; {healthy}");
        }
        Ok(Applied::Done { summary })
    }

    async fn rollback(&self, ctx: &StepCtx<'_>) -> Result<Option<String>, EngineError> {
        let Some(undo) = &self.0.undo else {
            return Ok(None);
        };
        if !matches!(
            ctx.state.step(ctx.id()).map(|s| &s.status),
            Some(StepStatus::Applied)
        ) {
            self.settle(ctx).await?;
        }
        let label = format!("undo{}", ctx.try_number);
        let outs = self.on_every_host(ctx, undo, Some(&label), false).await?;
        let failures: Vec<String> = outs
            .iter()
            .filter(|o| !o.success())
            .map(describe_failure)
            .collect();
        if !failures.is_empty() {
            return Err(ctx.failed(failures.join("\n")));
        }
        Ok(Some(format!("undo ran on {}", self.hosts())))
    }
}

impl Run<'_> {
    fn hosts(&self) -> String {
        self.0
            .hosts
            .iter()
            .map(|h| h.value.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Before the undo of an attempt that did not finish: waits for the commands it started
    /// and did not see end (the controller was cut off; they go on on the hosts), so that
    /// the undo runs after them rather than beside them, and makes sure one that had not
    /// started yet never does.
    async fn settle(&self, ctx: &StepCtx<'_>) -> Result<(), EngineError> {
        let mut started = BTreeSet::new();
        for r in ctx.journal.events(ctx.run_id)? {
            if let Event::CommandStarted {
                step,
                host,
                invocation: Some(invocation),
                ..
            } = r.event
            {
                // The apply's own commands, not an earlier undo's (`undoN`).
                let apply = invocation
                    .rsplit('.')
                    .next()
                    .is_some_and(|label| label.bytes().all(|b| b.is_ascii_digit()));
                if step == ctx.id() && apply {
                    started.insert((host, invocation));
                }
            }
        }
        let waits = started
            .iter()
            .map(|(host, invocation)| self.settle_one(ctx, host, invocation));
        for line in join_all(waits).await {
            ctx.detail(line?);
        }
        Ok(())
    }

    /// Settles the command of `invocation` on `host`, journaled as the wait it is; returns
    /// what became of it, for the operator.
    async fn settle_one(
        &self,
        ctx: &StepCtx<'_>,
        host: &str,
        invocation: &str,
    ) -> Result<String, EngineError> {
        let wait = self.0.timeout.unwrap_or(DEFAULT_TIMEOUT) + std::time::Duration::from_secs(60);
        let cmd = Command::shell(host, tracked::settle_line(ctx.run_id, invocation))
            .sudo(self.sudo(ctx, host))
            .timeout(Some(wait));
        ctx.command_started(
            host,
            format!("wait for the interrupted attempt's command `{invocation}` to end"),
        )?;
        let out = ctx.exec.run(&cmd).await.map_err(|e| ctx.exec_failed(e))?;
        ctx.command_finished(
            host,
            out.code.unwrap_or(-1),
            out.duration.as_millis() as u64,
            out.stdout.clone(),
        )?;
        let what = "the command of the interrupted attempt";
        match tracked::Settled::parse(&out.stdout) {
            Some(Settled::NotStarted) => Ok(format!("{host}: {what} never started")),
            Some(Settled::Ended(code)) => Ok(format!("{host}: {what} ended (exit {code})")),
            Some(Settled::Lost) => Ok(format!(
                "{host}: {what} stopped without an exit status (host rebooted or process killed)"
            )),
            None => Err(ctx.failed(format!(
                "cannot tell whether {what} still runs on {host}:\n{}",
                describe_failure(&out)
            ))),
        }
    }
}
