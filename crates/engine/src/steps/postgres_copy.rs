//! `postgres.copy`: runs the data crate's copier (the runner common to every store's copy,
//! [`StoreCopy`](super::store_copy::StoreCopy), shows and journals it), and undoes itself by
//! dropping the database it created.

use super::postgres::{describe, endpoint, failed};
use super::store_copy::{Copier, CopyJournal};
use crate::context::{StepCtx, Values};
use crate::error::EngineError;
use crate::progress::Sample;
use async_trait::async_trait;
use cutover_data::copied::TableCopied;
use cutover_data::postgres::copy::{self, CopyEvent, CopyOptions, CopyReport};
use cutover_data::postgres::Endpoint;
use cutover_plan::steps::PostgresCopyStep;

pub(crate) struct PostgresCopy<'a>(pub &'a PostgresCopyStep);

impl PostgresCopy<'_> {
    fn options(&self) -> CopyOptions {
        let s = self.0;
        let mut o = CopyOptions {
            no_owner: s.no_owner,
            no_privileges: s.no_privileges,
            roles: s.roles,
            ..CopyOptions::default()
        };
        if let Some(j) = &s.jobs {
            o.jobs = j.value as usize;
        }
        if let Some(mb) = s.split_mb {
            o.split_bytes = mb << 20;
        }
        if let Some(a) = s.analyze {
            o.analyze = a;
        }
        if let Some(m) = &s.maintenance_work_mem {
            o.maintenance_work_mem = m.clone();
        }
        o
    }
}

#[async_trait]
impl Copier for PostgresCopy<'_> {
    type Report = CopyReport;
    type Side = Endpoint;

    fn plan(&self, values: &Values<'_>) -> Result<Vec<String>, EngineError> {
        let o = self.options();
        let mut lines = vec![
            format!(
                "copy {} into {} (created if missing; must be new or empty)",
                describe(values, &self.0.source)?,
                describe(values, &self.0.target)?
            ),
            "preflight: client tools of the target's major version, pg_dump >= source server, roles and extensions on the target".into(),
            format!(
                "schema (pg_dump --section=pre-data | psql), then {} parallel COPY streams from one snapshot (tables over {} MB split), each table's indexes built as soon as its rows are in{}",
                o.jobs,
                o.split_bytes >> 20,
                if o.analyze { ", then ANALYZE" } else { "" }
            ),
            "sequences set; foreign keys, materialized views, triggers and comments created last".into(),
        ];
        if o.no_owner || o.no_privileges {
            lines.push(format!(
                "options:{}{}",
                if o.no_owner { " --no-owner" } else { "" },
                if o.no_privileges {
                    " --no-privileges"
                } else {
                    ""
                }
            ));
        }
        lines.push("skipped when the target database holds a finished cutover copy; undo drops the database if the copy created it".into());
        Ok(lines)
    }

    async fn in_place(&self, ctx: &StepCtx<'_>) -> Result<bool, EngineError> {
        let target = endpoint(ctx, &self.0.target)?;
        copy::is_complete(ctx.exec, &target)
            .await
            .map_err(|e| failed(ctx, e))
    }

    async fn sides(&self, ctx: &StepCtx<'_>) -> Result<[Endpoint; 2], EngineError> {
        Ok([
            endpoint(ctx, &self.0.source)?,
            endpoint(ctx, &self.0.target)?,
        ])
    }

    async fn copy(
        &self,
        ctx: &StepCtx<'_>,
        [source, target]: &[Endpoint; 2],
        journal: &CopyJournal,
    ) -> Result<CopyReport, EngineError> {
        let on_event = |e: CopyEvent| match e {
            CopyEvent::Note(line) => ctx.detail(line),
            CopyEvent::Streamed {
                tables_done,
                tables,
                bytes,
            } => journal.sample(
                ctx,
                Sample {
                    unit: "tables",
                    done: tables_done as f64,
                    total: Some(tables as f64),
                    figures: &[("bytes", bytes as f64)],
                },
            ),
            CopyEvent::TableDone(t) => journal.table(
                ctx,
                &TableCopied {
                    name: format!("{}.{}", t.schema, t.name),
                    rows: t.rows,
                    bytes: t.bytes,
                    seconds: t.seconds,
                },
            ),
        };
        let options = CopyOptions {
            role_passwords: super::postgres::role_passwords(ctx, &self.0.role_passwords)?,
            ..self.options()
        };
        copy::copy(ctx.exec, source, target, &options, &on_event)
            .await
            .map_err(|e| failed(ctx, e))
    }

    async fn undo(&self, ctx: &StepCtx<'_>) -> Result<String, EngineError> {
        let target = endpoint(ctx, &self.0.target)?;
        copy::undo(ctx.exec, &target)
            .await
            .map_err(|e| failed(ctx, e))
    }
}
