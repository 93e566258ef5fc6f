//! The switch from the source to the target, keeping the write freeze as short as possible:
//! every query inside the freeze goes through sessions opened beforehand, the subscriber
//! flushes each applied commit at once (so the source learns of it at once), and the
//! source's slot is polled every few milliseconds.
//!
//! 1. freeze writes on the source (its database made read-only by default and its client
//!    sessions ended, or the plan's command);
//! 2. read the source's WAL position and wait until the target has confirmed it;
//! 3. advance every sequence on the target to the source's value;
//! 4. drop the subscription (its slot on the source goes with it);
//! 5. lift the freeze on the target side (the plan's `unfreeze` command) — the freeze
//!    window ends here, measured;
//! 6. optionally keep a reverse subscription so writes made on the new server flow back to
//!    the old one, for a rollback after the switch.
//!
//! The target database's comment says `switching` from before the freeze, `switched` at the
//! end: a switch killed after it dropped the subscription is finished by the next attempt.

use super::super::copy::target;
use super::super::endpoint::Endpoint;
use super::super::error::PgError;
use super::super::live::LiveSession;
use super::super::session::{copy_query, run_sql};
use super::super::sql::{ident, literal};
use super::drift::{self, Drift, SchemaPrint};
use super::{
    conninfo, lag, parse_marker, sides, subscription_exists, Progress, Sides, SyncOptions,
};
use cutover_exec::{Command, Executor};
use std::time::{Duration, Instant};

mod undo;
pub use undo::{prepare_undo, undo_switch, undo_switch_then, PreparedUndo};

/// How writes are frozen on the source.
#[derive(Debug, Clone)]
pub enum Freeze {
    /// `default_transaction_read_only` on the source database and its client sessions
    /// ended: applications reconnect into read-only sessions.
    ReadOnly,
    /// The plan's own command stops the writes (maintenance mode, a paused proxy); its
    /// `unfreeze` command runs once the target may take writes.
    Command {
        /// Stops the writes.
        freeze: Box<Command>,
        /// Lifts the freeze on the target side.
        unfreeze: Option<Box<Command>>,
    },
}

/// How a switch runs.
#[derive(Debug, Clone)]
pub struct SwitchOptions {
    /// The sync's names.
    pub sync: SyncOptions,
    /// How writes are frozen.
    pub freeze: Freeze,
    /// Keep a reverse subscription (writes on the target flow back to the source), with the
    /// address the *source server* reaches the target server at.
    pub reverse: Option<String>,
    /// Longest wait for the target to replay the source's last write (the freeze is lifted
    /// and nothing switched when it is exceeded).
    pub max_wait: Duration,
}

/// What a switch did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SwitchReport {
    /// Seconds from the freeze to the target taking writes.
    pub freeze_window: f64,
    /// When the freeze began (unix ms; 0 for a resumed switch, whose freeze is not known).
    pub frozen_from_ms: i64,
    /// Of which: seconds waiting for the target to replay the source's last write.
    pub catch_up: f64,
    /// The source's WAL position at the freeze.
    pub lsn: String,
    /// Client sessions ended on the source.
    pub sessions_ended: u64,
    /// Sequences advanced on the target.
    pub sequences: usize,
    /// A reverse subscription was left running.
    pub reverse: bool,
    /// The switch was made by an interrupted attempt (it had dropped the subscription) and
    /// only finished by this one: the freeze figures above are not known (all zero).
    pub resumed: bool,
}

/// The reverse publication, its slot and the reverse subscription share this name.
pub(super) const REVERSE: &str = "cutover_reverse";

/// The WAL position covering every commit made so far: the *insert* position, since commits
/// acknowledged under `synchronous_commit = off` may not be written or flushed yet (and only
/// flushed WAL reaches subscribers). A synchronous commit of a WAL-logged record of our own
/// (a logical message, allowed to superusers) flushes everything before it at once, instead
/// of waiting for the WAL writer (up to `wal_writer_delay`).
const COMMITTED_POSITION: &str = "SET synchronous_commit = on;
DO $$ BEGIN PERFORM pg_logical_emit_message(true, 'cutover', 'freeze'); EXCEPTION WHEN insufficient_privilege THEN NULL; END $$;
SELECT pg_current_wal_insert_lsn();";

