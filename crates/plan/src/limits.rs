//! The range every number and duration of a plan must fall in, declared once per kind of
//! value with the reason for its bounds (shown as the problem's help).
//!
//! They are checked while reading, so that `cutover check` refuses, at its location, a value
//! that `apply` could not carry out: a wait whose deadline lies past the year 9999 (which
//! cannot be printed), a TTL that does not fit the 32 bits DNS gives it, a lag in MB whose
//! byte count overflows, a zero that turns a poll loop into a busy loop.

use std::time::Duration;

const SECOND: u64 = 1;
const HOUR: u64 = 3600 * SECOND;
const DAY: u64 = 24 * HOUR;

/// The durations a field accepts, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationRange {
    /// The shortest accepted.
    pub min: Duration,
    /// The longest accepted.
    pub max: Duration,
    /// True when the value is carried in whole seconds (a DNS TTL), so that "1500ms" would
    /// silently become 1 s.
    pub whole_seconds: bool,
    /// Why the bounds are what they are, or what to write instead.
    pub why: &'static str,
}

impl DurationRange {
    const fn new(min: Duration, max: Duration, why: &'static str) -> Self {
        DurationRange {
            min,
            max,
            whole_seconds: false,
            why,
        }
    }
}

/// The integers a field accepts, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntRange<T> {
    /// The smallest accepted.
    pub min: T,
    /// The largest accepted.
    pub max: T,
    /// Why the bounds are what they are, or what to write instead.
    pub why: &'static str,
}

const fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

const fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// A time gate or a window that only waits: `wait` (`duration`, `delay`), a soak's
/// `duration`, an approval's `timeout`, `postgres.sync`'s and `redis.sync`'s `watch`, a
/// manual DNS provider's `wait`.
pub const WAIT: DurationRange =
    DurationRange::new(Duration::ZERO, secs(365 * DAY), "a step waits at most 365d");

/// How long a whole step may take before it gives up: `run` (`timeout`,
/// `health_deadline`), `check` `deadline`, `dns.verify` and `files.sync` `timeout`,
/// `postgres.sync` `timeout`, `postgres.switch` `max_wait`, `redis.sync` `timeout` and
/// `link_timeout`, `redis.switch` `max_wait` and `clients_timeout`.
pub const STEP_TIMEOUT: DurationRange = DurationRange::new(
    millis(1),
    secs(30 * DAY),
    "a step gives up after at most 30d; 0 would fail it before it starts",
);

/// How long one request or probe may take: a check's `timeout`, a DNS provider's
/// `timeout`, `proxy.switch` `health_timeout`.
pub const REQUEST_TIMEOUT: DurationRange = DurationRange::new(
    millis(1),
    secs(HOUR),
    "one request may take at most 1h; 0 would fail it before it is sent",
);

/// The pause between two polls: `check`, `soak` and `dns.verify` `interval`.
pub const INTERVAL: DurationRange = DurationRange::new(
    millis(10),
    secs(HOUR),
    "poll at most every 10ms (faster only loads the servers) and at least every hour",
);

/// The downtime prober's `interval`.
pub const DOWNTIME_INTERVAL: DurationRange = DurationRange::new(
    millis(10),
    secs(10 * SECOND),
    "probe every 50ms-1s: each request must finish or time out well within the step",
);

/// A pause after a change for caches to let go: a proxy's and `[downtime]`'s `settle`.
pub const SETTLE: DurationRange = DurationRange::new(
    Duration::ZERO,
    secs(HOUR),
    "a settle time is at most 1h: it is waited after every change",
);

/// A latency budget: a soak trigger's `p50` to `p99`, an HTTP check's `max_latency`.
pub const LATENCY: DurationRange =
    DurationRange::new(millis(1), secs(HOUR), "a latency budget is from 1ms to 1h");

/// The sliding window of a soak trigger (`over`): its samples are kept in memory.
pub const WINDOW: DurationRange = DurationRange::new(
    secs(SECOND),
    secs(DAY),
    "a trigger's window is from 1s to 1d: its probes are kept in memory",
);

/// A DNS TTL: 32 bits on the wire, of which RFC 2181 allows the lower 31, in whole seconds.
pub const DNS_TTL: DurationRange = DurationRange {
    min: Duration::ZERO,
    max: secs(i32::MAX as u64),
    whole_seconds: true,
    why: "a DNS TTL is a whole number of seconds from 0 to 2147483647 (RFC 2181)",
};

/// A TCP port.
pub const PORT: IntRange<u16> = IntRange {
    min: 1,
    max: u16::MAX,
    why: "a TCP port is from 1 to 65535",
};

/// `[ssh] connect_timeout`, in seconds (OpenSSH's `ConnectTimeout`, where 0 means none).
pub const CONNECT_TIMEOUT: IntRange<u32> = IntRange {
    min: 1,
    max: 3600,
    why: "the seconds ssh waits for a connection, from 1 to 3600",
};

