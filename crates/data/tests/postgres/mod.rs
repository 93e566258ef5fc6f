//! PostgreSQL: verify, copy, sync and switch between real servers on the lab's hosts.

mod copy;
mod definitions;
mod finish;
mod fixture;
mod roles;
mod sample;
mod switch_undo;
mod sync;
mod verify;
