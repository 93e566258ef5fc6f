//! The copy's work pool: `jobs` workers take table streams biggest first; as soon as every
//! piece of a table is loaded, that table's indexes, keys and triggers jump the queue (so
//! they build while other tables are still streaming), and once those are in, its `ANALYZE`.
//! The first failure stops every worker (their processes are killed with them).

use super::postdata::PostData;
use super::stream::{self, DataUnit};
use super::{CopyEvent, Progress, TableCopy};
use crate::postgres::endpoint::Endpoint;
use crate::postgres::error::PgError;
use crate::postgres::session::run_sql;
use crate::postgres::sql::qualified;
use cutover_exec::Executor;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What a worker does next.
#[derive(Debug, Clone, Copy)]
enum Item {
    /// A COPY stream (index into the units).
    Data(usize),
    /// A post-data entry of one table (index into the entries).
    Post(usize),
    /// `ANALYZE` of a table (index into the tables).
    Analyze(usize),
}

/// A table being copied.
pub struct TableWork {
    /// Schema.
    pub schema: String,
    /// Name.
    pub name: String,
    /// Its post-data entries (indexes into the post-data entries).
    pub post: Vec<usize>,
    units_left: usize,
    post_left: usize,
    rows: u64,
    bytes: u64,
    started: Option<Instant>,
}

impl TableWork {
    /// A table with its post-data entries.
    pub fn new(schema: String, name: String, post: Vec<usize>) -> Self {
        TableWork {
            schema,
            name,
            post,
            units_left: 0,
            post_left: 0,
            rows: 0,
            bytes: 0,
            started: None,
        }
    }
}

struct State {
    queue: VecDeque<Item>,
    running: usize,
    failed: bool,
    tables: Vec<TableWork>,
    done: Vec<TableCopy>,
}

/// Everything the workers share.
pub struct Pool<'a> {
    /// Runs commands.
    pub exec: &'a Executor,
    /// Source (tools set).
    pub source: &'a Endpoint,
    /// Target (tools set).
    pub target: &'a Endpoint,
    /// The exported snapshot every stream reads.
    pub snapshot: &'a str,
    /// The streams.
    pub units: &'a [DataUnit],
    /// The post-data dump.
    pub post: &'a PostData,
    /// Session settings for index builds (e.g. `SET maintenance_work_mem = '256MB';`).
    pub build_settings: &'a str,
    /// Run `ANALYZE` on each table once built.
    pub analyze: bool,
    /// Progress.
    pub progress: Progress<'a>,
}

struct Shared<'a> {
    pool: &'a Pool<'a>,
    state: Mutex<State>,
    bytes: AtomicU64,
    last_note: Mutex<Instant>,
    started: Instant,
}

impl Pool<'_> {
    /// Runs every unit and per-table item with `jobs` workers; returns the tables copied.
    pub async fn run(
        &self,
        tables: Vec<TableWork>,
        jobs: usize,
    ) -> Result<Vec<TableCopy>, PgError> {
        let mut tables = tables;
        let mut order: Vec<usize> = (0..self.units.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(self.units[i].cost));
        for u in self.units {
            tables[u.table].units_left += 1;
        }
        let shared = Shared {
            pool: self,
            state: Mutex::new(State {
                queue: order.into_iter().map(Item::Data).collect(),
                running: 0,
                failed: false,
                tables,
                done: Vec::new(),
            }),
            bytes: AtomicU64::new(0),
            last_note: Mutex::new(Instant::now()),
            started: Instant::now(),
        };
        let workers = (0..jobs.max(1)).map(|_| shared.worker());
        futures_util::future::try_join_all(workers).await?;
        let state = shared.state.into_inner().unwrap_or_else(|p| p.into_inner());
        Ok(state.done)
    }
}