/// An HTTP status code an HTTP check accepts.
pub const HTTP_STATUS: IntRange<u16> = IntRange {
    min: 100,
    max: 599,
    why: "HTTP status codes are from 100 to 599",
};

/// A DNS check's `max_ttl`, in seconds.
pub const MAX_TTL: IntRange<u32> = IntRange {
    min: 0,
    max: i32::MAX as u32,
    why: "a DNS TTL is a whole number of seconds from 0 to 2147483647 (RFC 2181)",
};

/// An HTTP check's `min_cert_days`.
pub const CERT_DAYS: IntRange<u32> = IntRange {
    min: 0,
    max: 3650,
    why: "the days a certificate must stay valid, from 0 to 3650",
};

/// A command check's expected exit status.
pub const EXIT_STATUS: IntRange<u8> = IntRange {
    min: 0,
    max: u8::MAX,
    why: "an exit status is from 0 to 255",
};

/// Parallel PostgreSQL sessions per server (`jobs`).
pub const JOBS: IntRange<u32> = IntRange {
    min: 1,
    max: 8,
    why: "cutover opens at most 8 sessions per host at once; 2 to 4 suits most servers",
};

/// Parallel workers of a `mysql.*` step: threads of cutover's agent, each with its own
/// connection to the server (not SSH sessions).
pub const WORKERS: IntRange<u32> = IntRange {
    min: 1,
    max: 32,
    why: "workers are from 1 to 32; about the server's cores suits most",
};

/// `mysql.copy` `chunk_mb`.
pub const CHUNK_MB: IntRange<u64> = IntRange {
    min: 1,
    max: 1 << 20,
    why: "the size is given in MB, from 1 to 1048576 (1 TiB)",
};

/// `mysql.sync` `max_behind` (transactions).
pub const BEHIND: IntRange<u64> = IntRange {
    min: 0,
    max: 1_000_000_000,
    why: "the lag is counted in transactions, from 0 (fully caught up) to 1000000000",
};

/// `postgres.sync` `max_lag_mb` (turned into bytes).
pub const LAG_MB: IntRange<u64> = IntRange {
    min: 0,
    max: 1 << 20,
    why: "the lag is given in MB, from 0 (fully caught up) to 1048576 (1 TiB)",
};

/// `redis.sync` `max_lag_kb` (turned into bytes).
pub const LAG_KB: IntRange<u64> = IntRange {
    min: 0,
    max: 1 << 30,
    why: "the lag is given in KB, from 0 (fully caught up) to 1073741824 (1 TiB)",
};

/// `redis.verify` `ttl_tolerance`: two expiry times this close are equal.
pub const TTL_TOLERANCE: DurationRange = DurationRange::new(
    millis(1),
    secs(DAY),
    "a TTL tolerance is from 1ms (the expiry times' resolution) to 1d",
);

/// `postgres.copy` `split_mb` (turned into bytes).
pub const SPLIT_MB: IntRange<u64> = IntRange {
    min: 0,
    max: 1 << 20,
    why: "the size is given in MB, from 1 to 1048576 (1 TiB), or 0 never to split",
};

/// A count a soak trigger waits for (`consecutive_failures`, `log_matches`,
/// `min_samples`): 0 would fire, or judge, before anything was seen.
pub const COUNT: IntRange<u32> = IntRange {
    min: 1,
    max: 1_000_000,
    why: "a count is from 1 to 1000000",
};

/// A `check` step's `retries`.
pub const RETRIES: IntRange<u32> = IntRange {
    min: 0,
    max: 1_000_000,
    why: "retries are from 0 to 1000000; `deadline` bounds them in time",
};

/// A duration as a plan would write it, in its largest whole unit: "365d", "10ms",
/// "2147483647s".
pub fn show(d: Duration) -> String {
    const UNITS: &[(&str, u128)] = &[
        ("d", 86_400_000_000_000),
        ("h", 3_600_000_000_000),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("us", 1_000),
    ];
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".into();
    }
    UNITS
        .iter()
        .find(|(_, unit)| ns.is_multiple_of(*unit))
        .map_or_else(
            || format!("{ns}ns"),
            |(name, unit)| format!("{}{name}", ns / unit),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_show_in_their_largest_whole_unit() {
        assert_eq!(show(Duration::ZERO), "0s");
        assert_eq!(show(WAIT.max), "365d");
        assert_eq!(show(INTERVAL.min), "10ms");
        assert_eq!(show(DNS_TTL.max), "2147483647s");
        assert_eq!(show(secs(90)), "90s");
        assert_eq!(show(Duration::from_nanos(1500)), "1500ns");
    }

    #[test]
    fn every_shown_bound_reads_back_as_itself() {
        for range in [
            WAIT,
            STEP_TIMEOUT,
            REQUEST_TIMEOUT,
            INTERVAL,
            DOWNTIME_INTERVAL,
            SETTLE,
            LATENCY,
            WINDOW,
            DNS_TTL,
        ] {
            for d in [range.min, range.max] {
                assert_eq!(humantime::parse_duration(&show(d)), Ok(d));
            }
        }
    }
}
