//! Files: sync media and uploads between hosts, and prove every byte arrived.
//!
//! - [`manifest`]: a tree's manifest built on the host that holds it (parallel walk,
//!   BLAKE3 or SHA-256 on every core, a [`cache`] so re-verification rehashes only what
//!   changed), sorted by raw path bytes, with a digest over everything compared.
//! - [`compare`]: a streaming merge of two manifests naming every difference.
//! - The agent that builds them on each host, and the controller's end of it, are
//!   [`crate::agent`], which every store shares.
//! - [`verify()`](verify::verify): both manifests in parallel, compared on the controller.
//! - [`sync`]: host-to-host transfer through the agents.

pub mod beneath;
pub mod cache;
pub mod compare;
pub mod entry;
pub mod error;
pub mod exclude;
pub mod hash;
pub mod manifest;
pub mod owners;
pub mod side;
pub mod sync;
pub mod verify;
mod walk;

pub use compare::{DiffKind, Difference, Differences};
pub use entry::{Entry, Kind};
pub use error::FilesError;
pub use hash::Algorithm;
pub use manifest::{Compare, ManifestOptions, OwnerCheck, Summary};
pub use side::Side;
pub use verify::{verify, VerifyOptions, VerifyReport};
