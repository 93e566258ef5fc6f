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
pub mod roles;
pub mod session;
pub mod sql;
mod sql_tokens;
pub mod tools;
pub mod verify;

use crate::store::{Limit, Verb};

/// What PostgreSQL steps cannot carry (see [`crate::store`]).
pub const LIMITS: &[Limit] = &[
    Limit {
        verbs: &[Verb::Sync],
        cannot: "carry large objects (pg_largeobject) through logical replication",
        instead: "refused at the sync's preflight when the source has any: copy with `postgres.copy` under a write freeze, or move them into bytea columns",
    },
    Limit {
        verbs: &[Verb::Sync, Verb::Switch],
        cannot: "carry schema changes (DDL) made on the source during the sync",
        instead: "the switch compares both schemas and stops until the target has the change: run the same DDL on new",
    },
    Limit {
        verbs: &[Verb::Sync],
        cannot: "carry UPDATE and DELETE of tables without a primary key or replica identity",
        instead: "refused at the sync's preflight: add a primary key, or set `replica_identity_full = true`",
    },
    Limit {
        verbs: &[Verb::Sync],
        cannot: "carry sequence values, unlogged tables or materialized views' contents through logical replication",
        instead: "sequences are advanced past the source's at the switch; unlogged tables arrive empty; REFRESH materialized views on new after the switch",
    },
    Limit {
        verbs: &[Verb::Copy, Verb::Sync],
        cannot: "read role passwords from the source",
        instead: "`roles = true` creates the roles; give passwords with `role_passwords` from secrets",
    },
];

pub use copy::{copy, CopyOptions, CopyReport};
pub use endpoint::Endpoint;
pub use error::PgError;
pub use report::{Difference, VerifyReport};
pub use verify::{verify, VerifyOptions};
