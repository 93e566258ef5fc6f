//! cutover's checking side: probes (HTTP(S) with address pinning and TLS checks, TCP, DNS,
//! PostgreSQL/MySQL/Redis through their clients, commands, Hurl smoke scenarios), health
//! gates with retries, soak windows with SLO triggers, and a downtime prober for switches.
#![deny(missing_docs)]

pub mod build;
pub mod dns;
pub mod eval;
pub mod gate;
pub mod host;
pub mod http;
pub mod logs;
pub mod outcome;
pub mod probe;
pub mod prober;
pub mod prom;
pub mod schedule;
pub mod smoke;
pub mod soak;
pub mod trigger;
pub mod window;

pub use build::{build, describe};
pub use gate::{gate, GatePolicy, Item};
pub use outcome::Outcome;
pub use probe::{NamedProbe, Probe, ProbeEnv};
pub use prober::{DowntimeReport, Prober, ProberHandle};
