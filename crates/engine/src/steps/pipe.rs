//! `pipe`: one host's command streamed into another's through the controller's memory.
//! A pipe cannot be re-attached after an interruption, so a resumed pipe is re-checked with
//! its `check` and otherwise run again from the start.

use super::{describe_failure, show, show_env};
use crate::context::{StepCtx, Values};
use crate::error::EngineError;
use crate::step::{Applied, Interrupted, StepRunner, Verified};
use async_trait::async_trait;
use cutover_exec::Command;
use cutover_plan::steps::{PipeEnd, PipeStep};
use std::time::{Duration, Instant};

pub(crate) struct Pipe<'a>(pub &'a PipeStep);

fn end_command(ctx: &StepCtx<'_>, end: &PipeEnd) -> Result<Command, EngineError> {
    let mut c = Command::shell(&end.host.value, ctx.render(&end.command)?);
    c.env = ctx.env(&end.env)?;
    c.sudo = ctx.plan.host(&end.host.value).is_some_and(|h| h.sudo);
    Ok(c)
}

fn on_target(
    ctx: &StepCtx<'_>,
    pipe: &PipeStep,
    t: &cutover_plan::Template,
) -> Result<Command, EngineError> {
    let host = &pipe.to.host.value;
    Ok(Command::shell(host, ctx.render(t)?).sudo(ctx.plan.host(host).is_some_and(|h| h.sudo)))
}

fn rate(bytes: u64, elapsed: Duration) -> String {
    let mb = bytes as f64 / 1e6;
    format!(
        "{mb:.1} MB in {:.1}s ({:.1} MB/s)",
        elapsed.as_secs_f64(),
        mb / elapsed.as_secs_f64().max(1e-3)
    )
}

#[async_trait]
impl StepRunner for Pipe<'_> {
    fn plan(&self, values: &Values<'_>) -> Result<Vec<String>, EngineError> {
        let side = |end: &PipeEnd| -> Result<String, EngineError> {
            let env = show_env(&end.env, values)?;
            let env = if env.is_empty() {
                String::new()
            } else {
                format!("{env} ")
            };
            Ok(format!(
                "{}$ {env}{}",
                end.host.value,
                show(&end.command, values)?
            ))
        };
        let mut lines = vec![format!("{}  |  {}", side(&self.0.from)?, side(&self.0.to)?)];
        for (name, output) in &self.0.outputs {
            lines.push(super::describe_output(name, output));
        }
        if let Some(check) = &self.0.check {
            lines.push(format!(
                "skipped when `{}` passes on {}",
                show(check, values)?,
                self.0.to.host.value
            ));
        }
        if let Some(undo) = &self.0.undo {
            lines.push(format!(
                "undo on {}: {}",
                self.0.to.host.value,
                show(undo, values)?
            ));
        }
        Ok(lines)
    }

    fn interrupted(&self) -> Interrupted {
        match self.0.undo {
            Some(_) => Interrupted::Undoes,
            None => Interrupted::Leaves(format!(
                "interrupted; what it streamed into {} may be there in part and the step has no `undo`, so it stays",
                self.0.to.host.value
            )),
        }
    }

    async fn verify(&self, ctx: &StepCtx<'_>) -> Result<Verified, EngineError> {
        let Some(check) = &self.0.check else {
            return Ok(Verified::Unknown);
        };
        let out = ctx.run(&on_target(ctx, self.0, check)?).await?;
        Ok(if out.success() {
            Verified::InPlace
        } else {
            Verified::NotInPlace
        })
    }

    async fn apply(&self, ctx: &StepCtx<'_>) -> Result<Applied, EngineError> {
        let from = end_command(ctx, &self.0.from)?;
        let to = end_command(ctx, &self.0.to)?;
        ctx.command_started(
            &format!("{} -> {}", from.host, to.host),
            ctx.exec.redactor().redact(&format!("{from}  |  {to}")),
        )?;
        let started = Instant::now();
        let mut last_shown = Instant::now();
        let mut show_progress = |bytes: u64| {
            if last_shown.elapsed() >= Duration::from_secs(2) {
                last_shown = Instant::now();
                ctx.detail(format!("{} so far", rate(bytes, started.elapsed())));
            }
        };
        let mut report = ctx
            .exec
            .pipe(&from, &to, &mut show_progress)
            .await
            .map_err(|e| ctx.exec_failed(e))?;
        let outputs = &self.0.outputs;
        // Captured before anything is journaled, so that a secret one is redacted first.
        let captured = (report.to.success() && report.from.success() && !outputs.is_empty())
            .then(|| ctx.capture(outputs, &report.to.stdout));
        for out in [&mut report.from, &mut report.to] {
            out.stdout = ctx.redact_outputs(&out.stdout);
            out.stderr = ctx.redact_outputs(&out.stderr);
        }
        for out in [&report.from, &report.to] {
            ctx.record(cutover_journal::Event::CommandFinished {
                step: ctx.id().to_string(),
                host: out.host.clone(),
                code: out.code,
                duration_ms: out.duration.as_millis() as u64,
                stdout: crate::context::tail(&out.stdout),
                stderr: crate::context::tail(&out.stderr),
            })?;
        }
        // The consumer's failure is usually the cause of the producer's broken pipe.
        if !report.to.success() {
            return Err(ctx.failed(describe_failure(&report.to)));
        }
        if !report.from.success() {
            return Err(ctx.failed(describe_failure(&report.from)));
        }
        if let Some(captured) = captured {
            ctx.record_captures(outputs, &captured?)?;
        }
        ctx.measure("bytes", report.bytes as f64, "bytes")?;
        ctx.measure("seconds", report.duration.as_secs_f64(), "s")?;
        Ok(Applied::Done {
            summary: format!(
                "streamed {} from {} to {}",
                rate(report.bytes, report.duration),
                from.host,
                to.host
            ),
        })
    }

    async fn rollback(&self, ctx: &StepCtx<'_>) -> Result<Option<String>, EngineError> {
        let Some(undo) = &self.0.undo else {
            return Ok(None);
        };
        let out = ctx.run(&on_target(ctx, self.0, undo)?).await?;
        if !out.success() {
            return Err(ctx.failed(describe_failure(&out)));
        }
        Ok(Some(format!("undo ran on {}", self.0.to.host.value)))
    }
}
