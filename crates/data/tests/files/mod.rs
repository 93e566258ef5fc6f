//! Files: manifests, verification and sync on the lab's hosts, through the real agent
//! uploaded over SSH.

pub(crate) mod fixture;
mod hostile;
mod sync;
mod verify;
