//! Redis and Valkey: keep a new server in sync by the servers' own replication, switch to it
//! under a short write pause, prove every key arrived.
//!
//! Everything that touches a server runs in cutover's agent on the server's host (the files
//! agent's `redis` request family: [`protocol`], served by [`agent`]), speaking to it through
//! the `redis` crate; credentials travel only over the agent's SSH channel. The controller
//! drives both agents through a [`Pair`]:
//!
//! - [`Pair::preflight`] (versions and RDB formats, roles, data on the target, renamed
//!   commands, memory, databases, persistence; [`preflight`]);
//! - [`Pair::start_sync`], [`Pair::watch_sync`], [`Pair::undo_sync`] ([`sync`],
//!   [`sync_undo`]);
//! - [`Pair::switch`] (pause, catch-up, promote, reverse, unpause) and
//!   [`Pair::undo_switch`] ([`switch`], [`switch_undo`], where a pair stands: [`stage`]);
//! - [`Pair::finish`]: the reverse replication ended once the run no longer needs it
//!   ([`finish`]);
//! - [`Pair::verify`]: digests of logical values per bucket next to the data, compared,
//!   key by key only where they differ ([`verify`], [`digest`], [`fanout`], [`read`],
//!   [`value`], [`compare`]);
//! - [`health()`](health::health).

pub mod agent;

use crate::store::{Limit, Verb};

/// What Redis and Valkey steps cannot carry (see [`crate::store`]).
pub const LIMITS: &[Limit] = &[
    Limit {
        verbs: &[Verb::Sync],
        cannot: "carry ACL users, CONFIG SET settings or the script cache (SCRIPT LOAD): replication does not",
        instead: "define users and settings in new's configuration; an app using EVALSHA loads its scripts again on new (functions, FUNCTION LOAD, are carried)",
    },
    Limit {
        verbs: &[Verb::Sync],
        cannot: "keep keys a target already holds (a full sync replaces its data set)",
        instead: "refused unless `replace = true`",
    },
    Limit {
        verbs: &[Verb::Switch],
        cannot: "pause writes on servers older than 6.2 (`CLIENT PAUSE ... WRITE`)",
        instead: "refused at preflight: upgrade the source first",
    },
    Limit {
        verbs: &[Verb::Verify],
        cannot: "compare keys that expire between the two sides' reads exactly",
        instead: "expiry times are compared within a tolerance; a key that expired on one side only is named",
    },
];
pub mod client;
pub mod compare;
pub mod digest;
pub mod endpoint;
pub mod error;
pub mod fanout;
pub mod finish;
pub mod guess;
pub mod health;
pub mod info;
pub mod paged;
pub mod pair;
pub mod preflight;
pub mod protocol;
pub mod read;
#[cfg(test)]
mod read_tests;
pub mod reply;
pub mod report;
pub mod resp;
pub mod session;
pub mod stage;
pub mod switch;
pub mod switch_undo;
pub mod sync;
pub mod sync_stage;
pub mod sync_undo;
pub mod value;
pub mod verify;
pub mod version;
pub mod wire;

pub use endpoint::Endpoint;
pub use error::RedisError;
pub use pair::Pair;
pub use report::VerifyReport;
pub use switch::{SwitchOptions, SwitchReport};
pub use sync::{Previous, SyncOptions, SyncReport};
pub use verify::VerifyOptions;
