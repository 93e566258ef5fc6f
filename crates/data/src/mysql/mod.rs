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
pub mod verify;

pub use endpoint::Endpoint;
pub use error::MysqlError;
