//! Host-to-host sync through the agent: the receiver (on the target host) listens on a TCP
//! port, the sender (on the source host) connects to it directly, and file data flows
//! between the two hosts encrypted and authenticated with a one-time key that the
//! controller handed to both over their SSH channels. The controller only sees progress.
//! With `relay`, the same stream goes through the controller's SSH channels instead (for
//! hosts that cannot reach each other).
//!
//! What is sent: the receiver first describes its tree (path, type, size, mtime, and any
//! partial file left by an interrupted run); the sender compares with its own tree and sends
//! only what differs (size or mtime, like rsync's quick check, or content hashes with
//! `checksum`), the metadata changes, and deletions when asked. Every file is written to a
//! temporary name in its directory and renamed into place once complete, so an interrupted
//! or failed sync never leaves a half-written file under a real name; a large file's partial
//! copy is kept and resumed from where it stopped once its prefix is proven identical.

pub mod control;
pub mod meta;
pub mod plan;
pub mod receive;
pub mod send;
mod staging;
pub mod wire;
mod write;

pub use control::{sync, SyncOptions, SyncProgress, SyncReport};

use serde::{Deserialize, Serialize};

/// What to preserve besides content, modes, mtimes and symlinks (always kept).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preserve {
    /// Owners and groups (needs root on the target; else they are left to the writer).
    #[serde(default = "yes")]
    pub owner: bool,
    /// Map owners by numeric id instead of by name.
    #[serde(default)]
    pub numeric_ids: bool,
    /// Hard links within the tree stay hard links.
    #[serde(default)]
    pub hard_links: bool,
    /// POSIX ACLs.
    #[serde(default)]
    pub acls: bool,
    /// Extended attributes (`user.*`, `trusted.*`, `security.*`).
    #[serde(default)]
    pub xattrs: bool,
    /// Holes in sparse files stay holes.
    #[serde(default)]
    pub sparse: bool,
    /// Device nodes are created on the target (a receiver refuses them otherwise).
    #[serde(default)]
    pub devices: bool,
}

fn yes() -> bool {
    true
}

/// The receiver's side of a sync.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReceiveOptions {
    /// The one-time key (hex, 32 bytes) both ends share.
    pub key: String,
    /// Address to listen on: an address or a name, resolved on the target host, whose first
    /// address that can be bound is (never every address at once); ignored with `relay`.
    pub listen: String,
    /// Port to listen on (0: any free port).
    pub port: u16,
    /// The stream comes through the controller (on the agent's standard input) instead.
    #[serde(default)]
    pub relay: bool,
    /// Delete what the source does not have.
    #[serde(default)]
    pub delete: bool,
    /// Exclusion globs (excluded paths are neither listed nor deleted).
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Hash the target's files so that the sender can compare content (`checksum`).
    #[serde(default)]
    pub checksum: bool,
    /// Seconds to wait for the sender to connect.
    #[serde(default)]
    pub accept_timeout: u64,
    /// Milliseconds the connection may carry nothing before the sync stops as stalled
    /// (0: the default, [`STALL_DEFAULT`]).
    #[serde(default)]
    pub stall_ms: u64,
    /// What to preserve (owners are set only when the agent runs as root).
    #[serde(default)]
    pub preserve: Preserve,
}

/// The sender's side of a sync.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SendOptions {
    /// The one-time key (hex, 32 bytes) both ends share.
    pub key: String,
    /// `ADDRESS:PORT` of the receiver; ignored with `relay`.
    pub connect: String,
    /// Send the stream to the controller (on the agent's standard output) instead.
    #[serde(default)]
    pub relay: bool,
    /// Delete what the source does not have.
    #[serde(default)]
    pub delete: bool,
    /// Exclusion globs.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Decide what to send by content hash instead of size and mtime.
    #[serde(default)]
    pub checksum: bool,
    /// What to preserve.
    #[serde(default)]
    pub preserve: Preserve,
    /// Milliseconds the connection may carry nothing before the sync stops as stalled
    /// (0: the default, [`STALL_DEFAULT`]).
    #[serde(default)]
    pub stall_ms: u64,
}

/// How long a connection between the hosts may carry nothing before a sync stops.
pub const STALL_DEFAULT: std::time::Duration = std::time::Duration::from_secs(60);

/// The stall limit for `ms` as the options carry it.
pub fn stall(ms: u64) -> std::time::Duration {
    if ms == 0 {
        STALL_DEFAULT
    } else {
        std::time::Duration::from_millis(ms)
    }
}

/// What one side of a sync did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncStats {
    /// Entries in the source tree.
    pub source_entries: u64,
    /// Bytes in the source tree's files.
    pub source_bytes: u64,
    /// Files sent (new or changed).
    pub files_sent: u64,
    /// File bytes sent (after resuming partial files).
    pub bytes_sent: u64,
    /// Bytes skipped because a partial copy was resumed.
    pub bytes_resumed: u64,
    /// Directories created.
    pub dirs_created: u64,
    /// Symlinks, hard links and special files created.
    pub links_created: u64,
    /// Entries whose metadata only was updated.
    pub meta_updated: u64,
    /// Entries deleted on the target.
    pub deleted: u64,
    /// Bytes on the wire (encrypted frames).
    pub wire_bytes: u64,
    /// Seconds.
    pub seconds: f64,
    /// Paths that could not be read or written (each with the reason); a sync with any is
    /// reported as failed.
    pub errors: Vec<String>,
}

impl SyncStats {
    /// How many problems a report lists (the rest are counted).
    pub const ERRORS_SHOWN: usize = 1000;

    /// The same figures with at most [`Self::ERRORS_SHOWN`] problems listed, so that a
    /// report stays small whatever the tree holds.
    pub fn capped(mut self) -> Self {
        if self.errors.len() > Self::ERRORS_SHOWN {
            let more = self.errors.len() - Self::ERRORS_SHOWN;
            self.errors.truncate(Self::ERRORS_SHOWN);
            self.errors.push(format!("... and {more} more"));
        }
        self
    }
}

/// Why one side of a sync stopped: a message for the operator and a class.
#[derive(Debug)]
pub struct Fail {
    /// What went wrong, where.
    pub message: String,
    /// Its class (`missing`, `no-space`, `connect`...).
    pub code: &'static str,
}

impl Fail {
    /// A failure.
    pub fn new(message: String, code: &'static str) -> Self {
        Fail { message, code }
    }

    /// Maps an I/O error during `what`; a socket timeout is a stall, said as one.
    pub fn io(what: &'static str) -> impl Fn(std::io::Error) -> Fail {
        move |e| {
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) {
                return Fail::new(
                    format!("{what}: nothing moved between the hosts for `stall_timeout`: is the link between them down? Run the step again once it is back: the sync resumes"),
                    "stalled",
                );
            }
            let code = if e.raw_os_error() == Some(libc::ENOSPC) {
                "no-space"
            } else {
                "io"
            };
            Fail::new(format!("{what}: {e}"), code)
        }
    }
}
