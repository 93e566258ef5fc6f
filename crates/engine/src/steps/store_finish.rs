//! The one runner of every store's finish step (`postgres.finish`, `redis.finish`,
//! `mysql.finish`), which ends the reverse replication a switch left running once the run no
//! longer needs to roll back ([`Finisher`]): it frames the plan's lines, journals that the
//! finish began before the store changes anything, concludes with what the store did, and
//! refuses every rollback over it, so that a new store writes only what it reads, does and
//! leaves. Also what the switches share with it: a finish that began (journaled) makes the
//! undo of its switch refuse too, naming it, having changed nothing, since the reverse
//! replication that carried writes back to the source is being ended.

use super::traffic::{load_state, save_state};
use crate::context::{StepCtx, Values};
use crate::error::EngineError;
use crate::step::{Applied, StepRunner, Verified};
use async_trait::async_trait;
use cutover_plan::{Plan, StepKind};

/// One store's side of a finish step.
#[async_trait]
pub(crate) trait Finisher: Send + Sync {
    /// What the finish reads before it changes anything (servers, options, journaled
    /// states): a failure there leaves the switch undoable.
    type Ready: Send;

    /// True when the finish journals that it began before it changes anything (from then
    /// on the undo of its switch is refused); false for a store that marks it on its
    /// servers instead (PostgreSQL's target marker says `finishing`).
    const JOURNALS_BEGIN: bool = true;

    /// What the refusal of a rollback calls the new side ("the new server since then").
    const NEW_SIDE: &'static str = "server";

    /// The id of the switch step whose reverse replication ends.
    fn switch(&self) -> &str;

    /// For `cutover plan`, after "end the reverse replication `SWITCH` left running: ".
    fn ends(&self) -> &'static str;

    /// For `cutover plan`: what else the finish clears and what the source is left as.
    fn leaves(&self) -> Vec<String>;

    /// True when the servers stand finished (the step is in place).
    async fn is_finished(&self, ctx: &StepCtx<'_>) -> Result<bool, EngineError>;

    /// Reads what [`finish`](Finisher::finish) needs, changing nothing.
    async fn ready(&self, ctx: &StepCtx<'_>) -> Result<Self::Ready, EngineError>;

    /// Ends the reverse replication (or what a repeat finds left of it); says what was done,
    /// one item each.
    async fn finish(
        &self,
        ctx: &StepCtx<'_>,
        ready: Self::Ready,
    ) -> Result<Vec<String>, EngineError>;
}

/// A finish step of the store `F`.
pub(crate) struct StoreFinish<F>(pub F);

#[async_trait]
impl<F: Finisher> StepRunner for StoreFinish<F> {
    fn plan(&self, _values: &Values<'_>) -> Result<Vec<String>, EngineError> {
        let switch = self.0.switch();
        let mut lines = vec![format!(
            "end the reverse replication `{switch}` left running: {}",
            self.0.ends()
        )];
        lines.extend(self.0.leaves());
        lines.push(format!(
            "afterwards `{switch}` cannot be rolled back: writes made on the target no longer flow back"
        ));
        Ok(lines)
    }

    async fn verify(&self, ctx: &StepCtx<'_>) -> Result<Verified, EngineError> {
        if F::JOURNALS_BEGIN && !began(ctx, self.0.switch())? {
            return Ok(Verified::NotInPlace);
        }
        Ok(if self.0.is_finished(ctx).await? {
            Verified::InPlace
        } else {
            Verified::NotInPlace
        })
    }

    async fn apply(&self, ctx: &StepCtx<'_>) -> Result<Applied, EngineError> {
        let ready = self.0.ready(ctx).await?;
        if F::JOURNALS_BEGIN {
            // Before anything changes: from here an undo of the switch is refused.
            save_state(ctx, FINISHING, &true)?;
        }
        let done = self.0.finish(ctx, ready).await?;
        Ok(Applied::Done {
            summary: format!(
                "reverse replication of `{}` ended: {}",
                self.0.switch(),
                done.join(", ")
            ),
        })
    }

    /// Refused: the reverse replication that carried writes back is gone, so nothing
    /// before this step can be undone without losing the writes made on the target.
    async fn rollback(&self, ctx: &StepCtx<'_>) -> Result<Option<String>, EngineError> {
        let kind = ctx.step.kind.name();
        Err(refusal(ctx, ctx.id(), kind, self.0.switch(), F::NEW_SIDE))
    }
}

/// `writable` when the plan's `source` is "writable", else `read_only` (in the store's own
/// type of what the source is left as).
pub(crate) fn source_after<A>(writable_asked: bool, writable: A, read_only: A) -> A {
    if writable_asked {
        writable
    } else {
        read_only
    }
}

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
        Some((id, kind)) if began(ctx, switch)? => Err(refusal(ctx, id, kind, switch, "server")),
        _ => Ok(()),
    }
}

/// The refusal of a rollback past finish step `id` of kind `kind` (`new_side` names what
/// took the writes since).
fn refusal(ctx: &StepCtx<'_>, id: &str, kind: &str, switch: &str, new_side: &str) -> EngineError {
    ctx.failed(format!(
        "`{id}` ({kind}) ended the reverse replication of `{switch}`: writes made on the new {new_side} since then can no longer go back to the old one, so the run cannot be rolled back past `{id}`. Nothing was changed. To go back, migrate again in the other direction (a plan with old and new swapped)"
    ))
}

#[cfg(test)]
#[path = "store_finish_tests.rs"]
mod tests;
