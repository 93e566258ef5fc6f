//! Docker images copied host to host by the agents, like `files.sync`: the receiving agent
//! listens on the target host and feeds what it receives to `docker load`; the sending
//! agent connects to it directly and streams, encrypted with a one-time key, an archive in
//! the format `docker load` reads, holding the images' configurations and only the layers
//! the target lacks. `docker load` reuses the layers it has (it does not even open their
//! files), checks each layer it loads against its digest, and the controller then checks
//! that every image has the same id on both hosts (the id is the digest of the
//! configuration, which names every layer's digest): the proof.
//!
//! Where the layers come from: with the engine's overlay2 layer store, straight from it
//! ([`layers`]), which saves `docker save`'s own pass through a temporary directory; any
//! other storage (the containerd image store, other drivers) streams `docker save`, every
//! layer included.

pub mod layers;
pub mod receive;
pub mod send;
pub mod tarball;

use crate::agent::protocol::{Reply, Request};
use crate::agent::session::{AgentBinary, Session};
use crate::agent::AgentError;
use crate::files::error::FilesError;
use crate::files::sync::SyncProgress;
use cutover_exec::Executor;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// Where the sender reads images from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// The engine's overlay2 layer store under its data root: only missing layers sent.
    LayerStore,
    /// `docker save`: every layer.
    Save,
}

/// One image to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendImage {
    /// Its id (`sha256:...`).
    pub id: String,
    /// The tags it gets on the target.
    pub tags: Vec<String>,
    /// Its layers, bottom first.
    pub layers: Vec<SendLayer>,
}

/// One layer of an image to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendLayer {
    /// Its digest (uncompressed: the diff id).
    pub diff_id: String,
    /// Its chain id (it and every layer below).
    pub chain_id: String,
    /// Whether the target lacks it.
    pub send: bool,
}

/// The sender's side of a copy.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SendOptions {
    /// The one-time key (hex, 32 bytes).
    pub key: String,
    /// `ADDRESS:PORT` of the receiver.
    pub connect: String,
    /// Milliseconds the connection may carry nothing (0: 60 s).
    #[serde(default)]
    pub stall_ms: u64,
    /// Where the images are read from.
    pub source: Source,
    /// The engine's data root (for [`Source::LayerStore`]).
    pub root: String,
    /// The images.
    pub images: Vec<SendImage>,
}

/// The receiver's side of a copy.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReceiveOptions {
    /// The one-time key (hex, 32 bytes).
    pub key: String,
    /// Address to listen on (resolved on the target; one address bound).
    pub listen: String,
    /// Port to listen on (0: any free port).
    pub port: u16,
    /// Milliseconds the connection may carry nothing (0: 60 s).
    #[serde(default)]
    pub stall_ms: u64,
    /// The target engine's data root, where `docker load` needs room.
    pub root: String,
    /// Bytes coming (0: unknown); twice that must be free under `root` (`docker load`
    /// unpacks the archive, then the layers).
    #[serde(default)]
    pub bytes: u64,
}

/// What one side of a copy did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImagesStats {
    /// Layers sent.
    pub layers_sent: u64,
    /// Layers the target had (not sent).
    pub layers_skipped: u64,
    /// Archive bytes sent or received.
    pub bytes: u64,
    /// Bytes on the wire (encrypted frames).
    pub wire_bytes: u64,
    /// Seconds.
    pub seconds: f64,
    /// What `docker load` said (receiver).
    #[serde(default)]
    pub loaded: String,
}

/// How to copy.
#[derive(Debug, Clone)]
pub struct CopyOptions {
    /// The address the source reaches the target at.
    pub address: String,
    /// The receiver's port (0: any free one).
    pub port: u16,
    /// Run the source's agent through sudo.
    pub source_sudo: bool,
    /// Run the target's agent through sudo.
    pub target_sudo: bool,
    /// The agent binary for remote hosts.
    pub agent: AgentBinary,
    /// How long the link may carry nothing (`None`: 60 s).
    pub stall: Option<Duration>,
    /// Where the sender reads from, and the source engine's data root.
    pub source: Source,
    /// The source engine's data root.
    pub source_root: String,
    /// The target engine's data root.
    pub target_root: String,
}

