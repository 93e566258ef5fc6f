//! A coordinated move (a `proxy.switch` with `data`): writes and traffic move together while
//! the proxy holds requests. The proxy's upstream is pointed at a hold relay on its host
//! (cutover_data::hold), requests in flight on the old upstream get `drain` to finish, the
//! data switches run through the apply loop ([`Members`]), then the relay is released to the
//! new upstream and the proxy pointed at it directly. Clients see latency for the length of
//! the move. A move that fails (or outlasts `max_hold`) goes back the same way: data
//! switches undone, held requests released to the old upstream. The rollback of a move is the
//! same move backwards.

use super::files_verify::{agent, sudo};
use super::traffic::CtxRunner;
use crate::context::{Members, StepCtx};
use crate::error::EngineError;
use crate::writable::WritableAgain;
use cutover_data::hold::{Hold, RelayStats};
use cutover_plan::steps::ProxySwitchStep;
use cutover_traffic::proxy::{Kept, Switcher};
use std::time::{Duration, Instant};

/// What a move did, as journaled and shown.
pub(crate) struct Moved {
    /// The relay's figures (held requests, the longest hold, failures).
    pub(crate) relay: RelayStats,
    /// From the first held request's moment (the proxy pointed at the relay) to the release.
    pub(crate) held_for: Duration,
    /// When the relay released the held requests (unix ms).
    pub(crate) released_ms: i64,
    /// `"; WHAT"` for each connection kept to the relay that was left over (see
    /// [`super::proxy_kept::let_go_of_relay`]) and when the proxy's config file was updated
    /// too (see [`super::proxy_switch::persist`]); else empty.
    pub(crate) notes: String,
}

fn members<'a>(ctx: &StepCtx<'a>) -> Result<&'a dyn Members, EngineError> {
    ctx.members.ok_or_else(|| {
        ctx.failed("a coordinated move runs only from `cutover apply` or `cutover rollback`")
    })
}

fn ids(step: &ProxySwitchStep) -> Vec<String> {
    step.data.iter().map(|d| d.value.clone()).collect()
}

/// Points the proxy at a hold relay (falling back to `fallback`), lets the requests in
/// flight elsewhere drain, and returns the running hold.
async fn hold(
    ctx: &StepCtx<'_>,
    step: &ProxySwitchStep,
    s: &dyn Switcher,
    fallback: &str,
    kept_within: Duration,
) -> Result<(Hold, Instant), EngineError> {
    let proxy = ctx
        .plan
        .proxy(&step.proxy.value)
        .ok_or_else(|| ctx.failed(format!("no proxy `{}`", step.proxy.value)))?;
    let host = proxy.host.value.clone();
    let mut hold = Hold::start(
        ctx.exec,
        &host,
        &agent(ctx)?,
        sudo(ctx, &host),
        step.max_hold(),
        fallback,
    )
    .await
    .map_err(|e| super::files_verify::agent_failed(ctx, e))?;
    let runner = CtxRunner(ctx);
    if let Err(e) = s.switch(&runner, &hold.upstream()).await {
        let _ = hold.release(fallback).await;
        let _ = hold.finish(Duration::from_secs(2)).await;
        return Err(ctx.failed(format!("cannot hold requests at {}: {e}", s.name())));
    }
    let at = Instant::now();
    ctx.detail(format!(
        "{}: requests held (relay {}); {} for those in flight on {fallback} to finish",
        s.name(),
        hold.upstream(),
        humantime::format_duration(step.drain())
    ));
    tokio::time::sleep(step.drain()).await;
    // Requests that were in flight on `fallback` at the switch kept their server connections,
    // which HAProxy reuses for the same clients' next requests, around the relay and into a
    // frozen database. It drops them only while idle, at a change of the server's address:
    // one change missed a busy one in 1 of 30 moves under a 20 ms writer, so the changes
    // repeat, for up to `kept_within`, while any is left. Connections that stay busy (long
    // requests, tunnels, a hung app) carry no new request and cannot be waited out: they
    // are named, not waited for. The move back passes zero: one change, no added wait.
    if let (true, Some(alt)) = (s.keeps_server_connections(), hold.alt_upstream()) {
        let kept = if kept_within.is_zero() {
            s.switch(&runner, &alt).await.map(|()| Kept::NotKept)
        } else {
            s.drop_kept(&runner, fallback, &hold.upstream(), &alt, kept_within)
                .await
        };
        match kept {
            Ok(Kept::NotKept | Kept::Left(0)) => {}
            Ok(Kept::Left(n)) => ctx.detail(format!(
                "{}: {n} connection(s) to {fallback} still open after {} (long requests, tunnels or a hung app); a request on one once it is free would reach {fallback}",
                s.name(),
                humantime::format_duration(kept_within)
            )),
            Ok(Kept::CannotRelease(why)) => ctx.detail(format!(
                "{}: requests on connections it kept to {fallback} may reach it during the hold: {why}",
                s.name()
            )),
            Err(e) => {
                let _ = hold.release(fallback).await;
                let _ = s.switch(&runner, fallback).await;
                let _ = hold.finish(Duration::from_secs(2)).await;
                return Err(ctx.failed(format!("cannot hold requests at {}: {e}", s.name())));
            }
        }
    }
    Ok((hold, at))
}