/// Switches from `source` to `target`, after checking that the source's schema still
/// matches the target's (see [`switch_checked`]; here nothing was recorded, so the two
/// schemas are always compared).
pub async fn switch(
    exec: &Executor,
    source: &Endpoint,
    target: &Endpoint,
    options: &SwitchOptions,
    progress: Progress<'_>,
) -> Result<SwitchReport, PgError> {
    switch_checked(exec, source, target, options, None, progress).await
}

/// Switches from `source` to `target`. Before anything is frozen, the source's schema is
/// read again: when it is no longer `recorded` (the fingerprint taken when the sync
/// started; `None` when unknown) it is compared with the target's, and the switch is
/// refused, naming every object that differs, unless the target has the same changes.
pub async fn switch_checked(
    exec: &Executor,
    source: &Endpoint,
    target: &Endpoint,
    options: &SwitchOptions,
    recorded: Option<&SchemaPrint>,
    progress: Progress<'_>,
) -> Result<SwitchReport, PgError> {
    prepare_switch(exec, source, target, options, recorded, progress)
        .await?
        .commit(exec, options, progress)
        .await
}

/// A switch made ready: every check done, the subscriber flushing each commit and close
/// behind, both sessions open; nothing frozen or marked yet. A coordinated move prepares
/// its data switches before it holds requests, so that only [`Prepared::commit`] (the
/// freeze, the catch-up, the promotion) runs while they wait.
pub struct Prepared(Stage);

enum Stage {
    /// Ready to freeze and switch.
    Ready(Box<Ready>),
    /// A switch killed after it dropped the subscription: `commit` finishes it.
    Interrupted { s: Box<Sides>, created: bool },
    /// Already switched (by an earlier attempt).
    Done,
}

struct Ready {
    s: Sides,
    src: LiveSession,
    tgt: LiveSession,
    created: bool,
}

/// The checks and warm-up of a switch: tools found, the sync found running, the source's
/// schema compared with `recorded` (see [`switch_checked`]), the subscriber made to flush
/// each commit and found close behind, both sessions opened.
pub async fn prepare_switch(
    exec: &Executor,
    source: &Endpoint,
    target: &Endpoint,
    options: &SwitchOptions,
    recorded: Option<&SchemaPrint>,
    progress: Progress<'_>,
) -> Result<Prepared, PgError> {
    let s = sides(exec, source, target).await?;
    let sub = &options.sync.subscription;
    let (created, stage) = parse_marker(target::state(exec, &s.target).await?.comment.as_deref())
        .unwrap_or((false, String::new()));
    if !subscription_exists(exec, &s.target, sub).await? {
        // Only a switch drops the subscription once the marker says `switching` (it is set
        // before the freeze): a switch killed after the drop is finished, not started again.
        return match stage.as_str() {
            "switching" => Ok(Prepared(Stage::Interrupted {
                s: Box::new(s),
                created,
            })),
            "switched" | "finishing" | "finished" => Ok(Prepared(Stage::Done)),
            _ => Err(PgError::precondition(
                format!("no subscription `{sub}` in the target database: the sync is not running"),
                "run the postgres.sync step first",
            )),
        };
    }
    match drift::check(exec, &s.source, &s.target, recorded).await? {
        Drift::None => {}
        Drift::Matched => progress(
            "the source's schema changed during the sync; the target has the same changes".into(),
        ),
        Drift::Changed(changed) => return Err(drift::refusal(&changed)),
    }
    prepare(exec, &s.target, &s.source, options, progress).await?;
    let src = LiveSession::open(exec, &s.source).await?;
    let tgt = LiveSession::open(exec, &s.target).await?;
    Ok(Prepared(Stage::Ready(Box::new(Ready {
        s,
        src,
        tgt,
        created,
    }))))
}

