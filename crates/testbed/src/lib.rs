//! Real hosts for cutover's tests and demo: SSH servers in network namespaces, each with its own
//! mount namespace so that every host has its own `/srv`, `/tmp`, `/var/lib/postgresql`... at
//! the usual paths, as two real servers would.
//!
//! A test takes a lab, uses it over real SSH, and drops it:
//! ```no_run
//! let lab = cutover_testbed::Lab::start()?;
//! let old = lab.host("old");
//! old.exec_ok("mkdir -p /srv/app && echo v1 > /srv/app/VERSION")?;
//! let out = std::process::Command::new("ssh")
//!     .arg("-F").arg(lab.ssh_config())
//!     .args(["old", "cat /srv/app/VERSION"])
//!     .output()?;
//! assert_eq!(out.stdout, b"v1\n");
//! assert!(old.fs_path("/srv/app/VERSION").exists());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Many labs run at once: each takes a *slot* (1-15, an exclusive `flock` held for the lab's
//! life) that fixes its /27 subnet and namespace names, so parallel tests (cargo nextest's
//! processes or cargo test's threads) never collide, and a slot's next holder first sweeps
//! anything a killed holder left. Slot 0 is the canonical demo lab of the `cutover-lab`
//! binary: namespaces `old` (198.51.100.10) and `new` (198.51.100.20), controller
//! 198.51.100.1. Everything needs root and the programs of `scripts/install-deps.sh`.
#![deny(missing_docs)]

pub mod app;
pub mod browser;
mod build;
pub mod cloudflare_fake;
pub mod dns;
pub mod docker;
mod error;
mod host;
pub mod images;
mod keys;
mod lab;
mod layout;
pub mod load;
mod logs;
pub mod mysql;
pub mod mysql_writer;
mod netns;
pub mod postgres;
mod preflight;
pub mod proxy;
mod ready;
pub mod redis;
pub mod redis_data;
pub mod redis_writer;
mod run;
mod slot;
mod sshd;
mod state;
pub mod store_images;

pub use build::{LabBuilder, DEFAULT_LAB_ROOT};
pub use error::LabError;
pub use host::LabHost;
pub use lab::{Lab, KEEP_ENV};
pub use layout::{CANONICAL_SLOT, LAST_SLOT, PREFIX_LEN, SPARE_ADDRESSES};
pub use mysql::{MariaOptions, MariaServer};
pub use mysql_writer::{MysqlWriter, MysqlWriterReport};
pub use postgres::{PgOptions, PgServer};
pub use redis::{RedisOptions, RedisServer, RedisVersion};
pub use redis_writer::{missing_writes, RedisWriter, WriterReport};
pub use slot::LOCK_DIR;
pub use sshd::{DEFAULT_PRIVATE_DIRS, DOCKER_SOCKET};
