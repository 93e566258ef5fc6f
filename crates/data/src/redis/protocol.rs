//! The Redis request family of the agent protocol: one [`RedisRequest`] per line from the
//! controller (inside the files protocol's `{"op":"redis", ...}`), answered by
//! [`RedisReply`] lines. Credentials travel only here, over the SSH channel's standard input,
//! never on a command line; the agent never sends a password back (it only says whether
//! `masterauth` is set).

use serde::{Deserialize, Serialize};

/// How the agent reaches a server from its host, with the credentials.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conn {
    /// Host name, address, or a Unix socket path (starting with `/`).
    pub address: String,
    /// TCP port (ignored for a socket).
    pub port: u16,
    /// ACL user (`None`: the default user).
    #[serde(default)]
    pub user: Option<String>,
    /// The user's password.
    #[serde(default)]
    pub password: Option<String>,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("address", &self.address)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

impl Conn {
    /// `address:port` (or the socket path), for messages.
    pub fn describe(&self) -> String {
        if self.address.starts_with('/') {
            self.address.clone()
        } else {
            format!("{}:{}", self.address, self.port)
        }
    }

    /// The ACL user's name as Redis says it (`default` when none is given).
    pub fn user_name(&self) -> &str {
        self.user.as_deref().unwrap_or("default")
    }
}

/// How expiry times are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TtlMode {
    /// The stored absolute expiry (`PEXPIRETIME`, Redis 7.0+ and Valkey): exact.
    Absolute,
    /// The agent's clock plus `PTTL` (servers before 7.0): within a few milliseconds, plus
    /// the clock difference between the hosts.
    Relative,
}

/// How the agent digests a server's keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestOptions {
    /// Keys are spread over `2^buckets_log2` buckets per database by a hash of their name.
    pub buckets_log2: u8,
    /// How expiry times are read.
    pub ttl: TtlMode,
    /// Expiry times enter the digests rounded down to this grid (the TTL tolerance), so
    /// that times within it mostly digest alike; the key-by-key pass compares them exactly.
    pub grid_ms: u64,
}

/// A request to the agent about one Redis server.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "redis_op", rename_all = "snake_case")]
pub enum RedisRequest {
    /// What preflight and the steps need to know of the server: version, role, replication,
    /// memory, persistence, databases, and which of `commands` are renamed or disabled.
    Facts {
        /// The server.
        server: Conn,
        /// Commands to look for (`COMMAND INFO`).
        commands: Vec<String>,
        /// Read its settings too (`CONFIG GET`); a sync's progress needs `INFO` alone.
        #[serde(default = "settings_wanted")]
        settings: bool,
    },
    /// Connects to `server` and authenticates: from the target's host, the path its server
    /// takes to the source.
    Reach {
        /// The server to reach.
        server: Conn,
    },
    /// `server` becomes a replica of `primary` (`masteruser`/`masterauth` set first through
    /// `CONFIG SET`, then `REPLICAOF`).
    Follow {
        /// The server that follows.
        server: Conn,
        /// The primary as `server` reaches it, with the credentials it needs.
        primary: Conn,
    },
    /// `REPLICAOF NO ONE`.
    Promote {
        /// The server.
        server: Conn,
    },
    /// Sets `masteruser`/`masterauth` (empty strings clear them).
    SetMasterAuth {
        /// The server.
        server: Conn,
        /// The value for `masteruser`.
        user: String,
        /// The value for `masterauth`.
        password: String,
    },
    /// `CONFIG SET name value` (a setting cutover changes for the time of a sync).
    SetConfig {
        /// The server.
        server: Conn,
        /// The parameter.
        name: String,
        /// Its value.
        value: String,
    },
    /// `FLUSHALL`.
    FlushAll {
        /// The server.
        server: Conn,
    },
    /// `CLIENT PAUSE timeout_ms WRITE`, then the replication offset: every write
    /// acknowledged before the pause is at or below it.
    Pause {
        /// The server.
        server: Conn,
        /// The pause ends by itself after this long (if nothing lifts it first).
        timeout_ms: u64,
    },
    /// Waits (polling every millisecond) until the replica has processed `offset`, then
    /// promotes it (`REPLICAOF NO ONE`); fails after `max_wait_ms` having changed nothing.
    CatchUpAndPromote {
        /// The replica.
        server: Conn,
        /// The primary's offset to reach.
        offset: u64,
        /// The longest wait.
        max_wait_ms: u64,
    },
    /// Optionally makes the server follow `follow`, then `CLIENT UNPAUSE`.
    Unpause {
        /// The paused server.
        server: Conn,
        /// The new primary to follow first (the reverse replication).
        follow: Option<Conn>,
    },
    /// Digests of every database's keys, bucket by bucket.
    Digest {
        /// The server.
        server: Conn,
        /// How.
        options: DigestOptions,
    },
    /// The keys of database `db` that fall in `buckets` (all when empty), streamed in
    /// (bucket, key) order as [`RedisReply::Key`] lines closed by [`RedisReply::End`].
    Keys {
        /// The server.
        server: Conn,
        /// The database.
        db: u32,
        /// The buckets wanted (empty: every key).
        buckets: Vec<u32>,
        /// How (the same as the digest's).
        options: DigestOptions,
    },
    /// The elements of one key (fields, members, entries...) with a digest each, to name
    /// what differs inside a value.
    Detail {
        /// The server.
        server: Conn,
        /// The database.
        db: u32,
        /// The key, hex-encoded.
        key: String,
    },
}

