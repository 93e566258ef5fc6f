//! The shared journal: the same runs, events, hash chain and lock as the SQLite journal, in
//! a PostgreSQL database a team already operates, so that any machine with the plan and the
//! journal's URL can see a run, approve its gates, and resume or roll it back once its
//! holder is gone.
//!
//! Several plans may share one database: every row carries the plan's key (its name, and
//! its environment when it runs in one; see [`PgJournal::open`]), and each plan has a hash
//! chain and a lock of its own. The schema lives in `cutover` (see its `schema` module).

mod connect;
mod lock;
mod schema;
mod worker;

pub use connect::{PgTarget, PgTls};
pub use lock::LockSession;

use crate::chain::{event_hash, hex, unhex, ChainStatus, EventRow, Verifier, GENESIS};
use crate::crash::CrashHook;
use crate::event::{new_run_id, now_ms, Event, Record, RunInfo};
use crate::lock::{Holder, LockGuard};
use crate::{Journal, JournalError, RedactFn};
use connect::describe;
use schema::Found;
use std::sync::atomic::{AtomicBool, Ordering};
use worker::Worker;

/// A journal in a PostgreSQL database.
pub struct PgJournal {
    session: Worker,
    target: PgTarget,
    plan_key: String,
    /// Opened by a command that only reads: every write is refused.
    read_only: bool,
    /// No journal in the database yet (read-only opening): everything reads as empty until
    /// one appears (a dashboard opened before the first `apply` keeps watching).
    absent: AtomicBool,
    redact: Option<RedactFn>,
    crash: CrashHook,
}

impl PgJournal {
    /// Opens plan `plan_key`'s journal at `target` for writing, creating the schema when the
    /// database has none and migrating an older one; a newer one is refused.
    ///
    /// `plan_key` is the plan's identity among the plans sharing the database: its `name`
    /// (with `@ENVIRONMENT` in an environment). Every machine derives the same key from the
    /// same plan, wherever its file lies, which is what lets another controller resume.
    pub fn open(target: &PgTarget, plan_key: &str) -> Result<Self, JournalError> {
        let journal = Self::connect(target, plan_key, false)?;
        let found = journal
            .session
            .run(schema::create_or_migrate)
            .map_err(|e| journal.err(e))?
            .map_err(|e| {
                journal.err(format!(
                    "cannot create or migrate the journal's schema: {}",
                    describe(&e)
                ))
            })?;
        journal.refuse_newer(found)?;
        Ok(journal)
    }

    /// Opens it for reading only: nothing is created or written, and a database without a
    /// journal reads as "no run yet".
    pub fn open_read_only(target: &PgTarget, plan_key: &str) -> Result<Self, JournalError> {
        let mut journal = Self::connect(target, plan_key, true)?;
        let found = journal
            .session
            .run(|c: &mut postgres::Client| schema::find(c))
            .map_err(|e| journal.err(e))?
            .map_err(|e| journal.err(describe(&e)))?;
        journal.refuse_newer(found)?;
        journal.absent = AtomicBool::new(found == Found::Nothing);
        Ok(journal)
    }

    fn connect(target: &PgTarget, plan_key: &str, read_only: bool) -> Result<Self, JournalError> {
        let owned = target.clone();
        let session = Worker::start("cutover-journal", move || owned.connect("cutover")).map_err(
            |message| JournalError::Unreachable {
                path: target.to_string(),
                message,
            },
        )?;
        Ok(PgJournal {
            session,
            target: target.clone(),
            plan_key: plan_key.to_string(),
            read_only,
            absent: AtomicBool::new(false),
            redact: None,
            crash: CrashHook::from_env(),
        })
    }

    fn refuse_newer(&self, found: Found) -> Result<(), JournalError> {
        match found {
            Found::Version(v) if v > schema::SCHEMA_VERSION => Err(JournalError::TooNew {
                path: self.target.to_string(),
                found: i64::from(v),
                supported: i64::from(schema::SCHEMA_VERSION),
            }),
            _ => Ok(()),
        }
    }

