//! What the finish steps share (the switch they end, for all three); for `redis.finish` and
//! `mysql.finish`: a finish journals that it began
//! before it changes anything, and from then on neither it nor its switch can be undone
//! (the reverse replication that carried writes back to the source is being ended), so a
//! rollback stops there, naming it, having changed nothing.

use super::traffic::load_state;
use crate::context::StepCtx;
use crate::error::EngineError;
use cutover_plan::{Plan, StepKind};

/// The switch step `id` a finish ends, of the kind `pick` accepts (`kind` names it in the
/// error): validation makes sure it is, so a mismatch here is a plan changed underneath.
pub(crate) fn switch_step<'p, T>(
    plan: &'p Plan,
    id: &str,
    kind: &str,
    pick: impl Fn(&'p StepKind) -> Option<&'p T>,
) -> Result<&'p T, EngineError> {
    plan.step(id)
        .and_then(|s| pick(&s.kind))
        .ok_or_else(|| EngineError::Invalid(format!("`{id}` is not a {kind} step")))
}

/// Journaled by a finish before it changes anything.
pub(crate) const FINISHING: &str = "finish_began";

/// The finish step of switch `switch` (any store) and its kind's name, if the plan has one.
pub(crate) fn finish_of<'p>(plan: &'p Plan, switch: &str) -> Option<(&'p str, &'static str)> {
    plan.steps().find_map(|(_, s)| {
        let named = match &s.kind {
            StepKind::PostgresFinish(f) => &f.switch.value,
            StepKind::RedisFinish(f) => &f.switch.value,
            StepKind::MysqlFinish(f) => &f.switch.value,
            _ => return None,
        };
        (named == switch).then(|| (s.id.value.as_str(), s.kind.name()))
    })
}

/// True when a finish step of `switch` began in this run.
pub(crate) fn began(ctx: &StepCtx<'_>, switch: &str) -> Result<bool, EngineError> {
    match finish_of(ctx.plan, switch) {
        Some((id, _)) => Ok(load_state::<bool>(ctx, id, FINISHING)?.is_some()),
        None => Ok(false),
    }
}

/// Fails an undo of `switch` once a finish of it began.
pub(crate) fn refuse_undo(ctx: &StepCtx<'_>, switch: &str) -> Result<(), EngineError> {
    match finish_of(ctx.plan, switch) {
        Some((id, kind)) if began(ctx, switch)? => Err(refusal(ctx, id, kind, switch)),
        _ => Ok(()),
    }
}

/// The refusal of a rollback past finish step `id` of kind `kind`.
pub(crate) fn refusal(ctx: &StepCtx<'_>, id: &str, kind: &str, switch: &str) -> EngineError {
    ctx.failed(format!(
        "`{id}` ({kind}) ended the reverse replication of `{switch}`: writes made on the new server since then can no longer go back to the old one, so the run cannot be rolled back past `{id}`. Nothing was changed. To go back, migrate again in the other direction (a plan with old and new swapped)"
    ))
}
