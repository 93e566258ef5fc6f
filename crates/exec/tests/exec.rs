//! Integration tests of the executor. `local` and `control_dir` need nothing; `lab` and `hops`
//! use real SSH hosts.

#[path = "exec/control_dir.rs"]
mod control_dir;
#[path = "exec/hops.rs"]
mod hops;
#[path = "exec/lab.rs"]
mod lab;
#[path = "exec/local.rs"]
mod local;