/// How long a move forward flips the proxy while connections to the old upstream are left
/// (see [`hold`]): at 20 ms a flip, a connection idle most of the time is caught.
const KEPT_WITHIN: Duration = Duration::from_millis(500);

/// Releases the relay to `to`, points the proxy at `to`, and lets the relay's connections
/// end. The proxy keeps pointing at the relay (which forwards to `to`) if the last switch
/// fails: nothing is dropped, and the error says so.
async fn land(
    ctx: &StepCtx<'_>,
    s: &dyn Switcher,
    mut hold: Hold,
    to: &str,
    held_at: Instant,
) -> Result<Moved, EngineError> {
    hold.release(to)
        .await
        .map_err(|e| super::files_verify::agent_failed(ctx, e))?;
    let held_for = held_at.elapsed();
    let released_ms = cutover_journal::now_ms();
    let runner = CtxRunner(ctx);
    s.switch(&runner, to).await.map_err(|e| {
        ctx.failed(format!(
            "{}: requests reach {to} through the hold relay, but the proxy could not be pointed at it directly: {e}",
            s.name()
        ))
    })?;
    // The connections the proxy kept to the relay (busy at the switch) would go on carrying
    // their clients' requests through it: to `to` for now, but around any later move (the
    // hold of a move back among them) and past the relay's own end.
    let mut let_go = String::new();
    for relay in std::iter::once(hold.upstream()).chain(hold.alt_upstream()) {
        let_go += &super::proxy_kept::let_go_of_relay(ctx, s, &relay, to).await;
    }
    // A failure to persist is reported once the relay's connections have ended.
    let persisted = super::proxy_switch::persist(ctx, s, to).await;
    let relay = hold
        .finish(Duration::from_secs(5))
        .await
        .map_err(|e| super::files_verify::agent_failed(ctx, e))?;
    Ok(Moved {
        relay,
        held_for,
        released_ms,
        notes: let_go + &persisted?,
    })
}

fn journal(ctx: &StepCtx<'_>, m: &Moved) -> Result<(), EngineError> {
    ctx.measure("move_held_seconds", m.held_for.as_secs_f64(), "s")?;
    ctx.outage(
        "requests held",
        m.released_ms - m.held_for.as_millis() as i64,
        m.released_ms,
    )?;
    ctx.measure("move_requests_held", m.relay.held as f64, "requests")?;
    ctx.measure(
        "move_longest_hold",
        m.relay.longest_held_ms as f64 / 1000.0,
        "s",
    )?;
    ctx.measure("move_requests_failed", m.relay.failed as f64, "requests")?;
    ctx.measure("move_writes_held", m.relay.held_writes as f64, "requests")?;
    ctx.measure(
        "move_longest_write_hold",
        m.relay.longest_write_ms as f64 / 1000.0,
        "s",
    )?;
    ctx.measure(
        "move_writes_failed",
        m.relay.failed_writes as f64,
        "requests",
    )
}

