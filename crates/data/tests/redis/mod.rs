//! Redis and Valkey: sync, switch, rollback and proof between real servers of the version
//! matrix (6.2 -> 7.0, 7.0 -> 7.0, 7.0 -> Valkey 9) on the lab's hosts, through the real
//! agent uploaded over SSH, under a client's writes; the mutation suite; the faults.

mod digest;
mod faults;
mod fixture;
mod switch;
mod verify;
