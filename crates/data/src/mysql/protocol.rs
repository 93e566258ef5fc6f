//! The MariaDB/MySQL request family of the agent protocol: one [`MysqlRequest`] per line from
//! the controller (inside the files protocol's `{"op":"mysql", ...}`), answered by
//! [`MysqlReply`] lines. Credentials travel only here, over the SSH channel's standard input,
//! never on a command line or in a file; the agent never sends a password back.

use super::copy::wire::{DumpOptions, LoadOptions, PrepareOptions};
use super::objects::Created;
use super::objects::Objects;
use super::verify::digest::{ChunkDigest, DigestOptions, RowHash, TableChunks};
use serde::{Deserialize, Serialize};

/// How the agent reaches a server from its host, with the credentials.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conn {
    /// Host name or address (ignored when `socket` is set).
    pub address: String,
    /// TCP port.
    pub port: u16,
    /// A Unix socket path on the agent's host, instead of TCP.
    #[serde(default)]
    pub socket: Option<String>,
    /// The account.
    pub user: String,
    /// Its password.
    #[serde(default)]
    pub password: Option<String>,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("address", &self.address)
            .field("port", &self.port)
            .field("socket", &self.socket)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

impl Conn {
    /// `user@address:port` (or the socket), for messages.
    pub fn describe(&self) -> String {
        match &self.socket {
            Some(s) => format!("{}@{s}", self.user),
            None if self.address.contains(':') => {
                format!("{}@[{}]:{}", self.user, self.address, self.port)
            }
            None => format!("{}@{}:{}", self.user, self.address, self.port),
        }
    }
}

/// A result set as text: `None` is SQL NULL; binary values are shown lossily (these answers
/// are for administration, never for data).
pub type Rows = Vec<Vec<Option<String>>>;

/// A request to the agent about one server.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "mysql_op", rename_all = "snake_case")]
pub enum MysqlRequest {
    /// Runs `statements` in order on the agent's session `session` with the server (opened
    /// on first use and kept, so session state such as a lock survives between requests);
    /// answers the rows of each.
    Sql {
        /// The server.
        server: Conn,
        /// A name for the session (several may be open at once).
        #[serde(default)]
        session: String,
        /// The statements.
        statements: Vec<String>,
        /// Server error numbers that do not stop the statements (each such statement
        /// answers no rows): `KILL` of a session that ended meanwhile, say.
        #[serde(default)]
        ignore: Vec<u16>,
    },
    /// Closes the session `session` (releasing what it holds).
    Close {
        /// The server.
        server: Conn,
        /// The session's name.
        session: String,
    },
    /// The tables, columns, keys and objects of `databases` (and accounts, when asked).
    Inventory {
        /// The server.
        server: Conn,
        /// The databases.
        databases: Vec<String>,
        /// Read accounts and their grants too.
        users: bool,
    },
    /// Creates the databases and tables of a copy on the target (secondary keys left for
    /// after the rows); tables already copied are kept.
    Prepare {
        /// The target server.
        server: Conn,
        /// What to create.
        options: PrepareOptions,
    },
    /// Receives a copy's rows from the source's agent and loads them: answered by
    /// `Listening`, then `TableLoaded` per table and `Loaded`.
    Load {
        /// The target server.
        server: Conn,
        /// How.
        options: LoadOptions,
    },
    /// Takes the consistent snapshot and streams the rows to the target's agent: answered by
    /// `Snapshot`, progress, then `Dumped`.
    Dump {
        /// The source server.
        server: Conn,
        /// How.
        options: DumpOptions,
    },
    /// Creates foreign keys, views, routines, triggers, events and accounts on the target.
    Objects {
        /// The target server.
        server: Conn,
        /// What to create.
        objects: Box<Objects>,
    },
    /// Bounds cutting each table into ranges of its integer key of about `chunk_rows` rows.
    Bounds {
        /// The server.
        server: Conn,
        /// `(db, table, key column, estimated rows)`.
        tables: Vec<(String, String, String, u64)>,
        /// Rows per range, about.
        chunk_rows: u64,
    },
    /// Digests of every chunk: answered by `Digests`.
    Digest {
        /// The server.
        server: Conn,
        /// How.
        options: DigestOptions,
    },
    /// The hash of every row of one chunk, in key order: answered by `RowHashes`.
    RowHashes {
        /// The server.
        server: Conn,
        /// The table and its chunk.
        table: TableChunks,
        /// The chunk's index.
        chunk: usize,
    },
}

