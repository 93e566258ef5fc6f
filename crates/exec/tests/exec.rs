//! Integration tests of the executor. `local` needs nothing; `lab` uses real SSH hosts.

mod lab;
mod local;
