//! Running commands on the plan's hosts: command values, the one quoting function, local and
//! SSH transports with multiplexing, secrets through standard input, redaction, commands
//! whose outcome survives the controller's crash ([`tracked`]), and host-to-host streaming.
#![deny(missing_docs)]

pub mod bounded;
pub mod class;
pub mod command;
pub mod error;
pub mod executor;
pub mod forward;
pub mod pipe;
pub mod quote;
pub mod redact;
pub mod render;
pub mod ssh;
pub mod tracked;

pub use class::FailureClass;
pub use command::{Command, EnvValue, Stdin, TrackId};
pub use error::{ConnectFailure, ExecError};
pub use executor::{Executor, Output, Spawned, Target};
pub use forward::{ByteStream, Forwarded, FromHost};
pub use pipe::PipeReport;
pub use redact::{Redactor, SecretValue};
pub use ssh::control_dir::control_dir_for;
pub use ssh::route::Route;
pub use ssh::{frame, SshTarget};
