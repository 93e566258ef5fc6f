//! `mysql.copy`: runs the data crate's copier, journals each table as it is loaded (an
//! interrupted copy resumes with the others) and each snapshot's position (where a
//! `mysql.sync` starts); the runner common to every store's copy
//! ([`StoreCopy`](super::store_copy::StoreCopy)) shows and concludes it. A finished copy
//! leaves its marker on the target (see [`marker`]), by which a run with a fresh journal finds
//! it in place. Undo drops the databases the copy created and the marker.

use super::mysql::{
    copy_positions, describe, endpoint, failed, save_snapshot, states, Snapshot, TableDone,
};
use super::store_copy::{Copier, CopyJournal};
use super::traffic::save_state;
use crate::context::{StepCtx, Values};
use crate::error::EngineError;
use crate::progress::Sample;
use async_trait::async_trait;
use cutover_data::copied::{mb, TableCopied};
use cutover_data::mysql::copy::{self, CopyEvent, CopyOptions, CopyReport};
use cutover_data::mysql::marker::{self, CopyMarker};
use cutover_data::mysql::Endpoint;
use cutover_plan::steps::MysqlCopyStep;
use cutover_plan::StepKind;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub(crate) struct MysqlCopy<'a>(pub &'a MysqlCopyStep);

impl MysqlCopy<'_> {
    fn databases(&self) -> Vec<String> {
        self.0.databases.iter().map(|d| d.value.clone()).collect()
    }

    /// Whether the target holds a completion marker left by a copy from this step's source.
    async fn marked_from_source(&self, ctx: &StepCtx<'_>) -> Result<bool, EngineError> {
        let [source, target] = self.sides(ctx).await?;
        let found = marker::read(
            ctx.exec,
            &target,
            &super::files_verify::agent(ctx)?,
            &self.databases(),
        )
        .await
        .map_err(|e| failed(ctx, e))?;
        Ok(found.is_some_and(|m| m.source == source.describe()))
    }

    fn workers(&self) -> usize {
        self.0.workers.as_ref().map_or(4, |w| w.value as usize)
    }

    async fn options(&self, ctx: &StepCtx<'_>) -> Result<CopyOptions, EngineError> {
        let s = self.0;
        let address = match &s.address {
            Some(a) => ctx.render(a)?,
            None => ctx.reach_address(&s.target.host.value).await?,
        };
        let mut o = CopyOptions::new(self.databases(), address, super::files_verify::agent(ctx)?);
        o.workers = self.workers();
        if let Some(mb) = s.chunk_mb {
            o.chunk_bytes = mb << 20;
        }
        o.users = s.users;
        o.port = s.port.unwrap_or(0);
        if let Some(t) = s.lock_timeout {
            o.lock_timeout = t.as_secs().max(1);
        }
        o.done = states::<TableDone>(ctx, ctx.id(), "table")?
            .into_iter()
            .map(|t| (t.db, t.name))
            .collect();
        // An attempt killed after it began writing leaves partial tables: resumable.
        o.resume = !states::<Vec<String>>(ctx, ctx.id(), "created")?.is_empty();
        // A copy a sync follows creates its events disabled on the replica (the switch
        // enables them): meanwhile the source's events already write to it.
        let id = ctx.id();
        o.events_off = ctx
            .plan
            .steps()
            .any(|(_, st)| matches!(&st.kind, StepKind::MysqlSync(sync) if sync.copy.value == id));
        Ok(o)
    }
}

