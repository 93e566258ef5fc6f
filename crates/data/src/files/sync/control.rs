//! The controller's side of a sync: starts the receiving agent on the target host and the
//! sending agent on the source host, hands both the one-time key over their SSH channels,
//! and follows the progress; the file data itself never passes through here (unless
//! `relay`).

use super::{Preserve, ReceiveOptions, SendOptions, SyncStats};
use crate::agent::protocol::{Reply, Request};
use crate::agent::session::{AgentBinary, Session};
use crate::agent::AgentError;
use crate::files::error::FilesError;
use crate::files::side::Side;
use cutover_exec::Executor;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// How to sync.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// Delete on the target what the source does not have.
    pub delete: bool,
    /// Exclusion globs.
    pub exclude: Vec<String>,
    /// Compare content hashes instead of size and mtime.
    pub checksum: bool,
    /// What to preserve.
    pub preserve: Preserve,
    /// The address the source host reaches the target host at.
    pub address: String,
    /// The receiver's port (0: any free one).
    pub port: u16,
    /// Stream through the controller instead of host to host.
    pub relay: bool,
    /// Run the source's agent through sudo.
    pub source_sudo: bool,
    /// Run the target's agent through sudo.
    pub target_sudo: bool,
    /// The agent binary for remote hosts.
    pub agent: AgentBinary,
    /// How long the connection between the hosts may carry nothing (`None`: 60 s).
    pub stall: Option<Duration>,
}

/// Where a sync stands, as shown and journaled.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncProgress {
    /// Files sent so far.
    pub files: u64,
    /// Files to send in all.
    pub total_files: u64,
    /// Bytes sent so far.
    pub bytes: u64,
    /// Bytes to send in all.
    pub total_bytes: u64,
    /// Seconds since the sync began.
    pub elapsed: f64,
}

impl SyncProgress {
    /// Bytes per second so far.
    pub fn rate(&self) -> f64 {
        self.bytes as f64 / self.elapsed.max(1e-3)
    }

    /// Seconds left at the current rate, when known.
    pub fn eta(&self) -> Option<f64> {
        let rate = self.rate();
        (self.total_bytes >= self.bytes && rate > 0.0)
            .then(|| (self.total_bytes - self.bytes) as f64 / rate)
    }

    /// "1200/20000 files, 310.0 MB/1.65 GB, 412.3 MB/s, ETA 3s".
    pub fn line(&self) -> String {
        use crate::files::verify::human_bytes;
        let eta = match self.eta() {
            Some(s) => format!(", ETA {}s", s.ceil()),
            None => String::new(),
        };
        format!(
            "{}/{} files, {}/{}, {}/s{eta}",
            self.files,
            self.total_files,
            human_bytes(self.bytes),
            human_bytes(self.total_bytes),
            human_bytes(self.rate() as u64),
        )
    }
}

/// What a sync did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncReport {
    /// The sender's figures.
    pub sent: SyncStats,
    /// The receiver's figures.
    pub received: SyncStats,
    /// Wall-clock seconds on the controller.
    pub seconds: f64,
}

impl SyncReport {
    /// One line for people.
    pub fn line(&self) -> String {
        use crate::files::verify::human_bytes;
        let s = &self.sent;
        let r = &self.received;
        format!(
            "{} files ({}) sent in {:.2}s ({}/s), {} resumed, {} dirs and {} links created, {} metadata updates, {} deleted; source {} entries, {}",
            s.files_sent,
            human_bytes(s.bytes_sent),
            self.seconds,
            human_bytes((s.bytes_sent as f64 / self.seconds.max(1e-3)) as u64),
            human_bytes(s.bytes_resumed),
            r.dirs_created,
            r.links_created,
            r.meta_updated,
            r.deleted,
            s.source_entries,
            human_bytes(s.source_bytes),
        )
    }
}

/// Copies `from` into `to`, host to host.
pub async fn sync(
    exec: &Executor,
    from: &Side,
    to: &Side,
    opts: &SyncOptions,
    progress: &mut (dyn FnMut(&SyncProgress) + Send),
) -> Result<SyncReport, FilesError> {
    let started = Instant::now();
    let (a, b) = tokio::join!(
        Session::open(exec, &from.host, &opts.agent, opts.source_sudo),
        Session::open(exec, &to.host, &opts.agent, opts.target_sudo),
    );
    let (mut sender, mut receiver) = (a?, b?);
    let key = super::wire::new_key().map_err(|e| AgentError::Local(e.to_string()))?;
    // A name is resolved by the receiver, on the target, and only that address is bound.
    let listen = opts
        .address
        .trim_matches(|c| c == '[' || c == ']')
        .to_string();
    receiver
        .send(&Request::Receive {
            root: to.path.clone(),
            options: ReceiveOptions {
                key: key.clone(),
                listen,
                port: opts.port,
                relay: opts.relay,
                delete: opts.delete,
                exclude: opts.exclude.clone(),
                checksum: opts.checksum,
                accept_timeout: 60,
                preserve: opts.preserve,
                stall_ms: stall_ms(opts),
            },
        })
        .await?;
    let port = match receiver.recv().await? {
        Reply::Listening { port } => port,
        other => return Err(receiver.unexpected(&other).into()),
    };
    sender
        .send(&Request::Send {
            root: from.path.clone(),
            options: SendOptions {
                key,
                connect: format!("{}:{port}", bracket(&opts.address)),
                relay: opts.relay,
                delete: opts.delete,
                exclude: opts.exclude.clone(),
                checksum: opts.checksum,
                preserve: opts.preserve,
                stall_ms: stall_ms(opts),
            },
        })
        .await?;
    let mut result = if opts.relay {
        relay(&mut sender, &mut receiver, started, progress).await
    } else {
        follow(&mut sender, &mut receiver, started, progress).await
    };
    // When the sender stops because the receiver did (a full disk, a write refused), the
    // receiver's own report says more: wait for it briefly.
    if let Some(host) = result.as_ref().err().and_then(|e| e.failed_on()) {
        if *host == from.host && from.host != to.host {
            if let Some(e) = receiver_error(&mut receiver).await {
                result = Err(e);
            }
        }
    }
    match result {
        Ok((sent, received)) => {
            tokio::join!(sender.close(), receiver.close());
            Ok(SyncReport {
                sent,
                received,
                seconds: started.elapsed().as_secs_f64(),
            })
        }
        // Dropping the sessions stops both agents: the other side must not wait forever.
        Err(e) => Err(e),
    }
}

