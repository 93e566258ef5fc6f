//! PostgreSQL: verify, copy, sync and switch between real servers on the lab's hosts.

mod copy;
mod definitions;
mod fixture;
mod sample;
mod sync;
mod verify;
