//! `verify`: the proof that a target tree holds what the source tree holds. Each host builds
//! its manifest in parallel (its agent hashes next to the data); the controller compares the
//! two digests and, only when they differ or a side had problems, merges the two entry
//! streams to name every difference.

use super::compare::{merge_step, Advance, Differences};
use super::entry::Entry;
use super::error::FilesError;
use super::manifest::{ManifestOptions, Summary};
use super::side::Side;
use crate::agent::protocol::{Reply, Request};
use crate::agent::session::{AgentBinary, Session};
use crate::agent::AgentError;
use cutover_exec::Executor;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// How to verify.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// What each manifest holds and the comparison covers.
    pub manifest: ManifestOptions,
    /// Run the source's agent through sudo.
    pub source_sudo: bool,
    /// Run the target's agent through sudo.
    pub target_sudo: bool,
    /// The agent binary for remote hosts.
    pub agent: AgentBinary,
}

/// One side's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SideReport {
    /// The host.
    pub host: String,
    /// Its manifest's figures (with the digest).
    pub summary: Summary,
}

/// The result of a verification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// The content hash used.
    pub algorithm: String,
    /// The source.
    pub source: SideReport,
    /// The target.
    pub target: SideReport,
    /// What differs.
    pub differences: Differences,
    /// Wall-clock seconds on the controller.
    pub seconds: f64,
}

impl VerifyReport {
    /// True when the target holds exactly what the source holds.
    pub fn matches(&self) -> bool {
        self.differences.total == 0
    }

    /// The report for people: the verdict, both sides' figures and digests, and the first
    /// differences.
    pub fn text(&self, max_listed: usize) -> String {
        let mut out = String::new();
        let d = &self.differences;
        if self.matches() {
            out.push_str(&format!(
                "identical: {} entries ({} files, {}) on both sides, {} manifest digest {}\n",
                self.source.summary.entries,
                self.source.summary.files,
                human_bytes(self.source.summary.bytes),
                self.algorithm,
                short(&self.source.summary.digest)
            ));
        } else {
            out.push_str(&format!(
                "DIFFERENT: {} difference(s): {}; {} of source data not on the target as it should be\n",
                d.total,
                d.counts_line(),
                human_bytes(d.bytes)
            ));
        }
        for (label, s) in [("source", &self.source), ("target", &self.target)] {
            let m = &s.summary;
            out.push_str(&format!(
                "  {label} {}:{}  {} entries, {} files, {}, digest {} ({} hashed, {} cached, {:.2}s)\n",
                s.host,
                m.root,
                m.entries,
                m.files,
                human_bytes(m.bytes),
                short(&m.digest),
                human_bytes(m.hashed_bytes),
                m.cached_files,
                m.seconds
            ));
        }
        for diff in d.listed.iter().take(max_listed) {
            out.push_str(&format!("  - {diff}\n"));
        }
        let shown = d.listed.len().min(max_listed) as u64;
        if d.total > shown {
            out.push_str(&format!("  ... and {} more\n", d.total - shown));
        }
        out
    }
}

fn short(digest: &str) -> &str {
    &digest[..digest.len().min(16)]
}

/// Bytes for people: "1.6 GB".
pub fn human_bytes(n: u64) -> String {
    let n = n as f64;
    match n {
        n if n >= 1e9 => format!("{:.2} GB", n / 1e9),
        n if n >= 1e6 => format!("{:.1} MB", n / 1e6),
        n if n >= 1e3 => format!("{:.1} kB", n / 1e3),
        n => format!("{n} B"),
    }
}

/// Progress of one side: (host, entries seen, bytes hashed).
pub type Progress<'a> = &'a mut (dyn FnMut(&str, u64, u64) + Send);

/// Verifies that `target` holds what `source` holds.
pub async fn verify(
    exec: &Executor,
    source: &Side,
    target: &Side,
    opts: &VerifyOptions,
    progress: Progress<'_>,
) -> Result<VerifyReport, FilesError> {
    let started = Instant::now();
    let (a, b) = tokio::join!(
        Session::open(exec, &source.host, &opts.agent, opts.source_sudo),
        Session::open(exec, &target.host, &opts.agent, opts.target_sudo),
    );
    let (mut a, mut b) = (a?, b?);
    let result = run(&mut a, &mut b, source, target, opts, progress).await;
    tokio::join!(a.close(), b.close());
    let (sa, sb, differences) = result?;
    Ok(VerifyReport {
        algorithm: opts.manifest.algorithm.name().into(),
        source: SideReport {
            host: source.host.clone(),
            summary: sa,
        },
        target: SideReport {
            host: target.host.clone(),
            summary: sb,
        },
        differences,
        seconds: started.elapsed().as_secs_f64(),
    })
}

async fn run(
    a: &mut Session,
    b: &mut Session,
    source: &Side,
    target: &Side,
    opts: &VerifyOptions,
    progress: Progress<'_>,
) -> Result<(Summary, Summary, Differences), FilesError> {
    for (s, side) in [(&mut *a, source), (&mut *b, target)] {
        s.send(&Request::Manifest {
            root: side.path.clone(),
            options: opts.manifest.clone(),
        })
        .await?;
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let (ra, rb, ()) = tokio::join!(summary(a, tx.clone()), summary(b, tx), async {
        while let Some((host, entries, bytes)) = rx.recv().await {
            progress(&host, entries, bytes);
        }
    });
    let (sa, sb) = (ra?, rb?);
    if sa.digest == sb.digest && sa.problems == 0 && sb.problems == 0 {
        return Ok((sa, sb, Differences::default()));
    }
    a.send(&Request::Entries).await?;
    b.send(&Request::Entries).await?;
    let mut d = Differences::default();
    let c = &opts.manifest.compare;
    let (mut x, mut y) = (next_entry(a).await?, next_entry(b).await?);
    loop {
        match merge_step(x.as_ref(), y.as_ref(), c, &mut d) {
            Advance::Done => break,
            Advance::Source => x = next_entry(a).await?,
            Advance::Target => y = next_entry(b).await?,
            Advance::Both => {
                x = next_entry(a).await?;
                y = next_entry(b).await?;
            }
        }
    }
    Ok((sa, sb, d))
}

async fn summary(
    s: &mut Session,
    tx: tokio::sync::mpsc::UnboundedSender<(String, u64, u64)>,
) -> Result<Summary, FilesError> {
    loop {
        match s.recv().await? {
            Reply::Progress { entries, bytes, .. } => {
                let _ = tx.send((s.host.clone(), entries, bytes));
            }
            Reply::Manifest { summary } => return Ok(summary),
            other => return Err(s.unexpected(&other).into()),
        }
    }
}

/// The next entry of a stream, `None` at its end.
pub async fn next_entry(s: &mut Session) -> Result<Option<Entry>, FilesError> {
    let host = s.host.clone();
    let line = s.recv_line().await?;
    if line.starts_with(b"{\"type\"") {
        let reply: Reply = serde_json::from_slice(line).map_err(|e| AgentError::Protocol {
            host: host.clone(),
            detail: e.to_string(),
        })?;
        return match reply {
            Reply::End => Ok(None),
            Reply::Error { message, code } => Err(AgentError::Reported {
                host,
                message,
                code,
            }
            .into()),
            other => Err(s.unexpected(&other).into()),
        };
    }
    serde_json::from_slice(line).map(Some).map_err(|e| {
        AgentError::Protocol {
            host,
            detail: format!("bad entry: {e}"),
        }
        .into()
    })
}
