//! `files.verify`: manifests built on both hosts in parallel by cutover's agent, compared on
//! the controller; any difference fails the step as a verification failure (exit 9), before
//! traffic moves. Counts, bytes and both manifest digests are journaled, and the side-by-side
//! proof goes into the report.

use super::show;
use crate::context::{StepCtx, Values};
use crate::error::EngineError;
use crate::progress::{ProgressSampler, Sample};
use crate::step::{Applied, StepRunner, Verified};
use async_trait::async_trait;
use cutover_data::agent::AgentBinary;
use cutover_data::files::{
    verify, Algorithm, Compare, ManifestOptions, OwnerCheck, Side, VerifyOptions, VerifyReport,
};
use cutover_plan::steps::{FilesVerifyStep, HashAlgorithm, OwnerCheck as PlanOwner, TreeRef};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub(crate) struct FilesVerify<'a>(pub &'a FilesVerifyStep);

/// A tree of the plan as a side, its path rendered; a named volume is its mount point on
/// its host, created first when `create` (the target of a sync).
pub(crate) async fn side(
    ctx: &StepCtx<'_>,
    t: &TreeRef,
    create: bool,
) -> Result<Side, EngineError> {
    let host = t.host.value.clone();
    let path = match (&t.volume, &t.path) {
        (Some(v), inner) => {
            let root = super::docker::volume_path(ctx, &host, &v.value, create).await?;
            match inner {
                Some(p) => format!("{}/{}", root.trim_end_matches('/'), ctx.render(p)?),
                None => root,
            }
        }
        (None, Some(p)) => ctx.render(p)?,
        (None, None) => return Err(ctx.failed("the tree has neither `path` nor `volume`")),
    };
    Ok(Side { host, path })
}

pub(crate) fn sudo(ctx: &StepCtx<'_>, host: &str) -> bool {
    ctx.plan.host(host).is_some_and(|h| h.sudo)
}

pub(crate) fn agent(ctx: &StepCtx<'_>) -> Result<AgentBinary, EngineError> {
    AgentBinary::current().map_err(|e| ctx.failed(e.to_string()))
}

pub(crate) fn tree(t: &TreeRef, values: &Values<'_>) -> Result<String, EngineError> {
    let path = match &t.path {
        Some(p) => show(p, values)?,
        None => String::new(),
    };
    Ok(match &t.volume {
        Some(v) if path.is_empty() => format!("{}:volume {}", t.host.value, v.value),
        Some(v) => format!("{}:volume {}/{path}", t.host.value, v.value),
        None => format!("{}:{path}", t.host.value),
    })
}

impl FilesVerify<'_> {
    fn options(&self) -> ManifestOptions {
        let s = self.0;
        ManifestOptions {
            algorithm: match s.algorithm.as_ref().map(|a| a.value) {
                Some(HashAlgorithm::Sha256) => Algorithm::Sha256,
                Some(HashAlgorithm::Blake3) | None => Algorithm::Blake3,
            },
            exclude: s.exclude.clone(),
            cache: s.cache.unwrap_or(true),
            compare: Compare {
                mode: s.mode.unwrap_or(true),
                owner: match s.owner.as_ref().map(|o| o.value) {
                    Some(PlanOwner::Numeric) => OwnerCheck::Numeric,
                    Some(PlanOwner::Ignore) => OwnerCheck::Ignore,
                    Some(PlanOwner::Names) | None => OwnerCheck::Names,
                },
                mtime: s.mtime,
            },
        }
    }
}

