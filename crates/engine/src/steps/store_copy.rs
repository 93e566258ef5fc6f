//! The one runner of every store's copy step (`postgres.copy`, `mysql.copy`): it journals
//! the copy as a command from host to host, gives the store's copier one [`CopyJournal`] for
//! what it reports as it goes (each table shown and measured, progress sampled, journaling
//! errors kept for the end), then journals the tables, the totals and the store's figures
//! and concludes, so that a new store writes only how it copies ([`Copier`]).

use crate::context::{StepCtx, Values};
use crate::error::EngineError;
use crate::progress::{ProgressSampler, Sample};
use crate::step::{Applied, StepRunner, Verified};
use async_trait::async_trait;
use cutover_data::copied::{mb, Copied, TableCopied};
use cutover_data::proof::Place;
use std::sync::{Mutex, MutexGuard};

/// One store's side of a copy step.
#[async_trait]
pub(crate) trait Copier: Send + Sync {
    /// What the store reports once the copy is finished.
    type Report: Copied;

    /// A server of the store.
    type Side: Place + Send + Sync;

    /// For `cutover plan`: what is copied, how, and the undo.
    fn plan(&self, values: &Values<'_>) -> Result<Vec<String>, EngineError>;

    /// True when a finished copy is on the target (the step is in place).
    async fn in_place(&self, ctx: &StepCtx<'_>) -> Result<bool, EngineError>;

    /// True when the undo also copes with a copy that failed part-way.
    fn undoes_failed(&self) -> bool {
        false
    }

    /// The two servers, source first.
    async fn sides(&self, ctx: &StepCtx<'_>) -> Result<[Self::Side; 2], EngineError>;

    /// Copies, reporting tables and progress through `journal` (its errors already
    /// classified).
    async fn copy(
        &self,
        ctx: &StepCtx<'_>,
        sides: &[Self::Side; 2],
        journal: &CopyJournal,
    ) -> Result<Self::Report, EngineError>;

    /// Removes what the copy created; says what was done.
    async fn undo(&self, ctx: &StepCtx<'_>) -> Result<String, EngineError>;
}

/// What a copy reports while it runs, journaled from the copier's (synchronous) callback:
/// an error journaling is kept, and fails the step once the copy returns.
#[derive(Default)]
pub(crate) struct CopyJournal {
    error: Mutex<Option<EngineError>>,
    sampler: Mutex<ProgressSampler>,
}

impl CopyJournal {
    /// Keeps the first journaling error.
    pub(crate) fn keep(&self, r: Result<(), EngineError>) {
        if let Err(e) = r {
            lock(&self.error).get_or_insert(e);
        }
    }

    /// Journals `sample` when one is due.
    pub(crate) fn sample(&self, ctx: &StepCtx<'_>, sample: Sample<'_>) {
        let r = lock(&self.sampler).offer(ctx, sample);
        self.keep(r);
    }

    /// Shows a loaded table and journals its rows and bytes.
    pub(crate) fn table(&self, ctx: &StepCtx<'_>, t: &TableCopied) {
        ctx.detail(format!(
            "{}: {} rows, {} in {:.1}s",
            t.name,
            t.rows,
            mb(t.bytes),
            t.seconds
        ));
        self.keep(
            ctx.measure(&format!("rows {}", t.name), t.rows as f64, "rows")
                .and_then(|_| ctx.measure(&format!("bytes {}", t.name), t.bytes as f64, "bytes")),
        );
    }

    /// The journaling error kept, if any (taken).
    pub(crate) fn check(&self) -> Result<(), EngineError> {
        match lock(&self.error).take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// A copy step of the store `C`.
pub(crate) struct StoreCopy<C>(pub C);

#[async_trait]
impl<C: Copier> StepRunner for StoreCopy<C> {
    fn plan(&self, values: &Values<'_>) -> Result<Vec<String>, EngineError> {
        self.0.plan(values)
    }

    async fn verify(&self, ctx: &StepCtx<'_>) -> Result<Verified, EngineError> {
        Ok(if self.0.in_place(ctx).await? {
            Verified::InPlace
        } else {
            Verified::NotInPlace
        })
    }

    fn undoes_failed(&self) -> bool {
        self.0.undoes_failed()
    }

    async fn apply(&self, ctx: &StepCtx<'_>) -> Result<Applied, EngineError> {
        let sides = self.0.sides(ctx).await?;
        let [source, target] = &sides;
        let host = format!("{} -> {}", source.host(), target.host());
        ctx.command_started(
            &host,
            format!("copy {} into {}", source.describe(), target.describe()),
        )?;
        let journal = CopyJournal::default();
        let copied = self.0.copy(ctx, &sides, &journal).await;
        journal.check()?;
        conclude(ctx, &host, &copied?)
    }

    async fn rollback(&self, ctx: &StepCtx<'_>) -> Result<Option<String>, EngineError> {
        self.0.undo(ctx).await.map(Some)
    }
}

/// Journals a finished copy (its tables as the command's output, the totals and the
/// store's figures) and gives the step's summary.
fn conclude<R: Copied>(ctx: &StepCtx<'_>, host: &str, report: &R) -> Result<Applied, EngineError> {
    let tables = report.tables();
    let lines: Vec<String> = tables
        .iter()
        .map(|t| {
            format!(
                "{}\t{} rows\t{}\t{:.1}s",
                t.name,
                t.rows,
                mb(t.bytes),
                t.seconds
            )
        })
        .collect();
    let (rows, bytes, seconds) = report.totals();
    ctx.command_finished(
        host,
        0,
        (seconds * 1000.0) as u64,
        crate::context::tail(&lines.join("\n")),
    )?;
    ctx.measure("tables", tables.len() as f64, "tables")?;
    ctx.measure("rows", rows as f64, "rows")?;
    ctx.measure("bytes", bytes as f64, "bytes")?;
    for f in report.figures() {
        ctx.measure(f.name, f.value, f.unit)?;
    }
    ctx.measure("seconds", seconds, "s")?;
    for note in report.notes() {
        ctx.detail(format!("note: {note}"));
    }
    Ok(Applied::Done {
        summary: report.summary(),
    })
}

/// A lock, also one a panicking holder left (what it guards stays consistent).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
#[path = "store_copy_tests.rs"]
mod tests;
