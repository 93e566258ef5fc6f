//! Schema drift while a `postgres.sync` runs: logical replication does not carry DDL, so a
//! change made on the source since the sync started never reaches the target. `cutover
//! status` compares the source's schema with the fingerprint the sync journaled and, when
//! it changed, with the target's, and names each object the target lacks.

use crate::context::Values;
use crate::hosts::observer_targets;
use crate::secrets::Secrets;
use crate::session::Session;
use crate::steps::postgres::endpoint_with;
use crate::steps::postgres_sync::recorded_schema;
use cutover_data::postgres::replication::drift::{self, Drift};
use cutover_exec::Executor;
use cutover_journal::{RunState, StepStatus};
use cutover_plan::steps::PostgresSyncStep;
use cutover_plan::StepKind;
use std::time::Duration;

/// How long the servers get to answer before status gives up on them.
const LOOK_TIMEOUT: Duration = Duration::from_secs(30);

/// One warning per running sync whose source's schema changed and whose target lacks the
/// change, naming each object and what to do.
pub(crate) async fn drift_warnings(session: &Session, state: Option<&RunState>) -> Vec<String> {
    let Some(state) = state.filter(|s| s.outcome.is_none()) else {
        return Vec::new();
    };
    let running: Vec<(&str, &PostgresSyncStep)> = session
        .plan
        .steps()
        .filter_map(|(_, step)| match &step.kind {
            StepKind::PostgresSync(s) => Some((step.id.value.as_str(), s)),
            _ => None,
        })
        .filter(|(id, _)| syncing(session, state, id))
        .collect();
    if running.is_empty() {
        return Vec::new();
    }
    let secrets = match Secrets::resolve(&session.plan) {
        Ok(s) => s,
        Err(e) => return vec![format!("cannot look for schema drift: {e}")],
    };
    let exec = Executor::new(
        observer_targets(&session.plan, &session.journal_path),
        secrets.redactor(),
    );
    let values = Values {
        plan: &session.plan,
        run_id: Some(state.run.id.as_str()),
        secrets: Some(&secrets),
        outputs: None,
    };
    let mut warnings = Vec::new();
    for (id, sync) in running {
        let warning = match look(&exec, &values, session, state, id, sync).await {
            Ok(Drift::Changed(changed)) => {
                let mut lines = vec![format!(
                    "`{id}` (postgres.sync): the source's schema changed since the sync started, and logical replication does not carry DDL: {} object(s) differ on the target:",
                    changed.len()
                )];
                lines.extend(drift::describe(&changed, 20));
                lines.push(
                    "  hint: apply the same DDL on the target; the switch refuses until then"
                        .into(),
                );
                lines.join("\n")
            }
            Ok(_) => continue,
            Err(e) => format!("cannot look for schema drift of `{id}`: {e}"),
        };
        warnings.push(exec.redactor().redact(&warning));
    }
    exec.disconnect_all().await;
    warnings
}

/// True while step `id` replicates: applied (or running) in a run still going, with a
/// fingerprint journaled, and no switch of it applied yet.
fn syncing(session: &Session, state: &RunState, id: &str) -> bool {
    let Some(st) = state.step(id) else {
        return false;
    };
    let active = matches!(st.status, StepStatus::Applied | StepStatus::InFlight);
    let switched = session.plan.steps().any(|(_, step)| match &step.kind {
        StepKind::PostgresSwitch(s) if s.sync.value == id => state
            .step(&step.id.value)
            .is_some_and(|sw| sw.status != StepStatus::Pending),
        _ => false,
    });
    active && st.schema.is_some() && !switched
}

async fn look(
    exec: &Executor,
    values: &Values<'_>,
    session: &Session,
    state: &RunState,
    id: &str,
    sync: &PostgresSyncStep,
) -> Result<Drift, String> {
    let render = |t: &cutover_plan::Template| {
        t.render(values)
            .map_err(|e| crate::error::EngineError::Invalid(e.to_string()))
    };
    let source = endpoint_with(&session.plan, &sync.source, render).map_err(|e| e.to_string())?;
    let target = endpoint_with(&session.plan, &sync.target, render).map_err(|e| e.to_string())?;
    let recorded = recorded_schema(state, id);
    match tokio::time::timeout(
        LOOK_TIMEOUT,
        drift::check(exec, &source, &target, recorded.as_ref()),
    )
    .await
    {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err(format!(
            "the servers did not answer within {}s",
            LOOK_TIMEOUT.as_secs()
        )),
    }
}
