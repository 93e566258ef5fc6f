//! Crash-testing hook shared by every backend: with `CUTOVER_TEST_CRASH_AFTER_EVENTS=N` set,
//! the process aborts (no cleanup, like `kill -9`) right after its N-th event is durable.
//! The resume tests use it to stop a real run at every point between two journal writes.

use std::sync::atomic::{AtomicU64, Ordering};

const CRASH_ENV: &str = "CUTOVER_TEST_CRASH_AFTER_EVENTS";

/// Counts durable events and aborts at the configured one.
#[derive(Debug)]
pub(crate) struct CrashHook {
    after: Option<u64>,
    appended: AtomicU64,
}

impl CrashHook {
    /// Reads the setting from the environment.
    pub(crate) fn from_env() -> Self {
        CrashHook {
            after: std::env::var(CRASH_ENV).ok().and_then(|v| v.parse().ok()),
            appended: AtomicU64::new(0),
        }
    }

    /// Called once an event is durable.
    pub(crate) fn event_written(&self) {
        let n = self.appended.fetch_add(1, Ordering::SeqCst) + 1;
        if self.after == Some(n) {
            std::process::abort();
        }
    }
}