impl Prepared {
    /// The switch itself: writes frozen on the source, the target caught up, sequences
    /// advanced, the subscription dropped, the reverse subscription started.
    pub async fn commit(
        self,
        exec: &Executor,
        options: &SwitchOptions,
        progress: Progress<'_>,
    ) -> Result<SwitchReport, PgError> {
        let r = match self.0 {
            Stage::Done => return Ok(resumed_report(options)),
            Stage::Interrupted { s, created } => {
                return finish_interrupted(exec, &s.source, &s.target, options, created, progress)
                    .await
            }
            Stage::Ready(r) => r,
        };
        let Ready {
            s,
            mut src,
            mut tgt,
            created,
        } = *r;
        let (source, target) = (&s.source, &s.target);
        let sub = &options.sync.subscription;
        let marker = |state: &str| switch_marker(source, state, created, options);
        target::set_comment(exec, target, &marker("switching")).await?;
        let t0 = Instant::now();
        let frozen_from_ms = crate::unix_ms();
        let frozen = match freeze(exec, &mut src, source, options).await {
            Ok(n) => n,
            Err(e) => {
                let _ = thaw(exec, &mut src, source, options).await;
                return Err(e);
            }
        };
        let inside = async {
            let lsn = flushed_position(&mut src).await?;
            let catch_up = wait_confirmed(&mut src, sub, &lsn, options.max_wait).await?;
            let setvals = src.query(&advance_sequences_sql()).await?.join("\n");
            Ok::<_, PgError>((lsn, catch_up, setvals))
        }
        .await;
        let (lsn, catch_up, setvals) = match inside {
            Ok(v) => v,
            Err(e) => {
                // Nothing is switched yet: give the source its writes back.
                let _ = thaw(exec, &mut src, source, options).await;
                return Err(e);
            }
        };
        let sequences = setvals.lines().filter(|l| l.contains("setval")).count();
        // The sequences are set before the drop (psql stops at the first error): a
        // subscription found dropped after a kill means they were set.
        tgt.query(&format!("{setvals}\nDROP SUBSCRIPTION {};", ident(sub)))
            .await?;
        if options.reverse.is_some() {
            tgt.query(&reverse_publication()).await?;
        }
        if let Freeze::Command {
            unfreeze: Some(cmd),
            ..
        } = &options.freeze
        {
            run_command(exec, cmd, "lift the freeze").await?;
        }
        let freeze_window = t0.elapsed().as_secs_f64();
        progress(format!(
            "switched: writes frozen {freeze_window:.3}s ({catch_up:.3}s waiting for the target to replay up to {lsn}), {sequences} sequences advanced"
        ));
        if let Some(address) = &options.reverse {
            src.query(&reverse_subscription(target, address)).await?;
            progress(
                "reverse subscription running: writes on the new server flow back to the old one"
                    .into(),
            );
        }
        src.close().await;
        tgt.close().await;
        target::set_comment(exec, target, &marker("switched")).await?;
        Ok(SwitchReport {
            freeze_window,
            frozen_from_ms,
            catch_up,
            lsn,
            sessions_ended: frozen,
            sequences,
            reverse: options.reverse.is_some(),
            resumed: false,
        })
    }
}

/// The target database's comment during (`switching`) and after (`switched`) a switch.
pub(super) fn switch_marker(
    source: &Endpoint,
    state: &str,
    created: bool,
    options: &SwitchOptions,
) -> String {
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    format!(
        "cutover sync from {}; state={state}; created={}; reverse={}",
        source.describe(),
        yes_no(created),
        yes_no(options.reverse.is_some())
    )
}

/// On the target: the reverse publication and its slot, each unless there already.
fn reverse_publication() -> String {
    format!(
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = '{REVERSE}') THEN CREATE PUBLICATION {REVERSE} FOR ALL TABLES; END IF; END $$;
SELECT pg_create_logical_replication_slot('{REVERSE}', 'pgoutput') WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = '{REVERSE}');"
    )
}

