//! The bench's own client for the switch: one session inserting a row every few
//! milliseconds into the current primary, reconnecting after any error, and moved to the new
//! server when the bench says the switch is done, as an application would be. Every attempt
//! is timed at the client, so the writes blocked by a switch are measured as the client saw
//! them.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Time between two attempts.
const PACE: Duration = Duration::from_millis(4);

/// One write attempt.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// When it was sent (its connection included, when it needed one).
    pub sent: Instant,
    /// The row's id.
    pub id: i64,
    /// Acknowledged.
    pub ok: bool,
    /// Which server it went to (0 = the first, 1 = the one moved to).
    pub server: u64,
}

/// A running client.
pub struct Writer {
    stop: Arc<AtomicBool>,
    generation: Arc<AtomicU64>,
    target: Arc<Mutex<String>>,
    handle: JoinHandle<Vec<Attempt>>,
}

/// A connection string for the bench's superuser.
pub fn conninfo(address: &str, db: &str) -> String {
    format!(
        "host={address} port=5432 user=postgres password={} dbname={db} connect_timeout=2",
        cutover_testbed::PgServer::PASSWORD
    )
}

impl Writer {
    /// Starts writing into table `client_writes` at `conninfo`, ids from `first_id` up.
    pub fn start(conninfo: String, first_id: i64) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let generation = Arc::new(AtomicU64::new(0));
        let target = Arc::new(Mutex::new(conninfo));
        let (s, g, t) = (stop.clone(), generation.clone(), target.clone());
        let handle = std::thread::spawn(move || write_loop(&s, &g, &t, first_id));
        Writer {
            stop,
            generation,
            target,
            handle,
        }
    }

    /// From now on, writes go to `conninfo`.
    pub fn move_to(&self, conninfo: String) {
        if let Ok(mut t) = self.target.lock() {
            *t = conninfo;
        }
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Stops and returns every attempt, in order.
    pub fn stop(self) -> Vec<Attempt> {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.join().unwrap_or_default()
    }
}

fn write_loop(
    stop: &AtomicBool,
    generation: &AtomicU64,
    target: &Mutex<String>,
    first_id: i64,
) -> Vec<Attempt> {
    let mut attempts = Vec::new();
    let mut session: Option<(u64, postgres::Client)> = None;
    let mut id = first_id;
    while !stop.load(Ordering::SeqCst) {
        let sent = Instant::now();
        let server = generation.load(Ordering::SeqCst);
        if session.as_ref().is_some_and(|(g, _)| *g != server) {
            session = None;
        }
        if session.is_none() {
            let info = target.lock().map(|t| t.clone()).unwrap_or_default();
            session = postgres::Client::connect(&info, postgres::NoTls)
                .ok()
                .map(|c| (server, c));
        }
        let ok = match session.as_mut() {
            Some((_, client)) => client
                .execute("INSERT INTO client_writes (id) VALUES ($1)", &[&id])
                .is_ok(),
            None => false,
        };
        if !ok {
            session = None;
        }
        attempts.push(Attempt {
            sent,
            id,
            ok,
            server,
        });
        id += 1;
        if let Some(wait) = PACE.checked_sub(sent.elapsed()) {
            std::thread::sleep(wait);
        }
    }
    attempts
}

/// The writes blocked as the client saw them: from the first failed attempt to the first
/// acknowledged one on the server moved to; `None` when nothing failed.
pub fn blocked(attempts: &[Attempt]) -> Option<Duration> {
    let first_failed = attempts.iter().find(|a| !a.ok)?;
    let first_good_after = attempts
        .iter()
        .find(|a| a.ok && a.server == 1 && a.sent > first_failed.sent)?;
    Some(first_good_after.sent - first_failed.sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocked_runs_from_the_first_failure_to_the_first_write_on_the_new_server() {
        let t0 = Instant::now();
        let at = |ms: u64, ok: bool, server: u64| Attempt {
            sent: t0 + Duration::from_millis(ms),
            id: ms as i64,
            ok,
            server,
        };
        let attempts = [
            at(0, true, 0),
            at(4, false, 0),
            at(8, false, 0),
            at(12, false, 1),
            at(16, true, 1),
        ];
        assert_eq!(blocked(&attempts), Some(Duration::from_millis(12)));
        assert_eq!(blocked(&attempts[..1]), None);
    }
}