    /// Redacts every event with `redact` before it is written.
    pub fn with_redactor(mut self, redact: RedactFn) -> Self {
        self.redact = Some(redact);
        self
    }

    /// Where the journal is (no password).
    pub fn target(&self) -> &PgTarget {
        &self.target
    }

    /// The plan's key in the shared database.
    pub fn plan_key(&self) -> &str {
        &self.plan_key
    }

    /// Appends `event` to run `run` stamped `at_ms` rather than now (for copying a run in).
    pub fn append_at(&self, run: &str, event: &Event, at_ms: i64) -> Result<Record, JournalError> {
        self.writable()?;
        let body = self.redacted(serde_json::to_string(event).map_err(|e| self.err(e))?);
        // Read back what is stored, so the caller sees exactly what the journal holds.
        let event: Event = serde_json::from_str(&body).map_err(|e| self.err(e))?;
        let (plan_key, run_id, kind) = (self.plan_key.clone(), run.to_string(), event.name());
        let step = event.step().map(str::to_string);
        let seq = self.call(move |c| {
            insert_chained(c, &plan_key, &run_id, at_ms, &kind, step.as_deref(), &body)
        })?;
        self.crash.event_written();
        Ok(Record {
            seq,
            run: run.to_string(),
            at_ms,
            event,
        })
    }

    /// Adds run `info` as given (a new run, or one copied in).
    pub(crate) fn insert_run(&self, info: &RunInfo) -> Result<(), JournalError> {
        self.writable()?;
        let (plan_key, row) = (self.plan_key.clone(), info.clone());
        self.call(move |c| {
            c.execute(
                "INSERT INTO cutover.runs (id, plan_key, plan, started_ms) VALUES ($1, $2, $3, $4)",
                &[&row.id, &plan_key, &row.plan, &row.started_ms],
            )
        })?;
        Ok(())
    }

    /// Runs `job` in the session; either failure is a storage error naming the journal.
    fn call<R: Send + 'static>(
        &self,
        job: impl FnOnce(&mut postgres::Client) -> Result<R, postgres::Error> + Send + 'static,
    ) -> Result<R, JournalError> {
        self.session
            .run(job)
            .map_err(|e| self.err(e))?
            .map_err(|e| self.err(describe(&e)))
    }

    fn read_events(&self, run: &str, after: i64) -> Result<Vec<Record>, JournalError> {
        if self.absent() {
            return Ok(Vec::new());
        }
        let (plan_key, run_id) = (self.plan_key.clone(), run.to_string());
        let rows = self.call(move |c| {
            c.query(
                "SELECT seq, at_ms, body FROM cutover.events
                 WHERE plan_key = $1 AND run = $2 AND seq > $3 ORDER BY seq",
                &[&plan_key, &run_id, &after],
            )
        })?;
        rows.iter()
            .map(|r| {
                let (seq, at_ms, body): (i64, i64, String) = (r.get(0), r.get(1), r.get(2));
                let event = serde_json::from_str(&body)
                    .map_err(|e| self.err(format!("event {seq} is unreadable: {e}")))?;
                Ok(Record {
                    seq,
                    run: run.to_string(),
                    at_ms,
                    event,
                })
            })
            .collect()
    }

    fn err(&self, e: impl std::fmt::Display) -> JournalError {
        storage(&self.target, e)
    }

    /// True while the database holds no journal (looked at again each time until it does).
    fn absent(&self) -> bool {
        if !self.absent.load(Ordering::Relaxed) {
            return false;
        }
        let found = self.session.run(|c: &mut postgres::Client| schema::find(c));
        let absent = !matches!(found, Ok(Ok(Found::Version(_))));
        self.absent.store(absent, Ordering::Relaxed);
        absent
    }

    fn writable(&self) -> Result<(), JournalError> {
        match self.read_only {
            true => Err(self.err("opened read-only: this command does not write the journal")),
            false => Ok(()),
        }
    }

    fn redacted(&self, text: String) -> String {
        match &self.redact {
            Some(redact) => redact(&text),
            None => text,
        }
    }
}

