//! `postgres.switch`: the target becomes the primary; the freeze window is measured and
//! journaled (the runner's). The target database's marker says how far a switch got
//! (`switching` is set before the freeze), so a resumed one finishes and a rollback carries
//! writes made on the target back (with `reverse`) and thaws the source.

use super::postgres::{endpoint, failed, server_address};
use super::postgres_sync;
use super::store_switch::Switcher;
use crate::context::{StepCtx, Values};
use crate::error::EngineError;
use async_trait::async_trait;
use cutover_data::postgres::replication::switch::{
    self, Freeze, Prepared, PreparedUndo, SwitchOptions, SwitchReport,
};
use cutover_data::postgres::Endpoint;
use cutover_exec::Command;
use cutover_plan::steps::{HostCommand, PostgresSwitchStep, PostgresSyncStep};
use cutover_plan::StepKind;
use std::time::Duration;

pub(crate) struct PostgresSwitch<'a>(pub &'a PostgresSwitchStep);

impl PostgresSwitch<'_> {
    fn sync_step<'p>(
        &self,
        plan: &'p cutover_plan::Plan,
    ) -> Result<&'p PostgresSyncStep, EngineError> {
        match plan.step(&self.0.sync.value).map(|s| &s.kind) {
            Some(StepKind::PostgresSync(s)) => Ok(s),
            _ => Err(EngineError::Invalid(format!(
                "`{}` is not a postgres.sync step",
                self.0.sync.value
            ))),
        }
    }

    pub(crate) fn setup(
        &self,
        ctx: &StepCtx<'_>,
    ) -> Result<(Endpoint, Endpoint, SwitchOptions), EngineError> {
        let sync = self.sync_step(ctx.plan)?;
        let (source, target) = (endpoint(ctx, &sync.source)?, endpoint(ctx, &sync.target)?);
        let command = |c: &HostCommand| -> Result<Box<Command>, EngineError> {
            let sudo = ctx.plan.host(&c.host.value).is_some_and(|h| h.sudo);
            Ok(Box::new(
                Command::shell(&c.host.value, ctx.render(&c.command)?).sudo(sudo),
            ))
        };
        let freeze = match &self.0.freeze_command {
            Some(f) if self.0.by_command() => Freeze::Command {
                freeze: command(f)?,
                unfreeze: self.0.unfreeze_command.as_ref().map(command).transpose()?,
            },
            _ => Freeze::ReadOnly,
        };
        let reverse = if self.0.reverse {
            Some(match &self.0.reverse_address {
                Some(a) => ctx.render(a)?,
                None => server_address(ctx, &sync.target)?,
            })
        } else {
            None
        };
        let options = SwitchOptions {
            sync: postgres_sync::options(ctx, sync)?,
            freeze,
            reverse,
            max_wait: self.0.max_wait.unwrap_or(Duration::from_secs(30)),
        };
        Ok((source, target, options))
    }
}

#[async_trait]
impl Switcher for PostgresSwitch<'_> {
    type Report = SwitchReport;
    type Ready = Prepared;
    type ReadyUndo = PreparedUndo;

    fn plan(&self, _values: &Values<'_>) -> Result<Vec<String>, EngineError> {
        let s = self.0;
        let mut lines = vec![format!(
            "before the freeze: the source's schema compared with the fingerprint step `{}` journaled; if DDL ran since and the target lacks it, refuse and name each object",
            s.sync.value
        )];
        lines.push(if s.by_command() {
            "freeze writes with the plan's freeze_command".to_string()
        } else {
            "freeze writes on the source: default_transaction_read_only = on, client sessions ended"
                .to_string()
        });
        lines.push(format!(
            "wait (at most {}s) until the target has replayed the source's WAL position; advance every sequence on the target; drop the subscription of step `{}`",
            s.max_wait.unwrap_or(Duration::from_secs(30)).as_secs(),
            s.sync.value
        ));
        if s.unfreeze_command.is_some() {
            lines.push("lift the freeze with the plan's unfreeze_command".into());
        }
        if s.reverse {
            lines.push(
                "keep a reverse subscription: writes on the target flow back to the source".into(),
            );
        }
        lines.push("the freeze window is measured and journaled".into());
        Ok(lines)
    }

    async fn is_switched(&self, ctx: &StepCtx<'_>) -> Result<bool, EngineError> {
        let (source, target, _) = self.setup(ctx)?;
        switch::is_switched(ctx.exec, &source, &target)
            .await
            .map_err(|e| failed(ctx, e))
    }

    async fn prepare(&self, ctx: &StepCtx<'_>) -> Result<Option<Prepared>, EngineError> {
        let (source, target, options) = self.setup(ctx)?;
        let show = |line: String| ctx.detail(line);
        let recorded = postgres_sync::recorded_schema(ctx.state, &self.0.sync.value);
        let ready = switch::prepare_switch(
            ctx.exec,
            &source,
            &target,
            &options,
            recorded.as_ref(),
            &show,
        )
        .await
        .map_err(|e| failed(ctx, e))?;
        Ok(Some(ready))
    }

    async fn switch(
        &self,
        ctx: &StepCtx<'_>,
        ready: Option<Prepared>,
    ) -> Result<SwitchReport, EngineError> {
        let (source, target, options) = self.setup(ctx)?;
        let show = |line: String| ctx.detail(line);
        match ready {
            // Made ready before a coordinated move held requests: only the switch itself.
            Some(ready) => ready.commit(ctx.exec, &options, &show).await,
            None => {
                let recorded = postgres_sync::recorded_schema(ctx.state, &self.0.sync.value);
                switch::switch_checked(
                    ctx.exec,
                    &source,
                    &target,
                    &options,
                    recorded.as_ref(),
                    &show,
                )
                .await
            }
        }
        .map_err(|e| failed(ctx, e))
    }

    /// A move back reads how far the switch got and opens its session before it holds
    /// requests: only the undo itself runs while they wait.
    async fn prepare_undo(&self, ctx: &StepCtx<'_>) -> Result<Option<PreparedUndo>, EngineError> {
        let (source, target, options) = self.setup(ctx)?;
        let ready = switch::prepare_undo(ctx.exec, &source, &target, &options)
            .await
            .map_err(|e| failed(ctx, e))?;
        Ok(Some(ready))
    }

    async fn undo(
        &self,
        ctx: &StepCtx<'_>,
        ready: Option<PreparedUndo>,
    ) -> Result<Option<String>, EngineError> {
        let (source, target, options) = self.setup(ctx)?;
        // Inside a move back, the held requests go to the source once it takes writes
        // again, while the forward sync is made again.
        let writable = || ctx.writable_again();
        match ready {
            Some(ready) => ready.commit(ctx.exec, &options, &writable).await,
            None => switch::undo_switch_then(ctx.exec, &source, &target, &options, &writable).await,
        }
        .map_err(|e| failed(ctx, e))
    }
}
