//! cutover's agent: one process per host, next to the data, that every store's steps talk
//! to. The controller uploads its own executable once (checksum-cached) and speaks JSON lines
//! with it over the SSH channel, or runs it in-process for its own machine.
//!
//! - [`host`]: the host side, the request loop (`cutover agent serve`) that hands each
//!   request to its store's handler: files (manifests, sync), Redis, MariaDB, Docker images,
//!   the hold relay.
//! - [`session`]: the controller side, which starts or reaches an agent and exchanges
//!   requests and replies with it.
//! - [`protocol`]: the requests and replies between them.
//!
//! Each store keeps its own requests and handler (`redis::agent`, `mysql::agent`, ...): the
//! agent only carries them.

mod error;
pub mod host;
pub mod protocol;
pub mod session;

pub use error::AgentError;
pub use session::AgentBinary;