fn stall_ms(o: &SyncOptions) -> u64 {
    o.stall.map_or(0, |d| (d.as_millis() as u64).max(1))
}

fn bracket(address: &str) -> String {
    if address.contains(':') && !address.starts_with('[') {
        format!("[{address}]")
    } else {
        address.to_string()
    }
}

/// Reads both agents until each reports its end; the first failure wins.
async fn follow(
    sender: &mut Session,
    receiver: &mut Session,
    started: Instant,
    progress: &mut (dyn FnMut(&SyncProgress) + Send),
) -> Result<(SyncStats, SyncStats), FilesError> {
    let mut sent = None;
    let mut received = None;
    while sent.is_none() || received.is_none() {
        tokio::select! {
            r = sender.recv(), if sent.is_none() => match r? {
                Reply::Progress { entries, bytes, total_bytes, total_entries } => {
                    progress(&SyncProgress {
                        files: entries,
                        total_files: total_entries,
                        bytes,
                        total_bytes,
                        elapsed: started.elapsed().as_secs_f64(),
                    });
                }
                Reply::Synced { stats } => sent = Some(stats),
                other => return Err(sender.unexpected(&other).into()),
            },
            r = receiver.recv(), if received.is_none() => match r? {
                Reply::Synced { stats } => received = Some(stats),
                Reply::Progress { .. } => {}
                other => return Err(receiver.unexpected(&other).into()),
            },
            _ = tokio::time::sleep(Duration::from_secs(3600 * 24)) => {
                return Err(FilesError::Usage("the sync made no progress for 24 hours".into()));
            }
        }
    }
    Ok((sent.unwrap_or_default(), received.unwrap_or_default()))
}

/// Like [`follow`], passing the agents' sealed frames between them (`relay`): the data goes
/// through this machine, still encrypted end to end.
async fn relay(
    sender: &mut Session,
    receiver: &mut Session,
    started: Instant,
    progress: &mut (dyn FnMut(&SyncProgress) + Send),
) -> Result<(SyncStats, SyncStats), FilesError> {
    use crate::agent::session::Item;
    let mut sent = None;
    let mut received = None;
    while sent.is_none() || received.is_none() {
        let (from_sender, item) = tokio::select! {
            r = sender.recv_item(), if sent.is_none() => (true, r?),
            r = receiver.recv_item(), if received.is_none() => (false, r?),
        };
        match (from_sender, item) {
            (true, Item::Frame(f)) => receiver.write_raw(&f).await?,
            (false, Item::Frame(f)) => sender.write_raw(&f).await?,
            (
                true,
                Item::Reply(Reply::Progress {
                    entries,
                    bytes,
                    total_bytes,
                    total_entries,
                }),
            ) => progress(&SyncProgress {
                files: entries,
                total_files: total_entries,
                bytes,
                total_bytes,
                elapsed: started.elapsed().as_secs_f64(),
            }),
            (false, Item::Reply(Reply::Progress { .. })) => {}
            (true, Item::Reply(Reply::Synced { stats })) => sent = Some(stats),
            (false, Item::Reply(Reply::Synced { stats })) => received = Some(stats),
            (true, Item::Reply(other)) => return Err(sender.unexpected(&other).into()),
            (false, Item::Reply(other)) => return Err(receiver.unexpected(&other).into()),
        }
    }
    Ok((sent.unwrap_or_default(), received.unwrap_or_default()))
}

/// The receiver's error, if it reports one within a few seconds.
async fn receiver_error(receiver: &mut Session) -> Option<FilesError> {
    let wait = async {
        loop {
            match receiver.recv().await {
                Ok(Reply::Progress { .. }) => continue,
                Ok(_) => return None,
                Err(e @ AgentError::Reported { .. }) => return Some(e.into()),
                Err(_) => return None,
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(3), wait)
        .await
        .ok()
        .flatten()
}
