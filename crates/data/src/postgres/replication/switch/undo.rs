//! Undoing a switch. The undo reads how far the switch got (the target's marker, the
//! subscriptions and slots on both sides) and carries the target's writes back. A coordinated
//! move back does the reading, and opens the sessions it needs on both servers, before it holds requests
//! ([`prepare_undo`]), so that only [`PreparedUndo::commit`] runs while they wait: on the
//! lab, finding the tools and reading the state took longer than carrying the writes back.

use super::super::super::copy::target;
use super::super::super::endpoint::Endpoint;
use super::super::super::error::PgError;
use super::super::super::live::LiveSession;
use super::super::super::session::{copy_query, run_sql, tool_error};
use super::super::super::sql::{ident, literal};
use super::super::{marker, parse_marker, sides, subscription_exists, Sides};
use super::{
    advance_sequences_sql, end_sessions, flushed_position, lift_freeze, thaw_sql, wait_confirmed,
    Freeze, SwitchOptions, END_CLIENT_SESSIONS, REVERSE,
};
use cutover_exec::Executor;
use std::time::{Duration, Instant};

/// Undoes a switch: writes made on the target since (carried back by the reverse
/// subscription) are waited for, the reverse replication removed, sequences on the source
/// advanced past the target's, and the source's freeze lifted.
/// A switch cut off part-way is undone as far as it got (its marker says how far); `None`
/// when nothing was switched.
pub async fn undo_switch(
    exec: &Executor,
    source: &Endpoint,
    target: &Endpoint,
    options: &SwitchOptions,
) -> Result<Option<String>, PgError> {
    undo_switch_then(exec, source, target, options, &|| ()).await
}

/// [`undo_switch`], calling `writable` as soon as the source takes writes again: a move
/// back releases its held requests then, while the forward sync is made again.
pub async fn undo_switch_then(
    exec: &Executor,
    source: &Endpoint,
    target: &Endpoint,
    options: &SwitchOptions,
    writable: &(dyn Fn() + Send + Sync),
) -> Result<Option<String>, PgError> {
    prepare_undo(exec, source, target, options)
        .await?
        .commit(exec, options, writable)
        .await
}

/// An undo made ready by [`prepare_undo`]: how far the switch got, read; nothing changed.
/// Keeps how long the reading took, which a move back spends holding requests.
pub struct PreparedUndo(Course, Duration);

/// What the undo has to do, from how far the switch (or an earlier undo) got.
enum Course {
    /// Nothing was switched (the switch failed before it began, or this undo already ran).
    Nothing,
    /// Stopped before the target became the primary: the source only needs its writes back.
    NotPromoted { s: Box<Sides>, created: bool },
    /// The target took writes: carried back through `sessions` (on the target, on the
    /// source) when the reverse subscription runs, else already carried back by an undo cut
    /// off after that.
    WritesBack {
        s: Box<Sides>,
        created: bool,
        sessions: Option<Box<(LiveSession, LiveSession)>>,
    },
    /// Switched without reverse replication: the source's sequences moved past the target's.
    Sequences { s: Box<Sides>, created: bool },
}

/// The reading part of an undo: the tools found, the switch's marker and the replication on
/// both sides read, the target's session opened when writes are to be carried back. Changes
/// nothing; a switch already finished is refused here.
pub async fn prepare_undo(
    exec: &Executor,
    source: &Endpoint,
    target: &Endpoint,
    options: &SwitchOptions,
) -> Result<PreparedUndo, PgError> {
    let started = Instant::now();
    let course = read_course(exec, source, target, options).await?;
    Ok(PreparedUndo(course, started.elapsed()))
}

