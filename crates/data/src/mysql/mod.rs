//! MariaDB and MySQL: copy databases to another server, keep it in sync by the servers' own
//! replication, switch to it under a short write freeze, prove the copy.
//!
//! Everything that touches a server runs in cutover's agent on the server's host (the files
//! agent's `mysql` request family: [`protocol`], served by [`agent`]), through the `mysql`
//! crate; credentials travel only in the agent's requests over its SSH channel. The
//! controller drives both agents:
//!
//! - [`copy()`](copy::copy): one consistent snapshot, tables in primary-key ranges streamed
//!   agent to agent in parallel, keys after the rows, then the other objects ([`copy`]);
//! - [`sync`]: replication from the copy's position, watched ([`sync::start`],
//!   [`sync::watch`], [`sync::undo`]);
//! - [`switch`]: freeze, catch-up, promote, optional reverse replication, and its undo;
//! - [`verify()`](verify::verify): per-chunk digests next to each server, narrowed to rows
//!   where they differ, and every definition compared ([`verify`]).
//!
//! The code knows both flavors ([`flavor`]); MariaDB 10.11 is what it is tested with.

pub mod agent;

use crate::store::{Limit, Verb};

/// What MariaDB and MySQL steps cannot carry (see [`crate::store`]).
pub const LIMITS: &[Limit] = &[
    Limit {
        verbs: &[Verb::Copy],
        cannot: "take a consistent snapshot of non-transactional tables (MyISAM, Aria) while the source takes writes",
        instead: "the copy's snapshot holds for InnoDB tables only: convert them, or copy in a write freeze",
    },
    Limit {
        verbs: &[Verb::Copy],
        cannot: "carry accounts and their grants unless asked",
        instead: "set `users = true` on the copy, or create the accounts on new",
    },
    Limit {
        verbs: &[Verb::Sync],
        cannot: "replicate from a source without the binary log in ROW format",
        instead: "refused at the sync's preflight with the configuration to set (`log_bin`, `binlog_format = ROW`)",
    },
    Limit {
        verbs: &[Verb::Sync],
        cannot: "replicate tables without a primary key efficiently (each change scans the table)",
        instead: "refused at preflight unless `allow_no_primary_key = true`: add primary keys",
    },
];
pub mod client;
pub mod copy;
pub mod endpoint;
pub mod error;
pub mod finish;
pub mod flavor;
pub mod inventory;
pub mod objects;
pub mod protocol;
pub mod replication;
pub mod session;
pub mod sql;
pub mod switch;
pub mod sync;
mod sync_watch;
pub mod verify;

pub use endpoint::Endpoint;
pub use error::MysqlError;
