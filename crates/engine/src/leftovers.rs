//! Replication objects the plan's `postgres.sync` steps create (publication and slot on the
//! source, subscription on the target) that still exist while no finished step accounts for
//! them: `cutover status` warns about them, since an abandoned slot makes the source server
//! keep its WAL until its disk fills.

use crate::context::Values;
use crate::hosts::observer_targets;
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
/// them and what to do. Looks only when the journal has a run whose state does not explain
/// them (see [`Accounted`]).
pub(crate) async fn replication_warnings(
    session: &Session,
    state: Option<&RunState>,
) -> Vec<String> {
    // With no run in the journal, cutover made nothing here to warn about.
    let Some(state) = state else {
        return Vec::new();
    };
    let unexplained: Vec<(&Step, &PostgresSyncStep)> = session
        .plan
        .steps()
        .filter_map(|(_, step)| match &step.kind {
            StepKind::PostgresSync(s) => Some((step, s)),
            _ => None,
        })
        .filter(|(step, _)| accounted(state, &step.id.value) != Accounted::All)
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
    for (step, sync) in unexplained {
        let id = &step.id.value;
        let (found, dbs) = match look(&exec, &values, session, sync).await {
            Ok((mut found, dbs)) => {
                if accounted(state, id) == Accounted::Publication {
                    found.publication = false;
                }
                if found.is_empty() {
                    continue;
                }
                (found, dbs)
            }
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

/// Which of a sync step's objects the journal accounts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Accounted {
    /// All of them: the step is applied in a run still going (the sync runs on purpose).
    All,
    /// The publication: the run completed (the switch dropped the subscription and its
    /// slot, and keeps the publication for a rollback after the switch).
    Publication,
    /// None: the step is not applied (interrupted, failed, rolled back, not yet run).
    Nothing,
}

fn accounted(state: &RunState, id: &str) -> Accounted {
    let applied = state
        .step(id)
        .is_some_and(|st| st.status == StepStatus::Applied);
    match state.outcome.as_deref() {
        None if applied => Accounted::All,
        Some("completed") if applied => Accounted::Publication,
        _ => Accounted::Nothing,
    }
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
    state: &RunState,
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
    let hint = match state.outcome.as_deref() {
        None => "`cutover rollback` removes them, or `cutover apply` resumes the sync".into(),
        Some(outcome) => format!(
            "the run is {outcome}, so drop them by hand: {}",
            by_hand.join(", then ")
        ),
    };
    lines.push(format!("  hint: {hint}"));
    lines.join("\n")
}
