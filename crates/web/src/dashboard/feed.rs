//! The journal as a live feed: one task asks the journal every [`POLL`] for its newest
//! event's number (a cheap query), reads only what is new, rebuilds the view once, and hands
//! both to every viewer. A viewer that reconnects says the last event it saw and gets what
//! it missed.

use super::live::{self, View};
use cutover_engine::session::Session;
use cutover_journal::{ChainStatus, Record, RunInfo};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;

/// How often the journal is asked for news.
pub const POLL: Duration = Duration::from_millis(150);

/// What changed: the new events (in order) and the view after them.
pub struct Update {
    /// New events of the watched run.
    pub records: Vec<Record>,
    /// The view after them.
    pub view: Arc<View>,
}

struct State {
    run: Option<RunInfo>,
    records: Vec<Record>,
    view: Arc<View>,
}

/// The feed every viewer reads.
pub struct Feed {
    plan_path: PathBuf,
    run_id: Option<String>,
    state: Mutex<State>,
    tx: broadcast::Sender<Arc<Update>>,
}

impl Feed {
    /// A feed of the run `run_id` (default: the newest) of the plan at `plan_path`.
    pub fn new(plan_path: PathBuf, run_id: Option<String>) -> Arc<Self> {
        let (tx, _) = broadcast::channel(256);
        Arc::new(Feed {
            plan_path,
            run_id,
            state: Mutex::new(State {
                run: None,
                records: Vec::new(),
                view: Arc::new(View::waiting()),
            }),
            tx,
        })
    }

    /// Updates from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Update>> {
        self.tx.subscribe()
    }

    /// The events after `seq` and the current view.
    pub fn since(&self, seq: i64) -> (Vec<Record>, Arc<View>) {
        let s = self.lock();
        let new = s.records.iter().filter(|r| r.seq > seq).cloned().collect();
        (new, s.view.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Polls the journal until the process ends.
    pub async fn run(self: Arc<Self>) {
        let mut watcher: Option<Watcher> = None;
        let mut ticker = tokio::time::interval(POLL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let feed = self.clone();
            let taken = watcher.take();
            // SQLite reads block: off the async threads.
            let result = tokio::task::spawn_blocking(move || feed.poll(taken)).await;
            match result {
                Ok(Ok(w)) => watcher = w,
                Ok(Err(e)) => tracing::warn!("dashboard: cannot read the journal: {e}"),
                Err(e) => tracing::warn!("dashboard: journal reader failed: {e}"),
            }
        }
    }

    /// One poll: opens the journal when needed, reads what is new, publishes it.
    /// `None`: no run yet, open the journal afresh next time (it may not exist yet).
    fn poll(
        &self,
        watcher: Option<Watcher>,
    ) -> Result<Option<Watcher>, cutover_engine::EngineError> {
        let mut w = match watcher {
            Some(w) => w,
            None => Watcher::open(&self.plan_path)?,
        };
        let last = w.session.journal.last_seq()?;
        if last <= w.seen {
            // An empty journal may be one opened before the file existed: open it afresh.
            return Ok((last > 0).then_some(w));
        }
        w.seen = last;
        let run = match &self.run_id {
            Some(id) => w.session.journal.runs()?.into_iter().find(|r| r.id == *id),
            None => w.session.journal.latest_run()?,
        };
        let Some(run) = run else {
            return Ok(None);
        };
        let mut s = self.lock();
        if s.run.as_ref() != Some(&run) {
            s.run = Some(run.clone());
            s.records.clear();
        }
        let after = s.records.last().map_or(i64::MIN, |r| r.seq);
        drop(s);
        let new = w.session.journal.events_after(&run.id, after)?;
        if new.is_empty() {
            return Ok(Some(w));
        }
        let mut s = self.lock();
        s.records.extend(new.iter().cloned());
        let report =
            cutover_engine::report::build(&w.session.plan, &run, &s.records, w.chain.clone());
        let view = Arc::new(live::view(&report, &w.session.plan));
        s.view = view.clone();
        drop(s);
        // Nobody listening is fine.
        let _ = self.tx.send(Arc::new(Update { records: new, view }));
        Ok(Some(w))
    }
}

/// The open journal and how far it has been read.
struct Watcher {
    session: Session,
    chain: ChainStatus,
    seen: i64,
}

impl Watcher {
    fn open(plan_path: &std::path::Path) -> Result<Self, cutover_engine::EngineError> {
        let session = Session::open_read_only(plan_path)?;
        let chain = session.journal.verify_chain()?;
        Ok(Watcher {
            session,
            chain,
            seen: 0,
        })
    }
}
