//! PostgreSQL: verify, copy, sync and switch between real servers on the lab's hosts.

mod copy;
mod fixture;
mod sync;
mod verify;
