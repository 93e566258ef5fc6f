//! What went wrong for the writes of one switch, printed under its round: the failures by
//! cause, and where a slow write waited (HAProxy's request log lines of the writes a switch
//! kept longer than [`TRACE_OVER`], beside the client's own times), so that a rare stall can
//! be told apart (queued, connecting, retried, waiting on the server, or sent on a
//! connection kept to the old upstream) from one run's output.

use cutover_testbed::load::LoadSummary;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

/// A write answered later than this has its proxy log line printed.
const TRACE_OVER: Duration = Duration::from_millis(800);

/// The log can hold a whole section's requests; more than this is not read.
const LOG_LIMIT: u64 = 64 << 20;

/// Prints, for each write of `summary` slower than [`TRACE_OVER`], its send and answer time
/// (unix ms) and the line HAProxy logged for it in `log` (the lab's `HAPROXY_REQUESTS`).
pub(super) fn trace(summary: &LoadSummary, log: &Path) {
    let slow: Vec<_> = summary
        .records
        .iter()
        .filter(|r| r.latency() > TRACE_OVER)
        .collect();
    if slow.is_empty() {
        return;
    }
    let text = match read_bounded(log) {
        Ok(t) => t,
        Err(e) => {
            eprintln!(
                "       (cannot read HAProxy's request log {}: {e})",
                log.display()
            );
            return;
        }
    };
    let origin = summary
        .started
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    for r in slow {
        let tag = format!("seq={{{}}} ", r.seq);
        let line = text
            .lines()
            .rev()
            .find(|l| l.contains(&tag))
            .unwrap_or("(no HAProxy log line)");
        eprintln!(
            "       slow write {}: sent {} answered {} (unix ms), {:.3} s; haproxy: {line}",
            r.seq,
            origin + r.sent.as_millis(),
            origin + r.answered.as_millis(),
            r.latency().as_secs_f64()
        );
    }
}

fn read_bounded(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(LOG_LIMIT)
        .read_to_string(&mut text)?;
    Ok(text)
}

/// Prints the failed writes of `summary` by cause: how many, and when the first and the last
/// of them were sent (seconds from the load's start).
pub(super) fn failures(summary: &LoadSummary) {
    let mut by_cause: BTreeMap<&str, (usize, f64, f64)> = BTreeMap::new();
    for r in summary.failures() {
        let at = r.sent.as_secs_f64();
        let e = by_cause
            .entry(r.error.as_deref().unwrap_or("?"))
            .or_insert((0, at, at));
        *e = (e.0 + 1, e.1.min(at), e.2.max(at));
    }
    for (cause, (n, first, last)) in by_cause {
        eprintln!("       {n} failed writes, sent {first:.2}-{last:.2} s: {cause}");
    }
}