/// On the source: the reverse subscription, reaching the target at `address`.
fn reverse_subscription(target: &Endpoint, address: &str) -> String {
    format!(
        "CREATE SUBSCRIPTION {REVERSE} CONNECTION {} PUBLICATION {REVERSE} WITH (copy_data = false, create_slot = false, slot_name = '{REVERSE}');",
        literal(&conninfo(target, address))
    )
}

fn resumed_report(options: &SwitchOptions) -> SwitchReport {
    SwitchReport {
        freeze_window: 0.0,
        frozen_from_ms: 0,
        catch_up: 0.0,
        lsn: String::new(),
        sessions_ended: 0,
        sequences: 0,
        reverse: options.reverse.is_some(),
        resumed: true,
    }
}

/// Finishes a switch killed after it dropped the subscription (the source frozen, the
/// sequences set): the reverse replication, the unfreeze command, the marker, each step
/// safe to repeat. The unfreeze command may run a second time (a kill leaves no trace of
/// whether it ran; lifting a freeze twice is the lesser harm than never). The reverse slot
/// starts now: writes made on the target since the kill are not carried back.
async fn finish_interrupted(
    exec: &Executor,
    source: &Endpoint,
    target: &Endpoint,
    options: &SwitchOptions,
    created: bool,
    progress: Progress<'_>,
) -> Result<SwitchReport, PgError> {
    progress("an interrupted switch dropped the subscription already: finishing it".into());
    if options.reverse.is_some() {
        run_sql(
            exec,
            target,
            "create the reverse publication",
            &reverse_publication(),
        )
        .await?;
    }
    if let Freeze::Command {
        unfreeze: Some(cmd),
        ..
    } = &options.freeze
    {
        run_command(exec, cmd, "lift the freeze").await?;
    }
    if let Some(address) = &options.reverse {
        if !subscription_exists(exec, source, REVERSE).await? {
            // The source is frozen for every new session: this one writes all the same.
            let sql = format!(
                "SET default_transaction_read_only = off;\n{}\n",
                reverse_subscription(target, address)
            );
            run_sql(exec, source, "create the reverse subscription", &sql).await?;
        }
        progress(
            "reverse subscription running: writes on the new server flow back to the old one"
                .into(),
        );
    }
    target::set_comment(
        exec,
        target,
        &switch_marker(source, "switched", created, options),
    )
    .await?;
    Ok(resumed_report(options))
}