fn storage(target: &PgTarget, e: impl std::fmt::Display) -> JournalError {
    JournalError::Storage {
        path: target.to_string(),
        message: e.to_string(),
    }
}

/// Inserts one event after the plan's last one, chained to it. The plan's chain lock,
/// held to the end of the transaction, keeps concurrent writers (an `approve` from another
/// machine during an `apply`) in one order. Four round trips: the lock, the head and the
/// next number together, the row, the commit (an event's latency is mostly round trips).
fn insert_chained(
    client: &mut postgres::Client,
    plan_key: &str,
    run: &str,
    at_ms: i64,
    kind: &str,
    step: Option<&str>,
    body: &str,
) -> Result<i64, postgres::Error> {
    // The key is our own number, not input: formatting it into the SQL is safe.
    let key = lock::chain_key(plan_key);
    client.batch_execute(&format!("BEGIN; SELECT pg_advisory_xact_lock({key})"))?;
    let inserted = insert_in_transaction(client, plan_key, run, at_ms, kind, step, body);
    match inserted {
        Ok(seq) => {
            client.batch_execute("COMMIT")?;
            Ok(seq)
        }
        Err(e) => {
            let _ = client.batch_execute("ROLLBACK");
            Err(e)
        }
    }
}

fn insert_in_transaction(
    client: &mut postgres::Client,
    plan_key: &str,
    run: &str,
    at_ms: i64,
    kind: &str,
    step: Option<&str>,
    body: &str,
) -> Result<i64, postgres::Error> {
    let head = prepared(
        client,
        "SELECT nextval('cutover.events_seq_seq'),
                (SELECT hash FROM cutover.events WHERE plan_key = $1 ORDER BY seq DESC LIMIT 1)",
    )?;
    let row = client.query_one(&head, &[&plan_key])?;
    let seq: i64 = row.get(0);
    let prev = row
        .get::<_, Option<&str>>(1)
        .and_then(unhex)
        .unwrap_or(GENESIS);
    let event = EventRow {
        seq,
        run,
        at_ms,
        kind,
        step,
        body,
    };
    let insert = prepared(
        client,
        "INSERT INTO cutover.events (seq, plan_key, run, at_ms, kind, step, body, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )?;
    client.execute(
        &insert,
        &[
            &seq,
            &plan_key,
            &run,
            &at_ms,
            &kind,
            &step,
            &body,
            &hex(&event_hash(&prev, &event)),
        ],
    )?;
    Ok(seq)
}

thread_local! {
    /// Statements prepared on this thread's session. Each session lives on a thread of its
    /// own (see [`worker`]), so a per-thread cache is a per-session one: a statement is
    /// parsed once, and every later use is one round trip instead of two.
    static PREPARED: std::cell::RefCell<std::collections::HashMap<&'static str, postgres::Statement>> =
        Default::default();
}

/// `sql` prepared once per session.
fn prepared(
    client: &mut postgres::Client,
    sql: &'static str,
) -> Result<postgres::Statement, postgres::Error> {
    if let Some(statement) = PREPARED.with(|p| p.borrow().get(sql).cloned()) {
        return Ok(statement);
    }
    let statement = client.prepare(sql)?;
    PREPARED.with(|p| p.borrow_mut().insert(sql, statement.clone()));
    Ok(statement)
}

fn run_info(r: &postgres::Row) -> RunInfo {
    RunInfo {
        id: r.get(0),
        plan: r.get(1),
        started_ms: r.get(2),
    }
}

impl Journal for PgJournal {
    fn create_run(&self, plan: &str) -> Result<RunInfo, JournalError> {
        let info = RunInfo {
            id: new_run_id(),
            plan: plan.to_string(),
            started_ms: now_ms(),
        };
        self.insert_run(&info)?;
        Ok(info)
    }

    fn runs(&self) -> Result<Vec<RunInfo>, JournalError> {
        if self.absent() {
            return Ok(Vec::new());
        }
        let plan_key = self.plan_key.clone();
        let rows = self.call(move |c| {
            c.query(
                "SELECT id, plan, started_ms FROM cutover.runs WHERE plan_key = $1
                 ORDER BY started_ms, id",
                &[&plan_key],
            )
        })?;
        Ok(rows.iter().map(run_info).collect())
    }

    fn append(&self, run: &str, event: &Event) -> Result<Record, JournalError> {
        self.append_at(run, event, now_ms())
    }

    fn events(&self, run: &str) -> Result<Vec<Record>, JournalError> {
        self.read_events(run, i64::MIN)
    }

    fn events_after(&self, run: &str, after: i64) -> Result<Vec<Record>, JournalError> {
        self.read_events(run, after)
    }

    fn last_seq(&self) -> Result<i64, JournalError> {
        if self.absent() {
            return Ok(0);
        }
        let plan_key = self.plan_key.clone();
        self.call(move |c| {
            c.query_one(
                "SELECT coalesce(max(seq), 0) FROM cutover.events WHERE plan_key = $1",
                &[&plan_key],
            )
            .map(|r| r.get(0))
        })
    }

    fn lock(&self, holder: Holder) -> Result<LockGuard, JournalError> {
        self.writable()?;
        match lock::take(&self.target, &self.plan_key, holder).map_err(|e| self.err(e))? {
            lock::Taken::Held(session) => Ok(LockGuard::session(session)),
            lock::Taken::Refused(holder) => Err(JournalError::Locked { holder }),
        }
    }

    fn holder(&self) -> Option<Holder> {
        if self.absent() {
            return None;
        }
        let plan_key = self.plan_key.clone();
        self.call(move |c| lock::current_holder(c, &plan_key))
            .ok()
            .flatten()
    }

    fn save_checkpoint(&self, run: &str, step: &str, body: &str) -> Result<(), JournalError> {
        self.writable()?;
        let body = self.redacted(body.to_string());
        let (run, step) = (run.to_string(), step.to_string());
        self.call(move |c| {
            c.execute(
                "INSERT INTO cutover.checkpoints (run, step, at_ms, body) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (run, step) DO UPDATE SET at_ms = excluded.at_ms, body = excluded.body",
                &[&run, &step, &now_ms(), &body],
            )
        })?;
        Ok(())
    }

    fn checkpoint(&self, run: &str, step: &str) -> Result<Option<String>, JournalError> {
        if self.absent() {
            return Ok(None);
        }
        let (run, step) = (run.to_string(), step.to_string());
        self.call(move |c| {
            c.query_opt(
                "SELECT body FROM cutover.checkpoints WHERE run = $1 AND step = $2",
                &[&run, &step],
            )
            .map(|r| r.map(|r| r.get(0)))
        })
    }

    fn verify_chain(&self) -> Result<ChainStatus, JournalError> {
        if self.absent() {
            return Ok(Verifier::new(0).finish());
        }
        let plan_key = self.plan_key.clone();
        let rows = self.call(move |c| {
            c.query(
                "SELECT seq, run, at_ms, kind, step, body, hash FROM cutover.events
                 WHERE plan_key = $1 ORDER BY seq",
                &[&plan_key],
            )
        })?;
        let mut verifier = Verifier::new(0);
        for r in &rows {
            let step: Option<&str> = r.get(4);
            let row = EventRow {
                seq: r.get(0),
                run: r.get(1),
                at_ms: r.get(2),
                kind: r.get(3),
                step,
                body: r.get(5),
            };
            verifier.push(&row, Some(r.get::<_, &str>(6)));
        }
        Ok(verifier.finish())
    }

    fn latest_run(&self) -> Result<Option<RunInfo>, JournalError> {
        if self.absent() {
            return Ok(None);
        }
        let plan_key = self.plan_key.clone();
        self.call(move |c| {
            c.query_opt(
                "SELECT id, plan, started_ms FROM cutover.runs WHERE plan_key = $1
                 ORDER BY started_ms DESC, id DESC LIMIT 1",
                &[&plan_key],
            )
            .map(|r| r.as_ref().map(run_info))
        })
    }
}