/// How far the switch got, from its marker and the replication on both sides.
async fn read_course(
    exec: &Executor,
    source: &Endpoint,
    target: &Endpoint,
    options: &SwitchOptions,
) -> Result<Course, PgError> {
    let s = Box::new(sides(exec, source, target).await?);
    // Everything read at once, the target's session opened in case writes are to be carried
    // back: a move back holds requests while this runs, and each read is a round trip to a
    // host (under load, seconds each).
    let (state, forward, reverse, tgt, src) = tokio::join!(
        target::state(exec, &s.target),
        subscription_exists(exec, &s.target, &options.sync.subscription),
        subscription_exists(exec, &s.source, REVERSE),
        LiveSession::open(exec, &s.target),
        LiveSession::open(exec, &s.source)
    );
    let state = state?;
    let created = match parse_marker(state.comment.as_deref()) {
        Some((created, stage)) if stage == "switching" || stage == "switched" => created,
        Some((_, stage)) if stage == "finishing" || stage == "finished" => {
            return Err(super::super::finish::refusal(&s.target.db))
        }
        // The marker is set before anything is frozen: without it, nothing was switched
        // (the switch failed before it began, or this undo already ran).
        _ => return Ok(Course::Nothing),
    };
    if forward? {
        // Stopped before the target became the primary (killed inside the freeze, or failed
        // there): the subscription still runs and the target took no writes of its own.
        return Ok(Course::NotPromoted { s, created });
    }
    if reverse? {
        return Ok(Course::WritesBack {
            s,
            created,
            sessions: Some(Box::new((tgt?, src?))),
        });
    }
    // Without the reverse subscription but with the forward slot on the source: an undo cut
    // off after the source took writes again, of which only the tail is left.
    if slot_exists(exec, &s.source, &options.sync.subscription).await? {
        return Ok(Course::WritesBack {
            s,
            created,
            sessions: None,
        });
    }
    Ok(Course::Sequences { s, created })
}

impl PreparedUndo {
    /// The undo itself; calls `writable` as soon as the source takes writes again. `None`
    /// when nothing was switched.
    pub async fn commit(
        self,
        exec: &Executor,
        options: &SwitchOptions,
        writable: &(dyn Fn() + Send + Sync),
    ) -> Result<Option<String>, PgError> {
        let PreparedUndo(course, read) = self;
        match course {
            Course::Nothing => Ok(None),
            Course::NotPromoted { s, created } => {
                // The sync goes on as before the switch.
                let mut done = vec![
                    "the switch had not dropped the subscription: the target never took writes"
                        .to_string(),
                ];
                done.extend(lift_freeze(exec, &s.source, options).await?);
                let syncing = marker(&s.source, "syncing", created);
                target::set_comment(exec, &s.target, &syncing).await?;
                Ok(Some(done.join(", ")))
            }
            Course::WritesBack {
                s,
                created,
                sessions,
            } => {
                let mut done = match sessions {
                    Some(sessions) => {
                        take_writes_back(*sessions, &s.source, &s.target, options, read).await?
                    }
                    None if matches!(options.freeze, Freeze::ReadOnly) => {
                        lift_freeze(exec, &s.source, options)
                            .await?
                            .into_iter()
                            .collect()
                    }
                    None => Vec::new(),
                };
                writable();
                let syncing = marker(&s.source, "syncing", created);
                done.extend(follow_again(exec, &s, options, &syncing).await?);
                Ok(Some(done.join(", ")))
            }
            Course::Sequences { s, created } => {
                let mut done = Vec::new();
                advance_source_sequences(exec, &s.source, &s.target).await?;
                // The switch ran the unfreeze command itself; only the read-only setting
                // outlives it.
                if matches!(options.freeze, Freeze::ReadOnly) {
                    done.extend(lift_freeze(exec, &s.source, options).await?);
                }
                let unswitched = marker(&s.source, "unswitched", created);
                target::set_comment(exec, &s.target, &unswitched).await?;
                Ok(Some(done.join(", ")))
            }
        }
    }
}

/// Without reverse replication: every sequence on the source moved past the target's.
async fn advance_source_sequences(
    exec: &Executor,
    source: &Endpoint,
    target: &Endpoint,
) -> Result<(), PgError> {
    let out = exec
        .run(
            &target
                .command("psql", super::super::super::session::PSQL_SCRIPT)
                .stdin(cutover_exec::Stdin::Bytes(
                    format!(
                        "{}{}",
                        super::super::super::session::SESSION_SETUP,
                        advance_sequences_sql()
                    )
                    .into_bytes(),
                )),
        )
        .await?;
    if !out.success() {
        return Err(tool_error("read the target's sequences", target, &out));
    }
    run_sql(
        exec,
        source,
        "advance the source's sequences",
        &format!("SET default_transaction_read_only = off;\n{}", out.stdout),
    )
    .await?;
    Ok(())
}

/// Stops writes on the target while a switch is undone: new sessions read-only, the
/// current ones ended and gone (a session finishes a commit in flight before it exits, and
/// the position read next must cover it). Returns how many were ended.
async fn end_writes(tgt: &mut LiveSession, target: &Endpoint) -> Result<u64, PgError> {
    let read_only = format!(
        "ALTER DATABASE {} SET default_transaction_read_only = on;\n",
        ident(&target.db)
    );
    end_sessions(tgt, &read_only, "target").await
}

