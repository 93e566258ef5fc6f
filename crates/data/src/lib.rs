//! Moving and proving data between hosts, one module per store: each has movers (copy,
//! sync) and verifiers (the proof that the copy is whole), built on `cutover-exec` so they
//! run on the hosts over SSH and are usable on their own (`cutover verify ...`).
#![deny(missing_docs)]

pub mod docker;
pub mod files;
pub mod hold;
pub mod mysql;
pub mod postgres;
pub mod redis;
pub mod store;
