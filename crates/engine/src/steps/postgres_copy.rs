//! `postgres.copy`: runs the data crate's copier, shows and journals rows and bytes per
//! table, and undoes itself by dropping the database it created.

use super::postgres::{describe, endpoint, failed};
use crate::context::{StepCtx, Values};
use crate::error::EngineError;
use crate::step::{Applied, StepRunner, Verified};
use async_trait::async_trait;
use cutover_data::postgres::copy::{self, CopyEvent, CopyOptions};
use cutover_journal::Event;
use cutover_plan::steps::PostgresCopyStep;
use std::sync::Mutex;

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

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

#[async_trait]
impl StepRunner for PostgresCopy<'_> {
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

    async fn verify(&self, ctx: &StepCtx<'_>) -> Result<Verified, EngineError> {
        let target = endpoint(ctx, &self.0.target)?;
        let done = copy::is_complete(ctx.exec, &target)
            .await
            .map_err(|e| failed(ctx, e))?;
        Ok(if done {
            Verified::InPlace
        } else {
            Verified::NotInPlace
        })
    }

    async fn apply(&self, ctx: &StepCtx<'_>) -> Result<Applied, EngineError> {
        let source = endpoint(ctx, &self.0.source)?;
        let target = endpoint(ctx, &self.0.target)?;
        let what = format!("copy {} into {}", source.describe(), target.describe());
        ctx.command_started(&format!("{} -> {}", source.host, target.host), what.clone())?;
        let journal_error: Mutex<Option<EngineError>> = Mutex::new(None);
        let on_event = |e: CopyEvent| match e {
            CopyEvent::Note(line) => ctx.detail(line),
            CopyEvent::TableDone(t) => {
                let name = format!("{}.{}", t.schema, t.name);
                ctx.detail(format!(
                    "{name}: {} rows, {} in {:.1}s",
                    t.rows,
                    mb(t.bytes),
                    t.seconds
                ));
                let r = ctx
                    .measure(&format!("rows {name}"), t.rows as f64, "rows")
                    .and_then(|_| ctx.measure(&format!("bytes {name}"), t.bytes as f64, "bytes"));
                if let Err(e) = r {
                    *journal_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                }
            }
        };
        let result = copy::copy(
            ctx.exec,
            &source,
            &target,
            &CopyOptions {
                role_passwords: super::postgres::role_passwords(ctx, &self.0.role_passwords)?,
                ..self.options()
            },
            &on_event,
        )
        .await;
        if let Some(e) = journal_error
            .into_inner()
            .unwrap_or_else(|p| p.into_inner())
        {
            return Err(e);
        }
        let report = result.map_err(|e| failed(ctx, e))?;
        let lines: Vec<String> = report
            .tables
            .iter()
            .map(|t| {
                format!(
                    "{}.{}\t{} rows\t{}\t{:.1}s",
                    t.schema,
                    t.name,
                    t.rows,
                    mb(t.bytes),
                    t.seconds
                )
            })
            .collect();
        ctx.record(Event::CommandFinished {
            step: ctx.id().to_string(),
            host: format!("{} -> {}", source.host, target.host),
            code: Some(0),
            duration_ms: (report.seconds * 1000.0) as u64,
            stdout: crate::context::tail(&lines.join("\n")),
            stderr: String::new(),
        })?;
        ctx.measure("tables", report.tables.len() as f64, "tables")?;
        ctx.measure("rows", report.rows as f64, "rows")?;
        ctx.measure("bytes", report.bytes as f64, "bytes")?;
        ctx.measure("seconds", report.seconds, "s")?;
        Ok(Applied::Done {
            summary: format!(
                "copied {} tables, {} rows ({}), {} large objects, {} sequences, PostgreSQL {} -> {} ({}) in {:.1}s",
                report.tables.len(),
                report.rows,
                mb(report.bytes),
                report.large_objects,
                report.sequences,
                report.source_version,
                report.target_version,
                report.route,
                report.seconds
            ),
        })
    }

    async fn rollback(&self, ctx: &StepCtx<'_>) -> Result<Option<String>, EngineError> {
        let target = endpoint(ctx, &self.0.target)?;
        let done = copy::undo(ctx.exec, &target)
            .await
            .map_err(|e| failed(ctx, e))?;
        Ok(Some(done))
    }
}
