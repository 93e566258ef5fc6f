//! Replication objects the plan's `postgres.sync` steps create (publication and slot on the
//! source, subscription on the target) that still exist while no finished step accounts for
//! them: `cutover status` warns about them, since an abandoned slot makes the source server
//! keep its WAL until its disk fills.

use crate::context::Values;
use crate::hosts::targets;
use crate::secrets::Secrets;
use crate::session::Session;
use crate::steps::postgres::endpoint_with;
use crate::steps::postgres_sync::named;
use cutover_data::postgres::replication::{leftovers, Leftovers, SyncOptions};
use cutover_exec::Executor;
use cutover_journal::{RunState, StepStatus};
use cutover_plan::steps::PostgresSyncStep;
use cutover_plan::{Step, StepKind};
use std::time::Duration;

/// How long the servers get to answer before status gives up on them.
const LOOK_TIMEOUT: Duration = Duration::from_secs(30);

/// One warning per `postgres.sync` step whose objects exist unaccounted for, each naming
/// them and what to do. Looks only when there is something to explain: a sync step that is
/// applied in a run still in progress has its objects on purpose.
pub(crate) async fn replication_warnings(
    session: &Session,
    state: Option<&RunState>,
) -> Vec<String> {
    let unexplained: Vec<(&Step, &PostgresSyncStep)> = session
        .plan
        .steps()
        .filter_map(|(_, step)| match &step.kind {
            StepKind::PostgresSync(s) => Some((step, s)),
            _ => None,
        })
        .filter(|(step, _)| !expected(state, &step.id.value))
        .collect();
    if unexplained.is_empty() {
        return Vec::new();
    }
    let secrets = match Secrets::resolve(&session.plan) {
        Ok(s) => s,
        Err(e) => {
            return vec![format!(
                "cannot look for replication objects left by {}: {e}",
                ids(&unexplained)
            )]
        }
    };
    let exec = Executor::new(
        targets(&session.plan, &session.journal_path),
        secrets.redactor(),
    );
    let values = Values {
        plan: &session.plan,
        run_id: state.map(|s| s.run.id.as_str()),
        secrets: Some(&secrets),
    };
    let mut warnings = Vec::new();
    for (step, sync) in unexplained {
        let id = &step.id.value;
        let (found, dbs) = match look(&exec, &values, session, sync).await {
            Ok((found, _)) if found.is_empty() => continue,
            Ok(found) => found,
            Err(e) => {
                warnings.push(format!(
                    "cannot look for replication objects left by `{id}`: {}",
                    exec.redactor().redact(&e)
                ));
                continue;
            }
        };
        let warning = describe(id, sync, &named(sync), found, dbs, state);
        warnings.push(exec.redactor().redact(&warning));
    }
    exec.disconnect_all().await;
    warnings
}

/// True when the journal accounts for the step's objects: applied in a run still going.
fn expected(state: Option<&RunState>, id: &str) -> bool {
    state.is_some_and(|s| {
        s.outcome.is_none()
            && s.step(id)
                .is_some_and(|st| st.status == StepStatus::Applied)
    })
}

fn ids(steps: &[(&Step, &PostgresSyncStep)]) -> String {
    steps
        .iter()
        .map(|(s, _)| format!("`{}`", s.id.value))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn look(
    exec: &Executor,
    values: &Values<'_>,
    session: &Session,
    sync: &PostgresSyncStep,
) -> Result<(Leftovers, [String; 2]), String> {
    let render = |t: &cutover_plan::Template| {
        t.render(values)
            .map_err(|e| crate::error::EngineError::Invalid(e.to_string()))
    };
    let source = endpoint_with(&session.plan, &sync.source, render).map_err(|e| e.to_string())?;
    let target = endpoint_with(&session.plan, &sync.target, render).map_err(|e| e.to_string())?;
    match tokio::time::timeout(
        LOOK_TIMEOUT,
        leftovers(exec, &source, &target, &named(sync)),
    )
    .await
    {
        Ok(r) => r
            .map(|found| (found, [source.db, target.db]))
            .map_err(|e| e.to_string()),
        Err(_) => Err(format!(
            "the servers did not answer within {}s",
            LOOK_TIMEOUT.as_secs()
        )),
    }
}

/// The warning: the objects found, one a line, and a hint fitting where the run stands.
fn describe(
    id: &str,
    sync: &PostgresSyncStep,
    names: &SyncOptions,
    found: Leftovers,
    [source_db, target_db]: [String; 2],
    state: Option<&RunState>,
) -> String {
    let (source, target) = (&sync.source.host.value, &sync.target.host.value);
    let mut lines = vec![format!(
        "`{id}` (postgres.sync) left replication objects that no finished step accounts for:"
    )];
    let mut by_hand = Vec::new();
    if found.publication {
        lines.push(format!(
            "  publication `{}` on {source} (database {source_db})",
            names.publication
        ));
        by_hand.push(format!(
            "on {source} `DROP PUBLICATION {};` in database {source_db}",
            names.publication
        ));
    }
    if found.slot {
        lines.push(format!(
            "  replication slot `{}` on {source}: the server keeps WAL for it until it is dropped",
            names.subscription
        ));
        by_hand.push(format!(
            "on {source} `SELECT pg_drop_replication_slot('{}');`",
            names.subscription
        ));
    }
    if found.subscription {
        lines.push(format!(
            "  subscription `{}` on {target} (database {target_db})",
            names.subscription
        ));
        by_hand.insert(
            0,
            format!(
                "on {target} `DROP SUBSCRIPTION {};` in database {target_db}",
                names.subscription
            ),
        );
    }
    let hint = match state.map(|s| s.outcome.as_deref()) {
        Some(None) => "`cutover rollback` removes them, or `cutover apply` resumes the sync".into(),
        Some(Some(outcome)) => format!(
            "the run is {outcome}, so drop them by hand: {}",
            by_hand.join(", then ")
        ),
        None => format!(
            "no run of this plan made them, yet they carry its names; if they are leftovers, drop them by hand: {}",
            by_hand.join(", then ")
        ),
    };
    lines.push(format!("  hint: {hint}"));
    lines.join("\n")
}
