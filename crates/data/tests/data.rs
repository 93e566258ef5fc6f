//! Integration tests of the data crate against real servers on lab hosts.

mod docker;
mod files;
mod mysql;
mod postgres;
mod redis;
