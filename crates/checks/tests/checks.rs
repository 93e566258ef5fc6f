//! The checks crate's integration tests, against real servers on lab hosts: the test app
//! behind Caddy with a certificate from a test CA, Prometheus, PostgreSQL, Redis, MariaDB.

#[path = "checks/https.rs"]
mod https;
#[path = "checks/prober.rs"]
mod prober;
#[path = "checks/schedule.rs"]
mod schedule;
#[path = "checks/smoke.rs"]
mod smoke;
#[path = "checks/soak.rs"]
mod soak;
#[path = "checks/support.rs"]
mod support;
