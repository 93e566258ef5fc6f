//! The agent's protocol: JSON lines over the SSH channel (or in-process pipes). The
//! controller sends one [`Request`] per line; the agent answers with [`Reply`] lines, and
//! streams manifest entries as bare [`crate::files::Entry`] lines closed by `{"type":"end"}`.

use crate::files::manifest::{ManifestOptions, Summary};
use crate::files::sync::{ReceiveOptions, SendOptions, SyncStats};
use serde::{Deserialize, Serialize};

/// A request from the controller.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Build the manifest of `root`; answered by progress lines and one `Manifest` reply.
    Manifest {
        /// The tree.
        root: String,
        /// How.
        options: ManifestOptions,
    },
    /// Stream the entries of the last manifest, then `End`.
    Entries,
    /// Receive a sync stream into `root`: answered by `Listening`, then progress and `Synced`.
    Receive {
        /// The target tree.
        root: String,
        /// How.
        options: ReceiveOptions,
    },
    /// Send `root` to a receiver: answered by progress and `Synced`.
    Send {
        /// The source tree.
        root: String,
        /// How.
        options: SendOptions,
    },
    /// Free space and size figures for the file system holding `path` (its nearest
    /// existing parent).
    Space {
        /// A path.
        path: String,
    },
    /// A request about a Redis server (see [`crate::redis::protocol`]).
    Redis {
        /// The request.
        request: crate::redis::protocol::RedisRequest,
    },
    /// Receive Docker images and `docker load` them: answered by `Listening`, then
    /// `ImagesDone`.
    ImagesReceive {
        /// How.
        options: crate::docker::images::ReceiveOptions,
    },
    /// Send Docker images to a receiver: answered by progress and `ImagesDone`.
    ImagesSend {
        /// What and how.
        options: crate::docker::images::SendOptions,
    },
    /// Start a hold relay (see [`crate::hold`]): answered by `Holding`.
    Hold {
        /// `ADDRESS:PORT` to listen on (port 0: any free one).
        listen: String,
        /// The longest a connection is held (ms).
        max_hold_ms: u64,
        /// Where connections go if the controller goes away while holding.
        fallback: String,
    },
    /// Carry held and new connections to `to`: answered by `Relayed`.
    Release {
        /// `ADDRESS:PORT` of the new upstream.
        to: String,
    },
    /// The relay's figures: answered by `Relayed`.
    RelayStats,
    /// Stop the relay (open connections finish): answered by `Relayed`.
    Unhold,
    /// A request about a MariaDB/MySQL server (see [`crate::mysql::protocol`]).
    Mysql {
        /// The request.
        request: crate::mysql::protocol::MysqlRequest,
    },
    /// Stop.
    Bye,
}

/// A reply from the agent.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reply {
    /// Sent once when the agent starts.
    Hello {
        /// The agent's version.
        version: String,
    },
    /// Work in progress.
    Progress {
        /// Entries or files done.
        entries: u64,
        /// Bytes done.
        bytes: u64,
        /// Bytes to do in all, when known.
        #[serde(default)]
        total_bytes: u64,
        /// Files to do in all, when known.
        #[serde(default)]
        total_entries: u64,
    },
    /// A manifest is built.
    Manifest {
        /// Its figures.
        summary: Summary,
    },
    /// The end of an entry stream.
    End,
    /// A receiver waits for its sender.
    Listening {
        /// The TCP port it listens on.
        port: u16,
    },
    /// A sync finished on this side.
    Synced {
        /// What it did.
        stats: SyncStats,
    },
    /// A hold relay listens on these ports of the agent's host.
    Holding {
        /// The port.
        port: u16,
        /// A second port to the same relay.
        #[serde(default)]
        alt_port: u16,
    },
    /// A hold relay's figures.
    Relayed {
        /// What it did so far.
        stats: crate::hold::RelayStats,
    },
    /// Free space.
    Space {
        /// Bytes available to the agent's user.
        available: u64,
        /// The file system's size.
        total: u64,
        /// The directory measured.
        path: String,
    },
    /// The request failed.
    Error {
        /// What went wrong, for the operator.
        message: String,
        /// A machine-readable class (`stale-binary`, `missing`, `no-space`...).
        #[serde(default)]
        code: String,
    },
    /// An image copy finished on this side.
    ImagesDone {
        /// What it did.
        stats: crate::docker::images::ImagesStats,
    },
    /// The agent binary is not on the host yet.
    Absent,
    /// An answer about a MariaDB/MySQL server.
    Mysql {
        /// The answer.
        reply: crate::mysql::protocol::MysqlReply,
    },
    /// An answer about a Redis server.
    Redis {
        /// The answer.
        reply: crate::redis::protocol::RedisReply,
    },
}