/// Where a source stood when a snapshot was taken.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// The GTID position (`@@gtid_binlog_pos` on MariaDB, `gtid_executed` on MySQL), empty
    /// when the server has none.
    pub gtid: String,
    /// The binary log file (empty with the binary log off).
    pub file: String,
    /// The offset in it.
    pub offset: u64,
}

impl Position {
    /// `gtid 0-1-42 (binlog.000002:1234)`, for messages.
    pub fn describe(&self) -> String {
        match (self.gtid.is_empty(), self.file.is_empty()) {
            (false, false) => format!("GTID {} ({}:{})", self.gtid, self.file, self.offset),
            (false, true) => format!("GTID {}", self.gtid),
            (true, false) => format!("{}:{}", self.file, self.offset),
            (true, true) => "no binary log position (binary log off)".into(),
        }
    }
}

/// A table loaded on the target.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TableLoaded {
    /// Database.
    pub db: String,
    /// Table.
    pub name: String,
    /// Rows loaded.
    pub rows: u64,
    /// Bytes received.
    pub bytes: u64,
    /// Seconds from its first chunk to its last key.
    pub seconds: f64,
    /// Of those, seconds building its secondary keys after the rows.
    #[serde(default)]
    pub keys_seconds: f64,
}

/// A reply from the agent.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "mysql_reply", rename_all = "snake_case")]
pub enum MysqlReply {
    /// The result sets of a `Sql` request, one per statement.
    Results {
        /// Each statement's rows.
        results: Vec<Rows>,
        /// Each statement's column names.
        #[serde(default)]
        columns: Vec<Vec<String>>,
    },
    /// Done, nothing to say.
    Done,
    /// What `Objects` created.
    Created(Created),
    /// What `Inventory` found.
    Inventory(Box<super::inventory::Inventory>),
    /// The databases `Prepare` created (they did not exist).
    Prepared {
        /// Their names.
        created: Vec<String>,
    },
    /// A loader waits for the source's agent.
    Listening {
        /// The TCP port.
        port: u16,
    },
    /// The dump's snapshot is taken (the source's lock is released).
    Snapshot {
        /// Where the source stood.
        position: Position,
        /// Milliseconds the global read lock was held.
        lock_ms: u64,
    },
    /// Work in progress.
    Progress {
        /// Rows so far.
        rows: u64,
        /// Bytes so far.
        bytes: u64,
    },
    /// One table is loaded and its keys built.
    TableLoaded(TableLoaded),
    /// Every table is loaded.
    Loaded {
        /// Rows in all.
        rows: u64,
        /// Bytes received.
        bytes: u64,
    },
    /// Every row is sent.
    Dumped {
        /// Rows in all.
        rows: u64,
        /// Bytes sent.
        bytes: u64,
    },
    /// Inner bounds per table, in the request's order.
    Bounds {
        /// Per table.
        #[serde(with = "bounds_text")]
        bounds: Vec<Vec<i128>>,
    },
    /// The digests of every chunk.
    Digests {
        /// In the order of the request's chunks.
        chunks: Vec<ChunkDigest>,
    },
    /// The rows of a chunk.
    RowHashes {
        /// In key order.
        rows: Vec<RowHash>,
    },
}

/// Key bounds travel as text: JSON numbers inside tagged enums cannot carry 128-bit values.
pub mod bounds_text {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// Serializes each bound as its decimal text.
    pub fn serialize<S: Serializer>(v: &[Vec<i128>], s: S) -> Result<S::Ok, S::Error> {
        let text: Vec<Vec<String>> = v
            .iter()
            .map(|b| b.iter().map(i128::to_string).collect())
            .collect();
        text.serialize(s)
    }

    /// Reads bounds back from their text.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<i128>>, D::Error> {
        let text: Vec<Vec<String>> = Vec::deserialize(d)?;
        text.into_iter()
            .map(|b| {
                b.iter()
                    .map(|x| x.parse().map_err(serde::de::Error::custom))
                    .collect()
            })
            .collect()
    }

    /// One table's bounds, as text.
    pub mod one {
        use serde::{Deserialize, Deserializer, Serialize, Serializer};

        /// Serializes each bound as its decimal text.
        pub fn serialize<S: Serializer>(v: &[i128], s: S) -> Result<S::Ok, S::Error> {
            let text: Vec<String> = v.iter().map(i128::to_string).collect();
            text.serialize(s)
        }

        /// Reads bounds back from their text.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<i128>, D::Error> {
            let text: Vec<String> = Vec::deserialize(d)?;
            text.iter()
                .map(|x| x.parse().map_err(serde::de::Error::custom))
                .collect()
        }
    }
}
