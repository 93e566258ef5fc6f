//! What a `redis.switch` or a `mysql.switch` with `reverse` leaves running on purpose (the
//! source following the target, so that a rollback carries back the writes made on it; the
//! source refusing writes meanwhile) until a `redis.finish` or `mysql.finish` step ends it:
//! `cutover status` lists it, one line per host, beside PostgreSQL's.

use crate::context::Values;
use crate::steps::store_finish::finish_of;
use crate::steps::{mysql, redis};
use cutover_data::agent::AgentBinary;
use cutover_data::mysql::finish::left_running as mysql_left_running;
use cutover_data::redis::Pair;
use cutover_exec::Executor;
use cutover_journal::{RunState, StepStatus};
use cutover_plan::{Plan, Step, StepKind};
use std::time::Duration;

/// How long the servers get to answer before status gives up on them.
const LOOK_TIMEOUT: Duration = Duration::from_secs(30);

/// The applied Redis and MariaDB/MySQL switches with reverse replication no finish ended.
pub(crate) fn open<'p>(plan: &'p Plan, state: &RunState) -> Vec<&'p Step> {
    plan.steps()
        .map(|(_, step)| step)
        .filter(|step| match &step.kind {
            StepKind::RedisSwitch(s) => s.reverse(),
            StepKind::MysqlSwitch(s) => s.reverse,
            _ => false,
        })
        .filter(|step| {
            state
                .step(&step.id.value)
                .is_some_and(|st| st.status == StepStatus::Applied)
        })
        .filter(|step| finish_of(plan, &step.id.value).is_none_or(|(f, _)| !state.is_done(f)))
        .collect()
}

/// One entry per switch of `open` that left something running.
pub(crate) async fn lines(exec: &Executor, values: &Values<'_>, open: &[&Step]) -> Vec<String> {
    let mut lines = Vec::new();
    for step in open {
        let id = &step.id.value;
        let found = match tokio::time::timeout(LOOK_TIMEOUT, look(exec, values, step)).await {
            Ok(Ok(found)) => found,
            Ok(Err(e)) => {
                lines.push(
                    exec.redactor()
                        .redact(&format!("cannot look for what `{id}` left running: {e}")),
                );
                continue;
            }
            Err(_) => {
                lines.push(format!(
                    "cannot look for what `{id}` left running: the servers did not answer within {}s",
                    LOOK_TIMEOUT.as_secs()
                ));
                continue;
            }
        };
        if found.is_empty() {
            continue;
        }
        let mut entry = vec![format!("by `{id}` ({}):", step.kind.name())];
        entry.extend(found);
        let finish = match &step.kind {
            StepKind::RedisSwitch(_) => "redis.finish",
            _ => "mysql.finish",
        };
        entry.push(match finish_of(values.plan, id) {
            Some((f, kind)) => format!("  until step `{f}` ({kind}) runs: `cutover apply` runs it"),
            None => format!(
                "  until a {finish} step ends it: add `[[stages.steps]] id = \"finish\" kind = \"{finish}\" switch = \"{id}\"` after the soak, then `cutover apply`"
            ),
        });
        lines.push(entry.join("\n"));
    }
    lines
}

/// What step `step` left running, a line per object.
async fn look(exec: &Executor, values: &Values<'_>, step: &Step) -> Result<Vec<String>, String> {
    let plan = values.plan;
    let render = |t: &cutover_plan::Template| {
        t.render(values)
            .map_err(|e| crate::error::EngineError::Invalid(e.to_string()))
    };
    let agent = AgentBinary::current().map_err(|e| e.to_string())?;
    match &step.kind {
        StepKind::RedisSwitch(s) => {
            let Some(StepKind::RedisSync(sync)) = plan.step(&s.sync.value).map(|x| &x.kind) else {
                return Ok(Vec::new());
            };
            let source = redis::endpoint_quietly(exec, plan, &sync.source, render).await?;
            let target = redis::endpoint_quietly(exec, plan, &sync.target, render).await?;
            let (old, new) = (&sync.source.host.value, &sync.target.host.value);
            let mut pair = Pair::open(exec, &agent, &source, &target)
                .await
                .map_err(|e| e.to_string())?;
            let found = pair.left_running().await;
            pair.close().await;
            let found = found.map_err(|e| e.to_string())?;
            Ok(if found.source_follows {
                vec![format!(
                    "  {old}: follows {new} (REPLICAOF): writes made on {new} flow back, and {old} refuses writes as a replica"
                )]
            } else {
                Vec::new()
            })
        }
        StepKind::MysqlSwitch(s) => {
            let sync = mysql::sync_step(plan, &s.sync.value).map_err(|e| e.to_string())?;
            let copy = mysql::copy_step(plan, &sync.copy.value).map_err(|e| e.to_string())?;
            let source = mysql::endpoint_quietly(exec, plan, &copy.source, render).await?;
            let target = mysql::endpoint_quietly(exec, plan, &copy.target, render).await?;
            let (old, new) = (&copy.source.host.value, &copy.target.host.value);
            let found = mysql_left_running(exec, &source, &target, &agent)
                .await
                .map_err(|e| e.to_string())?;
            let mut lines = Vec::new();
            if found.reverse_from.is_some() {
                lines.push(format!(
                    "  {old}: replicates from {new} (reverse replication): writes made on {new} flow back"
                ));
            }
            if found.source_frozen {
                lines.push(format!("  {old}: the server is read-only (read_only)"));
            }
            Ok(lines)
        }
        _ => Ok(Vec::new()),
    }
}
