//! `files.sync`: a tree copied host to host by cutover's agents, sending only what changed;
//! progress (files, bytes, rate, ETA) is shown and journaled. Running it again is the final
//! incremental sync; applying twice sends nothing the second time.

use super::files_verify::{agent, files_failed, side, sudo, tree};
use super::show;
use crate::context::{StepCtx, Values};
use crate::error::EngineError;
use crate::progress::{ProgressSampler, Sample};
use crate::step::{Applied, StepRunner, Verified};
use async_trait::async_trait;
use cutover_data::files::sync::{sync, Preserve, SyncOptions, SyncProgress};
use cutover_plan::steps::FilesSyncStep;
use std::time::{Duration, Instant};

pub(crate) struct FilesSync<'a>(pub &'a FilesSyncStep);

impl FilesSync<'_> {
    fn preserve(&self) -> Preserve {
        let s = self.0;
        Preserve {
            owner: s.owner.unwrap_or(true),
            numeric_ids: s.numeric_ids,
            hard_links: s.hard_links,
            acls: s.acls,
            xattrs: s.xattrs,
            sparse: s.sparse,
            devices: s.devices,
        }
    }

    /// How the source reaches the target's agent: the step's `address`, else the target
    /// host's (see [`StepCtx::reach_address`]).
    async fn address(&self, ctx: &StepCtx<'_>, values: &Values<'_>) -> Result<String, EngineError> {
        match &self.0.address {
            Some(a) => show(a, values),
            None => ctx.reach_address(&self.0.to.host.value).await,
        }
    }
}

#[async_trait]
impl StepRunner for FilesSync<'_> {
    fn plan(&self, values: &Values<'_>) -> Result<Vec<String>, EngineError> {
        let s = self.0;
        let p = self.preserve();
        let mut keep = vec!["modes", "mtimes", "symlinks"];
        for (on, what) in [
            (p.owner, "owners"),
            (p.numeric_ids, "numeric ids"),
            (p.hard_links, "hard links"),
            (p.acls, "ACLs"),
            (p.xattrs, "xattrs"),
            (p.sparse, "sparse files"),
        ] {
            if on {
                keep.push(what);
            }
        }
        let mut lines = vec![format!(
            "sync {} -> {} host to host (the source connects to {}:{}), sending files whose {} differ; keeps {}",
            tree(&s.from, values)?,
            tree(&s.to, values)?,
            match &s.address {
                Some(a) => show(a, values)?,
                None => values
                    .plan
                    .host(&s.to.host.value)
                    .map(|h| h.address())
                    .unwrap_or_default(),
            },
            s.port.map_or("any port".to_string(), |p| p.to_string()),
            if s.checksum { "content hashes" } else { "size or mtime" },
            keep.join(", ")
        )];
        if s.delete {
            lines.push(format!(
                "deletes what {} does not have",
                tree(&s.from, values)?
            ));
        }
        if !s.exclude.is_empty() {
            lines.push(format!("excluding {}", s.exclude.join(", ")));
        }
        Ok(lines)
    }

    async fn verify(&self, _ctx: &StepCtx<'_>) -> Result<Verified, EngineError> {
        // An incremental sync is its own check: when nothing changed it sends nothing.
        Ok(Verified::Unknown)
    }

    async fn apply(&self, ctx: &StepCtx<'_>) -> Result<Applied, EngineError> {
        let s = self.0;
        let from = side(ctx, &s.from, false).await?;
        let to = side(ctx, &s.to, true).await?;
        let outputs = ctx.outputs_now();
        let values = Values {
            plan: ctx.plan,
            run_id: Some(ctx.run_id),
            secrets: None,
            outputs: Some(&outputs),
        };
        let opts = SyncOptions {
            delete: s.delete,
            exclude: s.exclude.clone(),
            checksum: s.checksum,
            preserve: self.preserve(),
            address: self.address(ctx, &values).await?,
            port: s.port.unwrap_or(0),
            relay: s.relay,
            source_sudo: sudo(ctx, &from.host),
            target_sudo: sudo(ctx, &to.host),
            agent: agent(ctx)?,
            stall: s.stall_timeout,
        };
        ctx.command_started(
            &format!("{} -> {}", from.host, to.host),
            format!("cutover agent: sync {from} -> {to}"),
        )?;
        let mut shown = Instant::now();
        let mut sampler = ProgressSampler::default();
        let mut journal_error = None;
        let mut last = SyncProgress::default();
        let mut progress = |p: &SyncProgress| {
            last = p.clone();
            if shown.elapsed() >= Duration::from_secs(2) {
                shown = Instant::now();
                ctx.detail(p.line());
            }
            let sample = Sample {
                unit: "bytes",
                done: p.bytes as f64,
                total: Some(p.total_bytes as f64),
                figures: &[
                    ("files", p.files as f64),
                    ("total_files", p.total_files as f64),
                ],
            };
            if let Err(e) = sampler.offer(ctx, sample) {
                journal_error.get_or_insert(e);
            }
        };
        let timeout = s.timeout.unwrap_or(Duration::from_secs(24 * 3600));
        let report = match tokio::time::timeout(timeout, sync(ctx.exec, &from, &to, &opts, &mut progress)).await {
            Ok(r) => r.map_err(|e| files_failed(ctx, e))?,
            Err(_) => {
                return Err(ctx.failed(format!(
                    "the sync did not finish within {}s (at {}); run `cutover apply` again to resume it",
                    timeout.as_secs(),
                    last.line()
                )))
            }
        };
        if let Some(e) = journal_error {
            return Err(e);
        }
        let r = &report;
        ctx.measure("files_sent", r.sent.files_sent as f64, "files")?;
        ctx.measure("bytes_sent", r.sent.bytes_sent as f64, "bytes")?;
        ctx.measure("bytes_resumed", r.sent.bytes_resumed as f64, "bytes")?;
        ctx.measure("deleted", r.received.deleted as f64, "entries")?;
        ctx.measure("source_entries", r.sent.source_entries as f64, "entries")?;
        ctx.measure("source_bytes", r.sent.source_bytes as f64, "bytes")?;
        ctx.measure("seconds", r.seconds, "s")?;
        ctx.measure(
            "rate",
            r.sent.bytes_sent as f64 / r.seconds.max(1e-3),
            "bytes/s",
        )?;
        let errors: Vec<&String> = r.sent.errors.iter().chain(&r.received.errors).collect();
        if !errors.is_empty() {
            let list: Vec<String> = errors.iter().take(50).map(|e| format!("  - {e}")).collect();
            return Err(ctx.failed(format!(
                "{} path(s) could not be copied ({}):\n{}\nfix them (permissions, files changing) and run `cutover apply` again",
                errors.len(),
                r.line(),
                list.join("\n")
            )));
        }
        Ok(Applied::Done { summary: r.line() })
    }

    async fn rollback(&self, _ctx: &StepCtx<'_>) -> Result<Option<String>, EngineError> {
        // The source is never touched, so there is nothing to give back; the copy on the
        // target stays for inspection (remove it with a `run` step's `undo` if wanted).
        Ok(None)
    }
}