/// Facts carry the settings unless a request says otherwise.
fn settings_wanted() -> bool {
    true
}

/// A server's facts (see [`RedisRequest::Facts`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Facts {
    /// `INFO` (the default sections) as `field -> value`.
    pub info: std::collections::BTreeMap<String, String>,
    /// `CONFIG GET` values cutover reads (`maxmemory`, `maxmemory-policy`, `appendonly`,
    /// `save`, `databases`, `masteruser`), when `CONFIG` answered.
    pub config: std::collections::BTreeMap<String, String>,
    /// `masterauth` is set (its value never leaves the agent).
    pub masterauth_set: bool,
    /// Why `CONFIG` could not be read, if it could not.
    pub config_error: Option<String>,
    /// Of the commands asked about, those the server does not know (renamed or disabled).
    pub missing_commands: Vec<String>,
    /// `COMMAND INFO` itself failed: renamed commands could not be looked for.
    pub commands_unknown: bool,
}

/// One database's digests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbDigest {
    /// The database number.
    pub db: u32,
    /// Keys read.
    pub keys: u64,
    /// Of which with an expiry.
    pub expiring: u64,
    /// Keys that vanished (expired, deleted) between listing and reading.
    pub vanished: u64,
    /// Keys of types compared by their `DUMP` payload (modules): equal only on the same
    /// server version.
    pub opaque: u64,
    /// The digest of everything, hex.
    pub digest: String,
    /// Per bucket: the hex digest of its keys (16 bytes each, concatenated).
    pub buckets: String,
}

/// One key as the key-by-key pass sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyEntry {
    /// The bucket.
    pub bucket: u32,
    /// The key, hex-encoded.
    pub key: String,
    /// Its type (`string`, `hash`, `list`, `set`, `zset`, `stream`, or a module's).
    pub kind: String,
    /// The digest of its value, hex.
    pub value: String,
    /// Elements (strings: bytes).
    pub len: u64,
    /// Absolute expiry in unix milliseconds, if it expires.
    pub expire_ms: Option<i64>,
}

/// One element of a value (see [`RedisRequest::Detail`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Element {
    /// Its name: a field, a member, a stream entry id, a list index, a group...; hex.
    pub name: String,
    /// Its value digest, or a sorted-set score as text.
    pub value: String,
}

/// A reply from the agent about a Redis server.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "redis", rename_all = "snake_case")]
pub enum RedisReply {
    /// The server's facts.
    Facts(Facts),
    /// Reached and authenticated; the server's version.
    Reached {
        /// `redis_version` (or `valkey_version`).
        version: String,
    },
    /// Done.
    Done,
    /// Paused at this replication offset.
    Paused {
        /// The primary's `master_repl_offset`.
        offset: u64,
    },
    /// Caught up and promoted.
    Promoted {
        /// The replica's offset when it caught up.
        offset: u64,
        /// Milliseconds waited for it.
        waited_ms: u64,
    },
    /// Progress of a digest: keys read so far.
    Progress {
        /// Keys read.
        keys: u64,
    },
    /// Every database's digests.
    Digests {
        /// Per database, in order.
        dbs: Vec<DbDigest>,
    },
    /// One key of a [`RedisRequest::Keys`] stream.
    Key(KeyEntry),
    /// The elements of a key.
    Detail {
        /// The key's type.
        kind: String,
        /// In order for lists and streams, by name otherwise.
        elements: Vec<Element>,
        /// True when the key has more elements than were listed.
        truncated: bool,
    },
    /// The end of a stream of keys.
    End,
}