impl Shared<'_> {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn worker(&self) -> Result<(), PgError> {
        loop {
            let next = {
                let mut s = self.lock();
                if s.failed {
                    return Ok(());
                }
                match s.queue.pop_front() {
                    Some(item) => {
                        s.running += 1;
                        Some(item)
                    }
                    None if s.running == 0 => return Ok(()),
                    None => None,
                }
            };
            let Some(item) = next else {
                tokio::time::sleep(Duration::from_millis(25)).await;
                continue;
            };
            let result = self.run(item).await;
            let mut s = self.lock();
            s.running -= 1;
            match result {
                Ok(moved) => self.after(&mut s, item, moved),
                Err(e) => {
                    s.failed = true;
                    return Err(e);
                }
            }
        }
    }

    async fn run(&self, item: Item) -> Result<stream::Moved, PgError> {
        let p = self.pool;
        match item {
            Item::Data(i) => {
                let unit = &p.units[i];
                self.lock().tables[unit.table]
                    .started
                    .get_or_insert_with(Instant::now);
                let mut last = 0u64;
                let mut on_bytes = |n: u64| {
                    self.bytes.fetch_add(n - last, Ordering::Relaxed);
                    last = n;
                    self.note_progress();
                };
                stream::run(p.exec, p.source, p.target, unit, p.snapshot, &mut on_bytes).await
            }
            Item::Post(e) => {
                let entry = &p.post.entries[e];
                let script = format!("{}{}", p.build_settings, p.post.script(&[entry]));
                let what = format!("create {} {}", entry.kind.to_lowercase(), entry.name);
                run_sql(p.exec, p.target, &what, &script).await?;
                Ok(stream::Moved::default())
            }
            Item::Analyze(t) => {
                let (schema, name) = {
                    let s = self.lock();
                    (s.tables[t].schema.clone(), s.tables[t].name.clone())
                };
                let what = format!("analyze {schema}.{name}");
                run_sql(
                    p.exec,
                    p.target,
                    &what,
                    &format!("ANALYZE {};\n", qualified(&schema, &name)),
                )
                .await?;
                Ok(stream::Moved::default())
            }
        }
    }

    /// Records what finished and queues what it unblocked.
    fn after(&self, s: &mut State, item: Item, moved: stream::Moved) {
        let p = self.pool;
        let table = match item {
            Item::Data(i) => {
                let t = p.units[i].table;
                let tw = &mut s.tables[t];
                tw.units_left -= 1;
                tw.rows += moved.rows;
                tw.bytes += moved.bytes;
                if tw.units_left > 0 {
                    return;
                }
                tw.post_left = tw.post.len();
                let post: Vec<usize> = tw.post.clone();
                for e in post.into_iter().rev() {
                    s.queue.push_front(Item::Post(e));
                }
                t
            }
            Item::Post(e) => {
                let Some(t) = s.tables.iter().position(|t| t.post.contains(&e)) else {
                    return;
                };
                s.tables[t].post_left -= 1;
                t
            }
            Item::Analyze(_) => return,
        };
        let tw = &s.tables[table];
        if tw.units_left > 0 || tw.post_left > 0 {
            return;
        }
        let copied = TableCopy {
            schema: tw.schema.clone(),
            name: tw.name.clone(),
            rows: tw.rows,
            bytes: tw.bytes,
            seconds: tw.started.map_or(0.0, |t| t.elapsed().as_secs_f64()),
        };
        (p.progress)(CopyEvent::TableDone(copied.clone()));
        s.done.push(copied);
        (p.progress)(CopyEvent::Streamed {
            tables_done: s.done.len() as u64,
            tables: s.tables.len() as u64,
            bytes: self.bytes.load(Ordering::Relaxed),
        });
        if p.analyze {
            s.queue.push_back(Item::Analyze(table));
        }
        let left = s
            .queue
            .iter()
            .filter(|i| matches!(i, Item::Data(_)))
            .count();
        (p.progress)(CopyEvent::Note(format!(
            "{}/{} tables copied, {} streams left",
            s.done.len(),
            s.tables.len(),
            left
        )));
    }

    /// A progress line at most every 2 s: bytes streamed so far and the rate.
    fn note_progress(&self) {
        let mut last = self.last_note.lock().unwrap_or_else(|p| p.into_inner());
        if last.elapsed() < Duration::from_secs(2) {
            return;
        }
        *last = Instant::now();
        drop(last);
        let (tables_done, tables) = {
            let s = self.lock();
            (s.done.len() as u64, s.tables.len() as u64)
        };
        (self.pool.progress)(CopyEvent::Streamed {
            tables_done,
            tables,
            bytes: self.bytes.load(Ordering::Relaxed),
        });
        let bytes = self.bytes.load(Ordering::Relaxed) as f64;
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        (self.pool.progress)(CopyEvent::Note(format!(
            "streamed {:.1} MB ({:.1} MB/s)",
            bytes / 1e6,
            bytes / 1e6 / secs
        )));
    }
}