/// Carries the target's writes back to the source, still frozen for applications: writes on
/// the target stopped (its sessions ended, new ones read-only) so that the position waited for
/// is its last write, then one script on the source (whose session writes all the same) takes
/// the target's sequences back, drops the reverse subscription, and makes the forward sync's
/// slot while nothing writes, then (with the read-only freeze) lifts the freeze. The target
/// holds every row up to that slot, so the sync resumes from it without a copy, and the
/// source takes writes again before the forward subscription exists.
async fn take_writes_back(
    (mut tgt, mut src): (LiveSession, LiveSession),
    source: &Endpoint,
    target: &Endpoint,
    options: &SwitchOptions,
    read: Duration,
) -> Result<Vec<String>, PgError> {
    let started = Instant::now();
    let ended = end_writes(&mut tgt, target).await?;
    let lsn = flushed_position(&mut tgt).await?;
    let stopped = started.elapsed();
    let catch_up = wait_confirmed(
        &mut tgt,
        REVERSE,
        &lsn,
        options.max_wait.max(Duration::from_secs(60)),
    )
    .await?;
    let setvals = tgt.query(&advance_sequences_sql()).await?.join("\n");
    // Closed beside the rest: requests are held until the source takes writes.
    tokio::spawn(tgt.close());
    let slot = literal(&options.sync.subscription);
    let mut script = format!(
        "SET default_transaction_read_only = off;\n{setvals}\nDROP SUBSCRIPTION {REVERSE};\nSELECT pg_create_logical_replication_slot({slot}, 'pgoutput') WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = {slot});\n"
    );
    let thaw = matches!(options.freeze, Freeze::ReadOnly);
    if thaw {
        // In the same round trip: the requests a move back holds wait for it.
        script.push_str(&thaw_sql(source));
    }
    let what = if thaw {
        "take the target's writes back and lift the freeze on the source"
    } else {
        "take the target's sequences back"
    };
    let before_script = Instant::now();
    // Through the session opened before requests were held: no connection made while they
    // wait.
    src.query_as(what, &script).await?;
    tokio::spawn(src.close());
    // Each part's seconds: a move back holds requests for their sum, so the journal says
    // which part a slow one spent them in.
    let mut done = vec![format!(
        "writes on the target stopped ({ended} session(s) ended), every write made on it replayed back to the source, reverse replication removed (state read {:.2}s, writes stopped {:.2}s, caught up {catch_up:.2}s, source script {:.2}s)",
        read.as_secs_f64(),
        stopped.as_secs_f64(),
        before_script.elapsed().as_secs_f64()
    )];
    if thaw {
        done.push(super::THAWED.to_string());
    }
    Ok(done)
}

/// The tail of an undo, once the source takes writes again: the reverse publication removed
/// from the target, which follows the source again from the slot made inside the freeze (it
/// holds every row up to it), so the switch can simply run again. Each part is safe to
/// repeat after a kill.
async fn follow_again(
    exec: &Executor,
    s: &Sides,
    options: &SwitchOptions,
    marker: &str,
) -> Result<Vec<String>, PgError> {
    let target = &s.target;
    run_sql(exec, target, "remove the reverse publication", &format!(
        "SET default_transaction_read_only = off;\nSELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '{REVERSE}' AND NOT active;\nDROP PUBLICATION IF EXISTS {REVERSE};\n"
    ))
    .await?;
    if !subscription_exists(exec, target, &options.sync.subscription).await? {
        super::super::create_subscription(exec, s, &options.sync, super::super::Start::FromSlot)
            .await?;
    }
    // Back to its pre-switch settings; sessions opened on the target since `end_writes` (an
    // app's pool reconnecting) keep `default_transaction_read_only` for their whole life:
    // ended, so that a later switch does not find them unable to write.
    run_sql(
        exec,
        target,
        "give the target back its pre-switch settings",
        &format!(
            "SET default_transaction_read_only = off;\nALTER DATABASE {} RESET default_transaction_read_only;\n{END_CLIENT_SESSIONS}\n",
            ident(&target.db)
        ),
    )
    .await?;
    target::set_comment(exec, target, marker).await?;
    Ok(vec![
        "the sync runs again (the switch can be retried)".to_string()
    ])
}

/// Whether logical replication slot `name` exists on `ep`'s server.
async fn slot_exists(exec: &Executor, ep: &Endpoint, name: &str) -> Result<bool, PgError> {
    let rows = copy_query(
        exec,
        ep,
        "look for the sync's slot",
        &[format!(
            "SELECT 1 FROM pg_replication_slots WHERE slot_name = {}",
            literal(name)
        )],
    )
    .await?;
    Ok(!rows.is_empty())
}
