//! The server connections a proxy keeps to the upstream it was switched away from
//! (HAProxy, see `cutover_traffic::proxy::kept`): let go of at once after a switch, so that
//! every client moves with it, and emptied before that upstream stops.

use super::traffic::{switcher, CtxRunner};
use crate::context::StepCtx;
use crate::error::EngineError;
use cutover_traffic::proxy::{Kept, Switcher};
use std::time::{Duration, Instant};

/// How long a switch waits for the connections kept to the old upstream to be let go of.
/// Each goes between two of its requests, within a few flips 20 ms apart; one carrying a
/// long request (a download, a tunnel) is named, not waited for.
const LET_GO_WITHIN: Duration = Duration::from_secs(1);

/// After a switch of `s` from `old` to `to`: a proxy that keeps server connections across
/// a switch is made to let go of those still open to `old`, so that each client's next
/// request reaches `to`, not only the clients whose connection was idle at the change (under
/// a steady keep-alive client, one busy at the change never is again, and stays with `old`
/// for as long as the client keeps sending). What was seen, as `"; ..."` for the step's
/// summary, or nothing when there was nothing to let go of.
pub(crate) async fn let_go_of_old(
    ctx: &StepCtx<'_>,
    s: &dyn Switcher,
    old: &str,
    to: &str,
) -> Result<String, EngineError> {
    Ok(match release_after_switch(ctx, s, old, to).await? {
        Some((Kept::Left(0), took)) => {
            format!("; no connection left to {old} ({} ms)", took.as_millis())
        }
        Some((kept, _)) => left_over(&kept, old),
        None => String::new(),
    })
}

/// Like [`let_go_of_old`] for the connections a coordinated move's proxy kept to its hold
/// relay: only what is left over is said (the relay is cutover's own, not the user's), and
/// a failure is said, not returned (the move is made; the relay keeps forwarding to `to`).
pub(crate) async fn let_go_of_relay(
    ctx: &StepCtx<'_>,
    s: &dyn Switcher,
    relay: &str,
    to: &str,
) -> String {
    match release_after_switch(ctx, s, relay, to).await {
        Ok(Some((kept, _))) => left_over(&kept, relay),
        Ok(None) => String::new(),
        Err(e) => format!("; connections kept to the hold relay {relay} were not let go of: {e}"),
    }
}

/// Runs the proxy's release of the connections kept to `old` (live at `to`) for at most
/// [`LET_GO_WITHIN`]; what it achieved and how long it took, or `None` for a proxy that
/// keeps none (or no switch: `old` is `to`).
async fn release_after_switch(
    ctx: &StepCtx<'_>,
    s: &dyn Switcher,
    old: &str,
    to: &str,
) -> Result<Option<(Kept, Duration)>, EngineError> {
    if old == to || !s.keeps_server_connections() {
        return Ok(None);
    }
    let started = Instant::now();
    let kept = s
        .release_kept(&CtxRunner(ctx), old, to, LET_GO_WITHIN)
        .await
        .map_err(|e| ctx.failed(e.to_string()))?;
    Ok(Some((kept, started.elapsed())))
}

/// `"; ..."` naming the connections a release left to `old`, or nothing when none is.
fn left_over(kept: &Kept, old: &str) -> String {
    match kept {
        Kept::NotKept | Kept::Left(0) => String::new(),
        Kept::Left(n) => format!(
            "; {n} connection(s) to {old} still busy after {} (long requests or tunnels): their clients reach {old} until those end",
            humantime::format_duration(LET_GO_WITHIN)
        ),
        Kept::CannotRelease(why) => {
            format!("; clients on connections kept to {old} may still reach it: {why}")
        }
    }
}

/// Drains `old`, the upstream proxy `name` was switched away from, for `drain`: requests in
/// flight there finish; a proxy that keeps server connections across a switch (HAProxy) is
/// made to drop them, between two requests, until none is left open to `old`, so that
/// stopping `old` afterwards breaks no connection under a client. What was seen, in words.
pub(crate) async fn drain_old(
    ctx: &StepCtx<'_>,
    name: &str,
    old: &str,
    live: &str,
    drain: Duration,
) -> Result<String, EngineError> {
    let s = switcher(ctx.plan, name, Some(ctx.secrets))?;
    let runner = CtxRunner(ctx);
    let started = Instant::now();
    let left = s
        .release_kept(&runner, old, live, drain)
        .await
        .map_err(|e| ctx.failed(e.to_string()))?;
    let emptied = started.elapsed();
    tokio::time::sleep(drain.saturating_sub(emptied)).await;
    let waited = humantime::format_duration(drain);
    Ok(match left {
        Kept::NotKept => format!("{old} drained for {waited}"),
        Kept::CannotRelease(why) => format!(
            "{old} drained for {waited}; {} may still hold connections to it, which break under their clients when it stops: {why}",
            s.name()
        ),
        Kept::Left(0) => format!(
            "{old} drained for {waited}; {} holds no connection to it (none left after {} ms)",
            s.name(),
            emptied.as_millis()
        ),
        Kept::Left(n) => format!(
            "{old} drained for {waited}; {} still holds {n} connection(s) to it, which break under their clients when it stops: give the drain more time",
            s.name()
        ),
    })
}
