//! What a `postgres.switch` with `reverse` leaves running on purpose (the reverse
//! subscription on the source, its slot on the target, the sync's publication, the source
//! frozen read-only) until a `postgres.finish` step ends it: `cutover status` lists it, one
//! line per object, with the host it is on, since the slot makes the target keep WAL for as
//! long as it exists.

use crate::context::Values;
use crate::hosts::observer_targets;
use crate::secrets::Secrets;
use crate::session::Session;
use crate::steps::postgres::endpoint_with;
use cutover_data::postgres::replication::finish::{left_running, LeftRunning};
use cutover_data::postgres::replication::switch::{Freeze, SwitchOptions};
use cutover_exec::Executor;
use cutover_journal::{RunState, StepStatus};
use cutover_plan::steps::{PostgresSwitchStep, PostgresSyncStep};
use cutover_plan::{Plan, Step, StepKind};
use std::time::Duration;

/// How long the servers get to answer before status gives up on them.
const LOOK_TIMEOUT: Duration = Duration::from_secs(30);

/// One entry per applied switch of `state` whose reverse replication no finish has ended:
/// what is found running, and what ends it.
pub(crate) async fn left_by_switches(session: &Session, state: Option<&RunState>) -> Vec<String> {
    let Some(state) = state else {
        return Vec::new();
    };
    let plan = &session.plan;
    let open: Vec<(&Step, &PostgresSwitchStep, &PostgresSyncStep)> = plan
        .steps()
        .filter_map(|(_, step)| match &step.kind {
            StepKind::PostgresSwitch(s) if s.reverse => Some((step, s)),
            _ => None,
        })
        .filter(|(step, _)| {
            state
                .step(&step.id.value)
                .is_some_and(|st| st.status == StepStatus::Applied)
        })
        .filter(|(step, _)| finish_of(plan, &step.id.value).is_none_or(|f| !state.is_done(f)))
        .filter_map(
            |(step, s)| match plan.step(&s.sync.value).map(|x| &x.kind) {
                Some(StepKind::PostgresSync(sync)) => Some((step, s, sync)),
                _ => None,
            },
        )
        .collect();
    let replicas = crate::left_by_replicas::open(plan, state);
    if open.is_empty() && replicas.is_empty() {
        return Vec::new();
    }
    let secrets = match Secrets::resolve(plan) {
        Ok(s) => s,
        Err(e) => {
            return vec![format!(
                "cannot look for what the switches left running: {e}"
            )]
        }
    };
    let exec = Executor::new(
        observer_targets(plan, &session.journal_path),
        secrets.redactor(),
    );
    let values = Values {
        plan,
        run_id: Some(state.run.id.as_str()),
        secrets: Some(&secrets),
        // What the switches left running is read from the journal's state, not from
        // captured step outputs.
        outputs: None,
    };
    let mut lines = Vec::new();
    for (step, switch, sync) in open {
        let id = &step.id.value;
        let found = match look(&exec, &values, plan, sync).await {
            Ok(found) => found,
            Err(e) => {
                lines.push(
                    exec.redactor()
                        .redact(&format!("cannot look for what `{id}` left running: {e}")),
                );
                continue;
            }
        };
        if found == LeftRunning::default() {
            continue;
        }
        lines.push(describe(plan, id, switch, sync, &found));
    }
    lines.extend(crate::left_by_replicas::lines(&exec, &values, &replicas).await);
    exec.disconnect_all().await;
    lines
}

/// The finish step of switch `id`, if the plan has one.
fn finish_of<'p>(plan: &'p Plan, id: &str) -> Option<&'p str> {
    crate::steps::store_finish::finish_of(plan, id).map(|(f, _)| f)
}

async fn look(
    exec: &Executor,
    values: &Values<'_>,
    plan: &Plan,
    sync: &PostgresSyncStep,
) -> Result<LeftRunning, String> {
    let render = |t: &cutover_plan::Template| {
        t.render(values)
            .map_err(|e| crate::error::EngineError::Invalid(e.to_string()))
    };
    let source = endpoint_with(plan, &sync.source, render).map_err(|e| e.to_string())?;
    let target = endpoint_with(plan, &sync.target, render).map_err(|e| e.to_string())?;
    let options = SwitchOptions {
        sync: crate::steps::postgres_sync::named(sync),
        freeze: Freeze::ReadOnly,
        reverse: None,
        max_wait: Duration::from_secs(30),
    };
    match tokio::time::timeout(LOOK_TIMEOUT, left_running(exec, &source, &target, &options)).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err(format!(
            "the servers did not answer within {}s",
            LOOK_TIMEOUT.as_secs()
        )),
    }
}

fn describe(
    plan: &Plan,
    id: &str,
    switch: &PostgresSwitchStep,
    sync: &PostgresSyncStep,
    found: &LeftRunning,
) -> String {
    let (old, new) = (&sync.source.host.value, &sync.target.host.value);
    let names = crate::steps::postgres_sync::named(sync);
    let mut lines = vec![format!("by `{id}` (postgres.switch):")];
    if found.reverse_subscription {
        lines.push(format!(
            "  {old}: subscription `cutover_reverse`: writes made on {new} flow back"
        ));
    }
    if found.reverse_slot {
        lines.push(format!(
            "  {new}: replication slot `cutover_reverse`: {new} keeps WAL for it until it is dropped"
        ));
    }
    if found.publication {
        lines.push(format!("  {old}: publication `{}`", names.publication));
    }
    if found.source_frozen {
        lines.push(format!(
            "  {old}: the database is frozen read-only{}",
            if switch.by_command() {
                " (and the plan's freeze_command may still hold)"
            } else {
                ""
            }
        ));
    }
    lines.push(match finish_of(plan, id) {
        Some(f) => format!("  until step `{f}` (postgres.finish) runs: `cutover apply` runs it"),
        None => format!(
            "  until a postgres.finish step ends it: add `[[stages.steps]] id = \"finish\" kind = \"postgres.finish\" switch = \"{id}\"` after the soak, then `cutover apply`"
        ),
    });
    lines.join("\n")
}
