//! `mysql.switch`: the target becomes the primary; the freeze window is measured and
//! journaled (the runner's), and the target's position at promotion too (before it takes writes: a resumed
//! switch sets the reverse replication up from there). Rollback gives the writes back to the
//! source wherever an attempt stopped.

use super::mysql::{copy_step, endpoint, failed, server_address, sync_step};
use super::mysql_sync::primary;
use super::store_switch::Switcher;
use super::traffic::{load_state, save_state};
use crate::context::{StepCtx, Values};
use crate::error::EngineError;
use async_trait::async_trait;
use cutover_data::mysql::marker;
use cutover_data::mysql::protocol::Position;
use cutover_data::mysql::replication::Primary;
use cutover_data::mysql::switch::{
    self, Freeze, Sessions, SwitchEvent, SwitchOptions, SwitchReport,
};
use cutover_data::mysql::sync::Previous;
use cutover_data::mysql::Endpoint;
use cutover_exec::Command;
use cutover_journal::Event;
use cutover_plan::steps::{HostCommand, MysqlSwitchStep, SessionsMode};
use std::sync::Mutex;
use std::time::Duration;

pub(crate) struct MysqlSwitch<'a>(pub &'a MysqlSwitchStep);

/// What `prepare` did before a move held requests: the copy's marker is gone.
pub(crate) struct MarkerGone;

/// Removes the copy's marker from the target before the switch changes anything. The marker
/// lets a run with a fresh journal find the copy in place and start the sync from it; on a
/// target that was switched (the primary now, or about to be) it would point that target back
/// at the source. Without it such a run stops at the copy ("not empty") instead.
async fn remove_marker(
    ctx: &StepCtx<'_>,
    target: &Endpoint,
    o: &SwitchOptions,
) -> Result<(), EngineError> {
    if marker::remove(ctx.exec, target, &o.agent, &o.databases)
        .await
        .map_err(|e| failed(ctx, e))?
    {
        ctx.detail(format!(
            "the copy's marker removed from {}: a run with a fresh journal cannot resume the sync into a switched target",
            target.host
        ));
    }
    Ok(())
}

impl MysqlSwitch<'_> {
    async fn setup(
        &self,
        ctx: &StepCtx<'_>,
    ) -> Result<(Endpoint, Endpoint, SwitchOptions), EngineError> {
        let s = self.0;
        let sync = sync_step(ctx.plan, &s.sync.value)?;
        let copy = copy_step(ctx.plan, &sync.copy.value)?;
        let command = |c: &HostCommand| -> Result<Box<Command>, EngineError> {
            let sudo = ctx.plan.host(&c.host.value).is_some_and(|h| h.sudo);
            Ok(Box::new(
                Command::shell(&c.host.value, ctx.render(&c.command)?).sudo(sudo),
            ))
        };
        let freeze = match &s.freeze_command {
            Some(f) if s.by_command() => Freeze::Command {
                freeze: command(f)?,
                unfreeze: s.unfreeze_command.as_ref().map(command).transpose()?,
            },
            _ => Freeze::ReadOnly,
        };
        let forward = primary(ctx, sync, copy).await?;
        let reverse = if s.reverse {
            let account = forward.clone();
            let (address, port) = match &s.reverse_address {
                Some(a) => (ctx.render(a)?, copy.target.port.unwrap_or(3306)),
                None => server_address(ctx, &copy.target, "reverse_address").await?,
            };
            Some(Primary {
                address,
                port,
                ..account
            })
        } else {
            None
        };
        let options = SwitchOptions {
            databases: copy.databases.iter().map(|d| d.value.clone()).collect(),
            freeze,
            sessions: match s.sessions.as_ref().map(|m| m.value) {
                Some(SessionsMode::Keep) => Sessions::Keep,
                Some(SessionsMode::Kill) | None => Sessions::Kill,
            },
            max_wait: s.max_wait.unwrap_or(Duration::from_secs(30)),
            reverse,
            forward: Some(forward),
            previous: load_state::<Previous>(ctx, &sync_id(self.0), "previous")?,
            promoted: this_attempts_promotion(ctx)?,
            agent: super::files_verify::agent(ctx)?,
        };
        Ok((
            endpoint(ctx, &copy.source).await?,
            endpoint(ctx, &copy.target).await?,
            options,
        ))
    }
}