/// What a copy did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CopyReport {
    /// The sender's figures.
    pub sent: ImagesStats,
    /// The receiver's figures.
    pub received: ImagesStats,
    /// Wall-clock seconds on the controller.
    pub seconds: f64,
}

/// Copies `images` from host `from` to host `to`; `bytes` is what is expected to go over
/// (for the target's space check and the progress).
pub async fn copy(
    exec: &Executor,
    from: &str,
    to: &str,
    images: Vec<SendImage>,
    bytes: u64,
    opts: &CopyOptions,
    progress: &mut (dyn FnMut(&SyncProgress) + Send),
) -> Result<CopyReport, FilesError> {
    let started = Instant::now();
    let (a, b) = tokio::join!(
        Session::open(exec, from, &opts.agent, opts.source_sudo),
        Session::open(exec, to, &opts.agent, opts.target_sudo),
    );
    let (mut sender, mut receiver) = (a?, b?);
    let key = crate::files::sync::wire::new_key().map_err(|e| AgentError::Local(e.to_string()))?;
    let stall_ms = opts.stall.map_or(0, |d| (d.as_millis() as u64).max(1));
    receiver
        .send(&Request::ImagesReceive {
            options: ReceiveOptions {
                key: key.clone(),
                listen: opts
                    .address
                    .trim_matches(|c| c == '[' || c == ']')
                    .to_string(),
                port: opts.port,
                stall_ms,
                root: opts.target_root.clone(),
                bytes,
            },
        })
        .await?;
    let port = match receiver.recv().await? {
        Reply::Listening { port } => port,
        other => return Err(receiver.unexpected(&other).into()),
    };
    let address = if opts.address.contains(':') && !opts.address.starts_with('[') {
        format!("[{}]", opts.address)
    } else {
        opts.address.clone()
    };
    sender
        .send(&Request::ImagesSend {
            options: SendOptions {
                key,
                connect: format!("{address}:{port}"),
                stall_ms,
                source: opts.source,
                root: opts.source_root.clone(),
                images,
            },
        })
        .await?;
    let mut sent = None;
    let mut received = None;
    while sent.is_none() || received.is_none() {
        tokio::select! {
            r = sender.recv(), if sent.is_none() => match r? {
                Reply::Progress { entries, bytes, total_bytes, total_entries } => progress(&SyncProgress {
                    files: entries,
                    total_files: total_entries,
                    bytes,
                    total_bytes,
                    elapsed: started.elapsed().as_secs_f64(),
                }),
                Reply::ImagesDone { stats } => sent = Some(stats),
                other => {
                    // The receiver usually says more (docker load's own error): wait for it.
                    let theirs = tokio::time::timeout(Duration::from_secs(10), receiver.recv()).await;
                    if let Ok(Err(e @ AgentError::Reported { .. })) = theirs {
                        return Err(e.into());
                    }
                    return Err(sender.unexpected(&other).into());
                }
            },
            r = receiver.recv(), if received.is_none() => match r? {
                Reply::ImagesDone { stats } => received = Some(stats),
                Reply::Progress { .. } => {}
                other => return Err(receiver.unexpected(&other).into()),
            },
        }
    }
    tokio::join!(sender.close(), receiver.close());
    Ok(CopyReport {
        sent: sent.unwrap_or_default(),
        received: received.unwrap_or_default(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The chunked stream inside the sealed connection: `[u32 length][bytes]`, a zero length
/// ending it, so that a connection cut at a frame boundary is never taken for the end.
pub(crate) struct Chunks<W: std::io::Write> {
    pub(crate) inner: W,
}

impl<W: std::io::Write> std::io::Write for Chunks<W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        let n = data.len().min(1 << 20);
        self.inner.write_all(&(n as u32).to_le_bytes())?;
        self.inner.write_all(&data[..n])?;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl<W: std::io::Write> Chunks<W> {
    /// Writes the end marker and flushes.
    pub(crate) fn finish(&mut self) -> std::io::Result<()> {
        self.inner.write_all(&0u32.to_le_bytes())?;
        self.inner.flush()
    }
}
