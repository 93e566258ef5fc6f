//! `mysql.copy`: runs the data crate's copier, shows and journals each table as it is loaded
//! (an interrupted copy resumes with the others), journals each snapshot's position (where a
//! `mysql.sync` starts), and undoes itself by dropping the databases it created.

use super::mysql::{describe, endpoint, failed, save_snapshot, states, TableDone};
use super::traffic::save_state;
use crate::context::{StepCtx, Values};
use crate::error::EngineError;
use crate::progress::{ProgressSampler, Sample};
use crate::step::{Applied, StepRunner, Verified};
use async_trait::async_trait;
use cutover_data::mysql::copy::{self, CopyEvent, CopyOptions};
use cutover_plan::steps::MysqlCopyStep;
use cutover_plan::StepKind;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub(crate) struct MysqlCopy<'a>(pub &'a MysqlCopyStep);

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

impl MysqlCopy<'_> {
    fn databases(&self) -> Vec<String> {
        self.0.databases.iter().map(|d| d.value.clone()).collect()
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
impl StepRunner for MysqlCopy<'_> {
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
            "each table journaled when loaded: an interrupted copy resumes with the rest; undo drops the databases the copy created".into(),
        ])
    }

    async fn verify(&self, ctx: &StepCtx<'_>) -> Result<Verified, EngineError> {
        let complete: Vec<bool> = states(ctx, ctx.id(), "complete")?;
        Ok(if complete.is_empty() {
            Verified::NotInPlace
        } else {
            Verified::InPlace
        })
    }

    /// The undo drops only the databases the copy reported creating before it created them.
    fn undoes_failed(&self) -> bool {
        true
    }

    async fn apply(&self, ctx: &StepCtx<'_>) -> Result<Applied, EngineError> {
        let source = endpoint(ctx, &self.0.source).await?;
        let target = endpoint(ctx, &self.0.target).await?;
        let o = self.options(ctx).await?;
        let host = format!("{} -> {}", source.host, target.host);
        ctx.command_started(
            &host,
            format!("copy {} into {}", source.describe(), target.describe()),
        )?;
        let journal_error: Mutex<Option<EngineError>> = Mutex::new(None);
        let attempt: Mutex<usize> = Mutex::new(0);
        let shown = Mutex::new(Instant::now());
        let sampler = Mutex::new(ProgressSampler::default());
        let keep = |r: Result<(), EngineError>| {
            if let Err(e) = r {
                journal_error
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get_or_insert(e);
            }
        };
        let on_event = |e: CopyEvent| match e {
            CopyEvent::Note(line) => ctx.detail(line),
            CopyEvent::Created(dbs) => keep(save_state(ctx, "created", &dbs)),
            CopyEvent::Snapshot { position, lock_ms } => {
                ctx.detail(format!(
                    "snapshot at {} (commits held {lock_ms} ms)",
                    position.describe()
                ));
                match save_snapshot(ctx, &position) {
                    Ok(n) => *attempt.lock().unwrap_or_else(|p| p.into_inner()) = n,
                    Err(e) => keep(Err(e)),
                }
            }
            CopyEvent::Progress { rows, bytes } => {
                let mut last = shown.lock().unwrap_or_else(|p| p.into_inner());
                if last.elapsed() >= Duration::from_secs(2) {
                    *last = Instant::now();
                    ctx.detail(format!("{rows} rows, {} loaded", mb(bytes)));
                }
                let sample = Sample {
                    unit: "rows",
                    done: rows as f64,
                    total: None,
                    figures: &[("bytes", bytes as f64)],
                };
                keep(
                    sampler
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .offer(ctx, sample),
                );
            }
            CopyEvent::Table(t) => {
                let name = format!("{}.{}", t.db, t.name);
                ctx.detail(format!(
                    "{name}: {} rows, {} in {:.1}s",
                    t.rows,
                    mb(t.bytes),
                    t.seconds
                ));
                let done = TableDone {
                    db: t.db.clone(),
                    name: t.name.clone(),
                    attempt: *attempt.lock().unwrap_or_else(|p| p.into_inner()),
                };
                keep(
                    save_state(ctx, "table", &done)
                        .and_then(|_| ctx.measure(&format!("rows {name}"), t.rows as f64, "rows")),
                );
            }
        };
        let timeout = self.0.timeout.unwrap_or(Duration::from_secs(24 * 3600));
        let result = tokio::time::timeout(
            timeout,
            copy::copy(ctx.exec, &source, &target, &o, &on_event),
        )
        .await;
        if let Some(e) = journal_error
            .into_inner()
            .unwrap_or_else(|p| p.into_inner())
        {
            return Err(e);
        }
        let report = match result {
            Ok(r) => r.map_err(|e| failed(ctx, e))?,
            Err(_) => {
                return Err(ctx.failed(format!(
                    "the copy did not finish within {}s; `cutover apply` resumes it with the tables not yet loaded",
                    timeout.as_secs()
                )))
            }
        };
        save_state(ctx, "complete", &true)?;
        let lines: Vec<String> = report
            .tables
            .iter()
            .map(|t| {
                format!(
                    "{}.{}\t{} rows\t{}\t{:.1}s",
                    t.db,
                    t.name,
                    t.rows,
                    mb(t.bytes),
                    t.seconds
                )
            })
            .collect();
        ctx.command_finished(
            &host,
            0,
            (report.seconds * 1000.0) as u64,
            crate::context::tail(&lines.join("\n")),
        )?;
        ctx.measure("tables", report.tables.len() as f64, "tables")?;
        ctx.measure("rows", report.rows as f64, "rows")?;
        ctx.measure("bytes", report.bytes as f64, "bytes")?;
        ctx.measure("lock_ms", report.lock_ms as f64, "ms")?;
        ctx.measure("seconds", report.seconds, "s")?;
        for g in &report.objects.skipped_grants {
            ctx.detail(format!(
                "note: grant left out (on a database not copied): {g}"
            ));
        }
        Ok(Applied::Done {
            summary: format!(
                "copied {} table(s){}, {} rows ({}), {} other object(s), {} account(s), {} -> {} in {:.1}s; snapshot at {}",
                report.tables.len(),
                if report.resumed > 0 { format!(" ({} kept from the interrupted attempt)", report.resumed) } else { String::new() },
                report.rows,
                mb(report.bytes),
                report.objects.objects,
                report.objects.accounts,
                report.source_version,
                report.target_version,
                report.seconds,
                report.position.as_ref().map_or("the earlier attempt's position".into(), |p| p.describe())
            ),
        })
    }

    async fn rollback(&self, ctx: &StepCtx<'_>) -> Result<Option<String>, EngineError> {
        let target = endpoint(ctx, &self.0.target).await?;
        let created: Vec<String> = states::<Vec<String>>(ctx, ctx.id(), "created")?.concat();
        let done = copy::undo(
            ctx.exec,
            &target,
            &created,
            &super::files_verify::agent(ctx)?,
        )
        .await
        .map_err(|e| failed(ctx, e))?;
        Ok(Some(done))
    }
}
