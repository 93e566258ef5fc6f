//! PostgreSQL: copy across major versions, keep in sync by logical replication, prove the copy.
//!
//! Everything runs through the endpoint's host with the PostgreSQL client tools found there
//! ([`tools`]); credentials travel only in the environment ([`Endpoint::env`]).
//!
//! - [`copy`](mod@copy): the schema and rows streamed to a server of the same or a newer major, in
//!   parallel, with no temporary file anywhere;
//! - [`replication`]: the target kept in sync by logical replication, and the switch with
//!   its freeze window measured;
//! - [`verify`](mod@verify): per-table row counts and order-independent checksums computed on each
//!   server, sequences and schema objects compared, every difference named.

pub mod checksum;
pub mod compare;
pub mod copy;
mod definition_text;
pub mod definitions;
pub mod endpoint;
pub mod error;
pub mod inventory;
pub mod live;
pub mod normalize;
pub mod replication;
pub mod report;
pub mod session;
pub mod sql;
mod sql_tokens;
pub mod tools;
pub mod verify;

pub use copy::{copy, CopyOptions, CopyReport};
pub use endpoint::Endpoint;
pub use error::PgError;
pub use report::{Difference, VerifyReport};
pub use verify::{verify, VerifyOptions};
