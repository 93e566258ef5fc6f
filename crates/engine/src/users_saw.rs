//! The window users experienced, from the figures the switch steps journaled: for each
//! coordinated move (a `proxy.switch` with `data`), how long requests were held, how many,
//! the longest wait and how many failed; for each switch `[downtime]` probed, how long the
//! probe found the service unavailable and how many of its requests failed. `cutover report`
//! shows them as a table, `cutover status` as one line each.
//!
//! Reads and writes are told apart by the method of the request each held connection
//! starts with (the relay peeks at it and carries the bytes on untouched): a connection is
//! held once, for its first request, so that is the request that waited.

use cutover_journal::state::Measurement;
use serde::Serialize;

/// How the figures split reads from writes.
pub const BY_METHOD: &str =
    "writes are requests with a method other than GET, HEAD, OPTIONS or TRACE, read from the first request of each held connection";

/// What users saw during one move or one probed switch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserWindow {
    /// The step.
    pub step: String,
    /// `move` (the first of the step), `move 2`... (a move back or a retry), or `probed`.
    pub window: String,
    /// Seconds requests were held (a move).
    pub held_seconds: Option<f64>,
    /// Requests held (a move).
    pub requests_held: Option<u64>,
    /// The longest any request was held (a move).
    pub longest_held_seconds: Option<f64>,
    /// Requests that failed: closed by the relay (a move), or the probe's failures.
    pub failed: u64,
    /// Of the requests held, the writes (a move).
    pub writes_held: Option<u64>,
    /// The longest any write was held (a move).
    pub longest_write_seconds: Option<f64>,
    /// Of the failed requests, the writes (a move).
    pub writes_failed: Option<u64>,
    /// Seconds the `[downtime]` probe found the service unavailable (a probed switch).
    pub unavailable_seconds: Option<f64>,
}

impl UserWindow {
    /// One line: `move` of `cutover`: held 0.412 s (37 requests, longest 0.398 s), 0 failed.
    pub fn line(&self) -> String {
        match (self.held_seconds, self.unavailable_seconds) {
            (Some(held), _) if self.writes_held.is_none() => format!(
                // Journaled before the relay told reads from writes.
                "{} of `{}`: requests held {held:.3} s ({} held, longest {:.3} s), {} failed",
                self.window,
                self.step,
                self.requests_held.unwrap_or(0),
                self.longest_held_seconds.unwrap_or(0.0),
                self.failed
            ),
            (Some(held), _) => {
                let (all, writes) = (
                    self.requests_held.unwrap_or(0),
                    self.writes_held.unwrap_or(0),
                );
                let failed_writes = self.writes_failed.unwrap_or(0);
                format!(
                    "{} of `{}`: requests held {held:.3} s ({all} held: {} reads, {writes} writes; longest {:.3} s, longest write {:.3} s), {} failed ({} reads, {failed_writes} writes)",
                    self.window,
                    self.step,
                    all.saturating_sub(writes),
                    self.longest_held_seconds.unwrap_or(0.0),
                    self.longest_write_seconds.unwrap_or(0.0),
                    self.failed,
                    self.failed.saturating_sub(failed_writes)
                )
            }
            (None, unavailable) => format!(
                "`{}` (probed by [downtime]): unavailable {:.3} s, {} probe request(s) failed",
                self.step,
                unavailable.unwrap_or(0.0),
                self.failed
            ),
        }
    }
}

/// The windows of one step, in the order its figures were journaled.
pub fn windows(step: &str, measured: &[Measurement]) -> Vec<UserWindow> {
    let mut out: Vec<UserWindow> = Vec::new();
    let mut moves = 0;
    let empty = |window: String| UserWindow {
        step: step.to_string(),
        window,
        held_seconds: None,
        requests_held: None,
        longest_held_seconds: None,
        failed: 0,
        unavailable_seconds: None,
        writes_held: None,
        longest_write_seconds: None,
        writes_failed: None,
    };
    for m in measured {
        match m.name.as_str() {
            // Each move journals this first: it opens the move's window.
            "move_held_seconds" => {
                moves += 1;
                let mut w = empty(if moves == 1 {
                    "move".into()
                } else {
                    format!("move {moves}")
                });
                w.held_seconds = Some(m.value);
                out.push(w);
            }
            "move_requests_held" => {
                if let Some(w) = out.last_mut() {
                    w.requests_held = Some(m.value as u64);
                }
            }
            "move_longest_hold" => {
                if let Some(w) = out.last_mut() {
                    w.longest_held_seconds = Some(m.value);
                }
            }
            "move_requests_failed" => {
                if let Some(w) = out.last_mut() {
                    w.failed = m.value as u64;
                }
            }
            "move_writes_held" => {
                if let Some(w) = out.last_mut() {
                    w.writes_held = Some(m.value as u64);
                }
            }
            "move_longest_write_hold" => {
                if let Some(w) = out.last_mut() {
                    w.longest_write_seconds = Some(m.value);
                }
            }
            "move_writes_failed" => {
                if let Some(w) = out.last_mut() {
                    w.writes_failed = Some(m.value as u64);
                }
            }
            // A step measured by the `[downtime]` probe journals this first.
            "downtime_requests" => out.push(empty("probed".into())),
            "downtime_failed" => {
                if let Some(w) = out.last_mut() {
                    w.failed = m.value as u64;
                }
            }
            "downtime_unavailable" => {
                if let Some(w) = out.last_mut() {
                    w.unavailable_seconds = Some(m.value);
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(name: &str, value: f64) -> Measurement {
        Measurement {
            name: name.into(),
            value,
            unit: String::new(),
        }
    }

    #[test]
    fn a_move_and_its_move_back_are_two_windows_with_their_own_figures() {
        let w = windows(
            "move",
            &[
                m("move_held_seconds", 0.412),
                m("move_requests_held", 37.0),
                m("move_longest_hold", 0.398),
                m("move_requests_failed", 0.0),
                m("rollback_seconds", 1.0),
                m("move_held_seconds", 0.2),
                m("move_requests_held", 3.0),
                m("move_longest_hold", 0.1),
                m("move_requests_failed", 1.0),
                m("move_writes_held", 1.0),
                m("move_longest_write_hold", 0.05),
                m("move_writes_failed", 1.0),
            ],
        );
        let lines: Vec<String> = w.iter().map(UserWindow::line).collect();
        assert_eq!(
            lines,
            vec![
                "move of `move`: requests held 0.412 s (37 held, longest 0.398 s), 0 failed",
                "move 2 of `move`: requests held 0.200 s (3 held: 2 reads, 1 writes; longest 0.100 s, longest write 0.050 s), 1 failed (0 reads, 1 writes)",
            ]
        );
    }

    #[test]
    fn a_probed_switch_shows_its_unavailable_time_and_failures() {
        let w = windows(
            "db",
            &[
                m("freeze_window", 0.06),
                m("downtime_requests", 40.0),
                m("downtime_failed", 12.0),
                m("downtime_unavailable", 0.65),
                m("downtime_longest_outage", 0.65),
            ],
        );
        assert_eq!(
            w.iter().map(UserWindow::line).collect::<Vec<_>>(),
            vec!["`db` (probed by [downtime]): unavailable 0.650 s, 12 probe request(s) failed"]
        );
    }
}
