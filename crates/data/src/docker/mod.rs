//! Docker hosts: Compose projects (the commands cutover runs on them, their releases), the
//! files a project's directory gets from the plan, volumes, and images copied host to host
//! by the agents ([`images`]).
//!
//! Why here, in the data crate: copying images is moving data between hosts, done by the
//! same agents and the same encrypted host-to-host stream as `files.sync`, and named volumes
//! are data trees the file movers read and write. The engine's Compose steps stay thin: they
//! take command values and parsers from this module and run them through the step context,
//! so every command is journaled.

pub mod compose;
pub mod engine;
pub mod failure;
pub mod hostfiles;
pub mod images;
pub mod inspect;
pub mod reach;
pub mod release;

pub use compose::{Project, Pull, Up};
pub use failure::DockerFailure;
pub use inspect::{Container, Image};
pub use release::{Release, ServiceImage};