#[async_trait]
impl StepRunner for FilesVerify<'_> {
    fn plan(&self, values: &Values<'_>) -> Result<Vec<String>, EngineError> {
        let o = self.options();
        let mut covers = vec!["type", "size", "content", "symlink target"];
        if o.compare.mode {
            covers.push("mode");
        }
        if o.compare.owner != OwnerCheck::Ignore {
            covers.push("owner");
        }
        if o.compare.mtime {
            covers.push("mtime");
        }
        let mut lines = vec![
            format!(
                "prove {} == {} ({} manifests built on each host; compares {})",
                tree(&self.0.from, values)?,
                tree(&self.0.to, values)?,
                o.algorithm.name(),
                covers.join(", ")
            ),
            "fails with exit code 9, naming every difference, if they differ".into(),
        ];
        if !o.exclude.is_empty() {
            lines.push(format!("excluding {}", o.exclude.join(", ")));
        }
        Ok(lines)
    }

    async fn verify(&self, _ctx: &StepCtx<'_>) -> Result<Verified, EngineError> {
        // A proof is only worth what it checked just now: always run it.
        Ok(Verified::Unknown)
    }

    async fn apply(&self, ctx: &StepCtx<'_>) -> Result<Applied, EngineError> {
        let from = side(ctx, &self.0.from, false).await?;
        let to = side(ctx, &self.0.to, false).await?;
        let opts = VerifyOptions {
            manifest: self.options(),
            source_sudo: sudo(ctx, &from.host),
            target_sudo: sudo(ctx, &to.host),
            agent: agent(ctx)?,
        };
        ctx.detail(format!(
            "building manifests of {from} and {to} on their hosts"
        ));
        let host = format!("{} + {}", from.host, to.host);
        ctx.command_started(&host, format!("verify files {from} against {to}"))?;
        let started = Instant::now();
        let mut last = Instant::now();
        // Both hosts hash at once: the sample adds up what each said last.
        let mut hashed: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        let mut sampler = ProgressSampler::default();
        let mut journal_error = None;
        let mut progress = |host: &str, entries: u64, bytes: u64| {
            hashed.insert(host.to_string(), (entries, bytes));
            let (entries_all, bytes_all) = hashed
                .values()
                .fold((0, 0), |(e, b), (e1, b1)| (e + e1, b + b1));
            let sample = Sample {
                unit: "bytes",
                done: bytes_all as f64,
                total: None,
                figures: &[("entries", entries_all as f64)],
            };
            if let Err(e) = sampler.offer(ctx, sample) {
                journal_error.get_or_insert(e);
            }
            if last.elapsed() >= Duration::from_secs(2) {
                last = Instant::now();
                ctx.detail(format!(
                    "{host}: {entries} entries, {} hashed",
                    cutover_data::files::verify::human_bytes(bytes)
                ));
            }
        };
        let verified = verify(ctx.exec, &from, &to, &opts, &mut progress).await;
        if let Some(e) = journal_error {
            return Err(e);
        }
        let report = verified.map_err(|e| files_failed(ctx, e))?;
        ctx.command_finished(
            &host,
            if report.matches() { 0 } else { 1 },
            (report.seconds * 1000.0) as u64,
            if report.matches() {
                "both trees match".to_string()
            } else {
                "the trees differ".to_string()
            },
        )?;
        ctx.record_proof(&host, report.matches(), proof(&report, &from, &to), &report)?;
        let s = &report.source.summary;
        let t = &report.target.summary;
        ctx.measure("source_entries", s.entries as f64, "entries")?;
        ctx.measure("source_files", s.files as f64, "files")?;
        ctx.measure("source_bytes", s.bytes as f64, "bytes")?;
        ctx.measure("target_entries", t.entries as f64, "entries")?;
        ctx.measure("target_bytes", t.bytes as f64, "bytes")?;
        ctx.measure(
            "differences",
            report.differences.total as f64,
            "differences",
        )?;
        ctx.measure("seconds", started.elapsed().as_secs_f64(), "s")?;
        let digests = format!(
            "{} digests: source {} target {}",
            report.algorithm, s.digest, t.digest
        );
        if !report.matches() {
            return Err(ctx.verify_failed(format!(
                "{from} and {to} differ:\n{}{digests}",
                report.text(50)
            )));
        }
        ctx.detail(digests.clone());
        Ok(Applied::Done {
            summary: format!(
                "identical: {} entries, {} files, {} ({:.2}s); {digests}",
                s.entries,
                s.files,
                cutover_data::files::verify::human_bytes(s.bytes),
                report.seconds
            ),
        })
    }

    async fn rollback(&self, _ctx: &StepCtx<'_>) -> Result<Option<String>, EngineError> {
        Ok(None)
    }
}

/// A files error as a step failure; connection problems keep their own class.
pub(crate) fn files_failed(ctx: &StepCtx<'_>, e: cutover_data::files::FilesError) -> EngineError {
    match e {
        cutover_data::files::FilesError::Agent(e) => agent_failed(ctx, e),
        other => ctx.failed_as(other.class(), other.to_string()),
    }
}

/// An agent's failure (any store's) as a step failure: an SSH failure keeps its own
/// handling, the rest its class.
pub(crate) fn agent_failed(ctx: &StepCtx<'_>, e: cutover_data::agent::AgentError) -> EngineError {
    match e {
        cutover_data::agent::AgentError::Exec(e) => ctx.exec_failed(e),
        other => ctx.failed_as(other.class(), other.to_string()),
    }
}

/// The proof as the report shows it: both sides' figures and full manifest digests side by
/// side, then the verdict and (when they differ) the differences by name.
fn proof(report: &VerifyReport, from: &Side, to: &Side) -> String {
    let (s, t) = (&report.source.summary, &report.target.summary);
    let rows: [(&str, String, String); 8] = [
        ("entries", s.entries.to_string(), t.entries.to_string()),
        ("regular files", s.files.to_string(), t.files.to_string()),
        ("directories", s.dirs.to_string(), t.dirs.to_string()),
        ("symlinks", s.symlinks.to_string(), t.symlinks.to_string()),
        ("bytes", s.bytes.to_string(), t.bytes.to_string()),
        (
            "unreadable or unstable",
            s.problems.to_string(),
            t.problems.to_string(),
        ),
        (
            "hashed now / from cache",
            format!("{} / {}", s.hashed_files, s.cached_files),
            format!("{} / {}", t.hashed_files, t.cached_files),
        ),
        (
            "seconds on the host",
            format!("{:.3}", s.seconds),
            format!("{:.3}", t.seconds),
        ),
    ];
    let (a, b) = (format!("source {from}"), format!("target {to}"));
    let width = a.len().max(24);
    let mut out = format!("{:<24} {a:<width$} {b}\n", "");
    for (name, x, y) in rows {
        out += &format!("{name:<24} {x:<width$} {y}\n");
    }
    out += &format!(
        "{:<24} {}\n{:<24} {}\n",
        format!("{} digest", report.algorithm),
        s.digest,
        "",
        t.digest
    );
    out += &if report.matches() {
        "result: identical, the digests are equal\n".to_string()
    } else {
        format!("result: different\n{}", report.text(20))
    };
    out
}