/// The move forward: from `previous` to `to` with the data switches of `step`.
pub(crate) async fn forward(
    ctx: &StepCtx<'_>,
    step: &ProxySwitchStep,
    s: &dyn Switcher,
    previous: &str,
    to: &str,
) -> Result<String, EngineError> {
    let members = members(ctx)?;
    let data = ids(step);
    // Checks and connections before anything is held: only the switches themselves run
    // while requests wait.
    members.prepare(&data).await?;
    let (hold, held_at) = hold(ctx, step, s, previous, KEPT_WITHIN).await?;
    // The data switches must end before the first held request would be dropped.
    let budget = step.max_hold().saturating_sub(step.drain());
    let moved = tokio::time::timeout(budget, members.apply(&data)).await;
    let failure = match moved {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some(format!(
            "the data switches took longer than the hold allows ({} of `max_hold`)",
            humantime::format_duration(budget)
        )),
    };
    if let Some(why) = failure {
        // Back where we came from: the data switches undone (writes back on the old side),
        // then the held requests released to the old upstream.
        let undone = members.undo(&data, None).await;
        let back = land(ctx, s, hold, previous, held_at).await;
        let undone = match undone {
            Ok(u) if u.is_empty() => "no data switch had been made".to_string(),
            Ok(u) => format!("undone: {}", u.join(", ")),
            Err(e) => format!("undoing the data switches failed: {e}; run `cutover rollback`"),
        };
        let back = match back {
            Ok(m) => {
                journal(ctx, &m)?;
                format!(
                    "traffic back on {previous} ({} request(s) held, released there)",
                    m.relay.held
                )
            }
            Err(e) => format!("{e}"),
        };
        return Err(ctx.failed(format!("the move stopped: {why}\n{undone}; {back}")));
    }
    let m = land(ctx, s, hold, to, held_at).await?;
    journal(ctx, &m)?;
    Ok(format!(
        "{}: {previous} -> {to} with {} in one move: {} request(s) held up to {} ms, {} failed; held {:.3} s{}",
        s.name(),
        data.join(", "),
        m.relay.held,
        m.relay.longest_held_ms,
        m.relay.failed,
        m.held_for.as_secs_f64(),
        m.notes
    ))
}

/// The move backwards (a rollback): from where traffic is now (`current`) back to
/// `previous`, the data switches undone while requests are held.
pub(crate) async fn backward(
    ctx: &StepCtx<'_>,
    step: &ProxySwitchStep,
    s: &dyn Switcher,
    current: &str,
    previous: &str,
) -> Result<String, EngineError> {
    let members = members(ctx)?;
    let data = ids(step);
    // The undo's reading (tools, how far each switch got, sessions) beside the hold and its
    // drain: requests are held as early as possible (once new has failed, every request not
    // held goes to it), and only the undo itself runs while they wait.
    let (ready, held) = tokio::join!(
        members.prepare_undo(&data),
        hold(ctx, step, s, current, Duration::ZERO)
    );
    let (hold, held_at) = held?;
    if let Err(e) = ready {
        // Nothing was undone: the held requests go back where they came from.
        let _ = land(ctx, s, hold, current, held_at).await;
        return Err(ctx.failed(format!(
            "the move back stopped before undoing anything: {e}; traffic stays on {current}, where the writes are"
        )));
    }
    let writable = WritableAgain::new(&data);
    let mut undo = std::pin::pin!(members.undo(&data, Some(&writable)));
    let settled = tokio::select! {
        undone = &mut undo => Some(undone),
        () = writable.all() => None,
    };
    let (undone, m) = match settled {
        Some(Ok(undone)) => (undone, land(ctx, s, hold, previous, held_at).await?),
        Some(Err(e)) => {
            // The data could not go back: traffic stays where the data is.
            let _ = land(ctx, s, hold, current, held_at).await;
            return Err(ctx.failed(format!(
                "the move back stopped: {e}; traffic stays on {current}, where the writes are"
            )));
        }
        None => {
            // Every source takes writes again: the requests go there now, while the undo's
            // tail (such as the forward sync made again) runs beside them.
            let (m, undone) = tokio::join!(land(ctx, s, hold, previous, held_at), undo);
            let m = m?;
            journal(ctx, &m)?;
            let undone = undone.map_err(|e| {
                ctx.failed(format!(
                    "traffic is back on {previous}, which takes writes again, but the rest of the undo failed: {e}\nhint: run `cutover rollback` to finish it"
                ))
            })?;
            return Ok(back_summary(s, previous, &undone, &m));
        }
    };
    journal(ctx, &m)?;
    Ok(back_summary(s, previous, &undone, &m))
}

fn back_summary(s: &dyn Switcher, previous: &str, undone: &[String], m: &Moved) -> String {
    format!(
        "{}: back to {previous} with {} undone in one move: {} request(s) held up to {} ms, {} failed{}",
        s.name(),
        if undone.is_empty() { "nothing".to_string() } else { undone.join(", ") },
        m.relay.held,
        m.relay.longest_held_ms,
        m.relay.failed,
        m.notes
    )
}