/// Before the freeze: the subscriber flushes each applied commit at once (a change that
/// restarts its worker, so it is made now, not inside the window), and the lag is small.
async fn prepare(
    exec: &Executor,
    target: &Endpoint,
    source: &Endpoint,
    options: &SwitchOptions,
    progress: Progress<'_>,
) -> Result<(), PgError> {
    let sub = &options.sync.subscription;
    let rows = copy_query(
        exec,
        target,
        "read the subscription",
        &[format!(
            "SELECT subsynccommit FROM pg_subscription WHERE subname = {}",
            literal(sub)
        )],
    )
    .await?;
    if rows
        .first()
        .and_then(|r| r.first().cloned().flatten())
        .as_deref()
        != Some("on")
    {
        run_sql(
            exec,
            target,
            "make the subscriber flush each commit",
            &format!(
                "ALTER SUBSCRIPTION {} SET (synchronous_commit = 'on');\n",
                ident(sub)
            ),
        )
        .await?;
    }
    let deadline = Instant::now() + options.max_wait.max(Duration::from_secs(30));
    loop {
        let running = copy_query(exec, target, "watch the apply worker", &[format!(
            "SELECT count(*) FROM pg_stat_subscription WHERE subname = {} AND pid IS NOT NULL AND relid IS NULL",
            literal(sub)
        )])
        .await?;
        let up = running
            .first()
            .and_then(|r| r.first().cloned().flatten())
            .as_deref()
            == Some("1");
        let l = lag(exec, source, sub).await?;
        if up && l.bytes < (1 << 20) {
            progress(format!("before the freeze: {} bytes behind", l.bytes));
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(PgError::precondition(
                format!(
                    "the target is still {} bytes behind (apply worker running: {up})",
                    l.bytes
                ),
                "wait for the sync to catch up (see the target server's log), then switch",
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Ends every client session of the current database but this one (applications
/// reconnect; the replication workers are background workers, left alone).
pub(super) const END_CLIENT_SESSIONS: &str = "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend';";

/// Freezes writes; returns how many client sessions were ended.
async fn freeze(
    exec: &Executor,
    src: &mut LiveSession,
    source: &Endpoint,
    options: &SwitchOptions,
) -> Result<u64, PgError> {
    match &options.freeze {
        Freeze::Command { freeze, .. } => {
            run_command(exec, freeze, "freeze writes").await?;
            Ok(0)
        }
        Freeze::ReadOnly => {
            let db = ident(&source.db);
            let mut sql = format!("ALTER DATABASE {db} SET default_transaction_read_only = on;\n");
            if options.reverse.is_some() {
                // The reverse subscription's worker runs as this role: it must still write.
                sql.push_str(&format!(
                    "ALTER ROLE {} IN DATABASE {db} SET default_transaction_read_only = off;\n",
                    ident(&source.user)
                ));
            }
            end_sessions(src, &sql, "source").await
        }
    }
}

/// Runs `before`, then ends every client session of the session's database but its own and
/// waits until they are gone: an ended session finishes a commit in flight before it exits,
/// and the WAL position read next must cover every committed write. Every session is
/// signalled at once (pg_terminate_backend's own wait polls every 100 ms, per session).
/// `side` names the server in errors. Returns how many were ended.
async fn end_sessions(session: &mut LiveSession, before: &str, side: &str) -> Result<u64, PgError> {
    let sql = format!(
        "{before}SELECT coalesce(array_agg(pid), '{{}}') FROM (SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity
           WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend') t;"
    );
    let pids = session
        .query(&sql)
        .await?
        .last()
        .cloned()
        .unwrap_or_default();
    let ended = pids
        .trim_matches(|c| c == '{' || c == '}')
        .split(',')
        .filter(|p| !p.trim().is_empty())
        .count() as u64;
    let alive = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY({}::int[]);",
        literal(pids.trim())
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while ended > 0 && session.value(&alive).await? != "0" {
        if Instant::now() > deadline {
            return Err(PgError::precondition(
                format!(
                    "client sessions on the {side} did not end within 10 s of being terminated"
                ),
                format!(
                    "look for stuck sessions in pg_stat_activity on the {side}, then try again"
                ),
            ));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(ended)
}

/// Gives the source its writes back after a failed switch: the read-only setting reset, or
/// the plan's unfreeze command run.
async fn thaw(
    exec: &Executor,
    src: &mut LiveSession,
    source: &Endpoint,
    options: &SwitchOptions,
) -> Result<(), PgError> {
    match &options.freeze {
        Freeze::ReadOnly => src
            .query(&format!(
                "ALTER DATABASE {} RESET default_transaction_read_only;",
                ident(&source.db)
            ))
            .await
            .map(|_| ()),
        Freeze::Command { .. } => lift_freeze(exec, source, options).await.map(|_| ()),
    }
}

/// [`COMMITTED_POSITION`]'s answer (its last line).
async fn flushed_position(session: &mut LiveSession) -> Result<String, PgError> {
    let lines = session.query(COMMITTED_POSITION).await?;
    Ok(lines
        .last()
        .map(|l| l.trim().to_string())
        .unwrap_or_default())
}

/// Polls the source's slot until the target confirmed `lsn`; returns the seconds waited.
async fn wait_confirmed(
    src: &mut LiveSession,
    slot: &str,
    lsn: &str,
    max: Duration,
) -> Result<f64, PgError> {
    let started = Instant::now();
    let q = format!(
        "SELECT confirmed_flush_lsn >= {}::pg_lsn FROM pg_replication_slots WHERE slot_name = {};",
        literal(lsn),
        literal(slot)
    );
    loop {
        if src.value(&q).await? == "t" {
            return Ok(started.elapsed().as_secs_f64());
        }
        if started.elapsed() > max {
            return Err(PgError::precondition(
                format!("the target did not replay the source's writes up to {lsn} within {max:?}"),
                "the freeze was lifted and nothing switched; look at the target server's log, then switch again",
            ));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// A query printing one `setval` per sequence of the server it runs on (generated and
/// quoted by the server itself), to run on the other side. A sequence only ever moves
/// forward: the other side keeps its own value when that is higher, so an undo can never
/// hand out numbers again that rows already hold.
fn advance_sequences_sql() -> String {
    "SELECT format('SELECT pg_catalog.setval(%1$L, greatest(%2$s, (SELECT last_value FROM %1$s)), true);', quote_ident(schemaname) || '.' || quote_ident(sequencename), last_value)
       FROM pg_sequences WHERE last_value IS NOT NULL AND schemaname NOT IN ('pg_catalog', 'information_schema') AND schemaname NOT LIKE 'pg\\_%';"
        .into()
}

async fn run_command(exec: &Executor, cmd: &Command, what: &str) -> Result<(), PgError> {
    let out = exec.run(cmd).await?;
    if !out.success() {
        return Err(PgError::Tool {
            what: format!("{what} (`{}`)", cmd.display_command()),
            host: cmd.host.clone(),
            db: String::new(),
            code: out.code.unwrap_or(-1),
            stderr: cutover_exec::frame(if out.stderr.trim().is_empty() {
                &out.stdout
            } else {
                &out.stderr
            }),
            hint: None,
            class: cutover_exec::FailureClass::Failed,
        });
    }
    Ok(())
}

/// True when the target database records a finished switch.
pub async fn is_switched(
    exec: &Executor,
    source: &Endpoint,
    target: &Endpoint,
) -> Result<bool, PgError> {
    let s = sides(exec, source, target).await?;
    let state = target::state(exec, &s.target).await?;
    Ok(state.exists
        && parse_marker(state.comment.as_deref())
            .is_some_and(|(_, st)| matches!(st.as_str(), "switched" | "finishing" | "finished")))
}

/// What a lifted read-only freeze says.
const THAWED: &str = "source writable again (sessions opened during the freeze ended)";

/// Lifts the read-only freeze on the source. Sessions opened during the freeze keep
/// `default_transaction_read_only` for their whole life (a pool's connections, for
/// minutes): they are ended so that they reconnect writable.
fn thaw_sql(source: &Endpoint) -> String {
    format!(
        "SET default_transaction_read_only = off;\nALTER DATABASE {db} RESET default_transaction_read_only;\nALTER ROLE {} IN DATABASE {db} RESET default_transaction_read_only;\n{END_CLIENT_SESSIONS}\n",
        ident(&source.user),
        db = ident(&source.db)
    )
}

/// Gives the source its writes back: the read-only setting reset, or the plan's unfreeze
/// command run (a kill leaves no trace of whether it ran; lifting twice is the lesser harm).
async fn lift_freeze(
    exec: &Executor,
    source: &Endpoint,
    options: &SwitchOptions,
) -> Result<Option<String>, PgError> {
    match &options.freeze {
        Freeze::ReadOnly => {
            run_sql(
                exec,
                source,
                "lift the freeze on the source",
                &thaw_sql(source),
            )
            .await?;
            Ok(Some(THAWED.into()))
        }
        Freeze::Command {
            unfreeze: Some(cmd),
            ..
        } => {
            run_command(exec, cmd, "lift the freeze").await?;
            Ok(Some("the plan's unfreeze command ran".into()))
        }
        Freeze::Command { unfreeze: None, .. } => Ok(None),
    }
}
