//! Moving and proving data between hosts, one module per store: each has movers (copy,
//! sync) and verifiers (the proof that the copy is whole), built on `cutover-exec` so they
//! run on the hosts over SSH and are usable on their own (`cutover verify ...`).
#![deny(missing_docs)]

pub mod agent;
pub mod copied;
pub mod docker;
pub mod files;
pub mod hold;
pub mod mysql;
pub mod postgres;
pub mod proof;
pub mod redis;
pub mod store;
pub mod synced;

/// Milliseconds since the Unix epoch, now: when a freeze begins, for the journal's outage
/// window (0 if the clock is before 1970).
pub fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