/// The target's position at promotion journaled by this attempt: the last `promoted`
/// since the last undo (after an undo, the target follows the source again and a new
/// attempt promotes it at a new position; a resumed attempt keeps its own).
fn this_attempts_promotion(ctx: &StepCtx<'_>) -> Result<Option<Position>, EngineError> {
    let mut found = None;
    for r in ctx.journal.events(ctx.run_id)? {
        if let Event::StateRecorded { step, label, body } = &r.event {
            if step != ctx.id() {
                continue;
            }
            match label.as_str() {
                PROMOTED => {
                    found = Some(serde_json::from_str(body).map_err(|e| {
                        ctx.failed(format!(
                            "journaled promotion of `{step}` is unreadable: {e}"
                        ))
                    })?)
                }
                UNDONE => found = None,
                _ => {}
            }
        }
    }
    Ok(found)
}

const PROMOTED: &str = "promoted";
const UNDONE: &str = "undone";

fn sync_id(s: &MysqlSwitchStep) -> String {
    s.sync.value.clone()
}

#[async_trait]
impl Switcher for MysqlSwitch<'_> {
    type Report = SwitchReport;
    type Ready = MarkerGone;
    type ReadyUndo = ();

    fn plan(&self, _values: &Values<'_>) -> Result<Vec<String>, EngineError> {
        let s = self.0;
        let mut lines = vec![if s.by_command() {
            "freeze writes with the plan's freeze_command, then read_only = 1 on the source"
                .to_string()
        } else {
            "freeze writes on the source: read_only = 1".to_string()
        }];
        if !matches!(
            s.sessions.as_ref().map(|m| m.value),
            Some(SessionsMode::Keep)
        ) {
            lines.push("end the source's client sessions (KILL CONNECTION)".into());
        }
        lines.push(format!(
            "wait (at most {}s) until the target has applied the source's last GTID; stop replication of step `{}`; advance auto-increment counters behind; enable events; the target writable",
            s.max_wait.unwrap_or(Duration::from_secs(30)).as_secs(),
            s.sync.value
        ));
        if s.unfreeze_command.is_some() {
            lines.push("run the plan's unfreeze_command".into());
        }
        if s.reverse {
            lines.push("then the source replicates from the target (reverse): a rollback loses nothing written on the target".into());
        }
        lines.push("the freeze window is measured and journaled".into());
        Ok(lines)
    }

    async fn is_switched(&self, ctx: &StepCtx<'_>) -> Result<bool, EngineError> {
        let (source, target, o) = self.setup(ctx).await?;
        switch::is_switched(ctx.exec, &source, &target, &o.agent)
            .await
            .map_err(|e| failed(ctx, e))
    }

    /// Before a coordinated move holds requests: the marker removal's round trips.
    async fn prepare(&self, ctx: &StepCtx<'_>) -> Result<Option<MarkerGone>, EngineError> {
        let (_, target, options) = self.setup(ctx).await?;
        remove_marker(ctx, &target, &options).await?;
        Ok(Some(MarkerGone))
    }

    async fn switch(
        &self,
        ctx: &StepCtx<'_>,
        ready: Option<MarkerGone>,
    ) -> Result<SwitchReport, EngineError> {
        let (source, target, options) = self.setup(ctx).await?;
        if ready.is_none() {
            remove_marker(ctx, &target, &options).await?;
        }
        let journal_error: Mutex<Option<EngineError>> = Mutex::new(None);
        let on_event = |e: SwitchEvent| match e {
            SwitchEvent::Note(line) => ctx.detail(line),
            SwitchEvent::Promoting(p) => {
                let r = match this_attempts_promotion(ctx) {
                    Ok(Some(_)) => Ok(()),
                    Ok(None) => save_state(ctx, PROMOTED, &p),
                    Err(e) => Err(e),
                };
                if let Err(e) = r {
                    journal_error
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get_or_insert(e);
                }
            }
        };
        let result = switch::switch(ctx.exec, &source, &target, &options, &on_event).await;
        if let Some(e) = journal_error
            .into_inner()
            .unwrap_or_else(|p| p.into_inner())
        {
            return Err(e);
        }
        result.map_err(|e| failed(ctx, e))
    }

    async fn undo(&self, ctx: &StepCtx<'_>, _: Option<()>) -> Result<Option<String>, EngineError> {
        let (source, target, options) = self.setup(ctx).await?;
        let message = switch::undo(ctx.exec, &source, &target, &options)
            .await
            .map_err(|e| failed(ctx, e))?;
        // The next attempt (a move applied again) promotes at a position of its own.
        save_state(ctx, UNDONE, &true)?;
        Ok(Some(message))
    }
}