#[async_trait]
impl Copier for MysqlCopy<'_> {
    type Report = CopyReport;
    type Side = Endpoint;

    fn plan(&self, values: &Values<'_>) -> Result<Vec<String>, EngineError> {
        let s = self.0;
        Ok(vec![
            format!(
                "copy database(s) {} from {} into {} (each missing or empty there)",
                self.databases().join(", "),
                describe(values, &s.source)?,
                describe(values, &s.target)?
            ),
            format!(
                "one consistent snapshot of the source shared by {} workers (commits held while they open; binary-log position journaled), tables in primary-key ranges of {} MB streamed agent to agent, loaded with LOAD DATA LOCAL, secondary keys built after each table's rows",
                self.workers(),
                s.chunk_mb.unwrap_or(64)
            ),
            format!(
                "then foreign keys, views, routines, triggers and events{}",
                if s.users { ", accounts and their grants" } else { "" }
            ),
            "each table journaled when loaded: an interrupted copy resumes with the rest; once done, a marker on the target (`cutover`.`copies`) names the source and the position; undo drops the databases the copy created and the marker".into(),
        ])
    }

    /// Complete in this run's journal, or marked complete on the target by a copy from this
    /// step's source (a run with a fresh journal).
    async fn in_place(&self, ctx: &StepCtx<'_>) -> Result<bool, EngineError> {
        let complete: Vec<bool> = states(ctx, ctx.id(), "complete")?;
        if !complete.is_empty() {
            return Ok(true);
        }
        self.marked_from_source(ctx).await
    }

    /// The undo drops only the databases the copy reported creating before it created them.
    fn undoes_failed(&self) -> bool {
        true
    }

    async fn sides(&self, ctx: &StepCtx<'_>) -> Result<[Endpoint; 2], EngineError> {
        Ok([
            endpoint(ctx, &self.0.source).await?,
            endpoint(ctx, &self.0.target).await?,
        ])
    }

    async fn copy(
        &self,
        ctx: &StepCtx<'_>,
        [source, target]: &[Endpoint; 2],
        journal: &CopyJournal,
    ) -> Result<CopyReport, EngineError> {
        let o = self.options(ctx).await?;
        let attempt: Mutex<usize> = Mutex::new(0);
        let shown = Mutex::new(Instant::now());
        let on_event = |e: CopyEvent| match e {
            CopyEvent::Note(line) => ctx.detail(line),
            CopyEvent::Created(dbs) => journal.keep(save_state(ctx, "created", &dbs)),
            CopyEvent::Snapshot { position, lock_ms } => {
                ctx.detail(format!(
                    "snapshot at {} (commits held {lock_ms} ms)",
                    position.describe()
                ));
                match save_snapshot(ctx, &position) {
                    Ok(n) => *attempt.lock().unwrap_or_else(|p| p.into_inner()) = n,
                    Err(e) => journal.keep(Err(e)),
                }
            }
            CopyEvent::Progress { rows, bytes } => {
                let mut last = shown.lock().unwrap_or_else(|p| p.into_inner());
                if last.elapsed() >= Duration::from_secs(2) {
                    *last = Instant::now();
                    ctx.detail(format!("{rows} rows, {} loaded", mb(bytes)));
                }
                journal.sample(
                    ctx,
                    Sample {
                        unit: "rows",
                        done: rows as f64,
                        total: None,
                        figures: &[("bytes", bytes as f64)],
                    },
                );
            }
            CopyEvent::Table(t) => {
                // Journaled first: a copy resumed after this keeps the table.
                let done = TableDone {
                    db: t.db.clone(),
                    name: t.name.clone(),
                    attempt: *attempt.lock().unwrap_or_else(|p| p.into_inner()),
                };
                journal.keep(save_state(ctx, "table", &done));
                journal.table(
                    ctx,
                    &TableCopied {
                        name: format!("{}.{}", t.db, t.name),
                        rows: t.rows,
                        bytes: t.bytes,
                        seconds: t.seconds,
                    },
                );
            }
        };
        let timeout = self.0.timeout.unwrap_or(Duration::from_secs(24 * 3600));
        let result =
            tokio::time::timeout(timeout, copy::copy(ctx.exec, source, target, &o, &on_event))
                .await;
        journal.check()?;
        let report = match result {
            Ok(r) => r.map_err(|e| failed(ctx, e))?,
            Err(_) => {
                return Err(ctx.failed(format!(
                    "the copy did not finish within {}s; `cutover apply` resumes it with the tables not yet loaded",
                    timeout.as_secs()
                )))
            }
        };
        // On the target before the journal: a finished copy is found there also by a run
        // that has lost this journal.
        // A copy that loaded no table took no snapshot: no position to mark.
        let (start, converge) = if states::<Snapshot>(ctx, ctx.id(), "snapshot")?.is_empty() {
            (None, None)
        } else {
            let (start, converge) = copy_positions(ctx, ctx.id())?;
            (Some(start), converge)
        };
        let done = CopyMarker {
            source: source.describe(),
            start,
            converge,
        };
        marker::record(ctx.exec, target, &o.agent, &self.databases(), &done)
            .await
            .map_err(|e| failed(ctx, e))?;
        save_state(ctx, "complete", &true)?;
        Ok(report)
    }

    async fn undo(&self, ctx: &StepCtx<'_>) -> Result<String, EngineError> {
        let target = endpoint(ctx, &self.0.target).await?;
        let mut created: Vec<String> = states::<Vec<String>>(ctx, ctx.id(), "created")?.concat();
        let agent = super::files_verify::agent(ctx)?;
        // Found in place by this run (nothing journaled) and undone by name: a marker from
        // this step's source says a cutover copy filled these databases, which it only does
        // into missing or empty ones, so they go as a journaled copy's would.
        let journaled = !states::<bool>(ctx, ctx.id(), "complete")?.is_empty();
        if created.is_empty() && !journaled && self.marked_from_source(ctx).await? {
            created = self.databases();
        }
        let removed = marker::remove(ctx.exec, &target, &agent, &self.databases())
            .await
            .map_err(|e| failed(ctx, e))?;
        let dropped = copy::undo(ctx.exec, &target, &created, &agent)
            .await
            .map_err(|e| failed(ctx, e))?;
        Ok(if removed {
            format!("{dropped}; its completion marker removed")
        } else {
            dropped
        })
    }
}
