//! A write load like a real client's: `POST /api/orders` to the test app (usually through a
//! proxy) every `interval`, on a fixed schedule. Each request runs on its own thread with
//! its own deadline, so requests keep going out on time while earlier ones hang, and a
//! hung one is counted as failed when its deadline passes.
//!
//! ```no_run
//! use cutover_testbed::load::{LoadOptions, WriteLoad};
//! let load = WriteLoad::start("http://198.51.100.20:8000", LoadOptions::default())?;
//! load.wait_for_acknowledged(10, std::time::Duration::from_secs(5))?;
//! // ... switch the database and the traffic ...
//! let summary = load.stop();
//! assert!(summary.failures().is_empty(), "{summary}");
//! # Ok::<(), cutover_testbed::LabError>(())
//! ```

mod summary;

pub use summary::{LoadSummary, RequestRecord};

use crate::error::LabError;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

/// How a load runs.
#[derive(Debug, Clone, Copy)]
pub struct LoadOptions {
    /// Time between two sends (default 20 ms).
    pub interval: Duration,
    /// How long one request may take before it counts as failed (default 5 s).
    pub deadline: Duration,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            interval: Duration::from_millis(20),
            deadline: Duration::from_secs(5),
        }
    }
}

/// Counts so far, while the load runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadProgress {
    /// Requests sent.
    pub sent: u64,
    /// Requests answered with an order id.
    pub acknowledged: u64,
    /// Requests answered otherwise, or not within their deadline.
    pub failed: u64,
}

#[derive(Default)]
struct Counts {
    sent: AtomicU64,
    acknowledged: AtomicU64,
    failed: AtomicU64,
}

/// A running write load; [`stop`](WriteLoad::stop) it for the summary (dropping it stops
/// it too).
pub struct WriteLoad {
    stop: Arc<AtomicBool>,
    scheduler: Option<JoinHandle<Vec<JoinHandle<RequestRecord>>>>,
    started: SystemTime,
    /// The schedule's origin: every record's `sent` and `answered` are measured from it.
    origin: Instant,
    options: LoadOptions,
    counts: Arc<Counts>,
}

impl WriteLoad {
    /// Starts sending to `base_url` (`http://HOST:PORT`; the path `/api/orders` is added).
    pub fn start(base_url: &str, options: LoadOptions) -> Result<WriteLoad, LabError> {
        let url = orders_url(base_url)?;
        if options.interval.is_zero() || options.deadline.is_zero() {
            return Err(LabError::Invalid(format!(
                "a write load needs an interval and a deadline above zero, found {options:?}"
            )));
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(options.deadline))
            .http_status_as_error(false)
            .proxy(None)
            .build()
            .into();
        let stop = Arc::new(AtomicBool::new(false));
        let counts = Arc::new(Counts::default());
        let started = SystemTime::now();
        let origin = Instant::now();
        let schedule = Schedule {
            agent,
            url,
            origin,
            options,
            stop: Arc::clone(&stop),
            counts: Arc::clone(&counts),
        };
        let scheduler = std::thread::Builder::new()
            .name("write-load".into())
            .spawn(move || schedule.run())
            .map_err(|e| LabError::Invalid(format!("cannot start the write load: {e}")))?;
        Ok(WriteLoad {
            stop,
            scheduler: Some(scheduler),
            started,
            origin,
            options,
            counts,
        })
    }

    /// Now on the load's clock, the one its records' `sent` and `answered` are on: a test
    /// notes the moment it breaks something, then finds the requests sent after it.
    pub fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    /// Counts so far.
    pub fn progress(&self) -> LoadProgress {
        LoadProgress {
            sent: self.counts.sent.load(Ordering::Relaxed),
            acknowledged: self.counts.acknowledged.load(Ordering::Relaxed),
            failed: self.counts.failed.load(Ordering::Relaxed),
        }
    }

    /// Waits until `n` writes have been acknowledged (e.g. before switching, so that the
    /// load is known to work); fails with the counts after `timeout`.
    pub fn wait_for_acknowledged(&self, n: u64, timeout: Duration) -> Result<(), LabError> {
        let until = Instant::now() + timeout;
        loop {
            let progress = self.progress();
            if progress.acknowledged >= n {
                return Ok(());
            }
            if Instant::now() > until {
                return Err(LabError::Invalid(format!(
                    "the write load had {} of {n} writes acknowledged after {timeout:?} ({} sent, {} failed)",
                    progress.acknowledged, progress.sent, progress.failed
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops sending, waits for the requests still out (each ends by its deadline), and
    /// returns what every request saw.
    pub fn stop(mut self) -> LoadSummary {
        let records = self.finish();
        LoadSummary {
            started: self.started,
            interval: self.options.interval,
            records,
        }
    }

    fn finish(&mut self) -> Vec<RequestRecord> {
        self.stop.store(true, Ordering::Relaxed);
        let Some(scheduler) = self.scheduler.take() else {
            return Vec::new();
        };
        scheduler.thread().unpark();
        let requests = scheduler.join().unwrap_or_default();
        requests
            .into_iter()
            .enumerate()
            .map(|(seq, handle)| {
                handle.join().unwrap_or_else(|_| RequestRecord {
                    seq: seq as u64,
                    sent: Duration::ZERO,
                    answered: Duration::ZERO,
                    status: None,
                    id: None,
                    error: Some("the request's thread panicked".into()),
                })
            })
            .collect()
    }
}

impl Drop for WriteLoad {
    fn drop(&mut self) {
        self.finish();
    }
}

/// `http://HOST:PORT` checked, with the API's path.
fn orders_url(base_url: &str) -> Result<String, LabError> {
    match base_url.strip_prefix("http://") {
        Some(rest) if !rest.is_empty() => {
            Ok(format!("{}/api/orders", base_url.trim_end_matches('/')))
        }
        _ => Err(LabError::Invalid(format!(
            "the write load's URL must be plain HTTP like http://HOST:PORT, found {base_url:?}"
        ))),
    }
}

struct Schedule {
    agent: ureq::Agent,
    url: String,
    origin: Instant,
    options: LoadOptions,
    stop: Arc<AtomicBool>,
    counts: Arc<Counts>,
}

impl Schedule {
    /// Sends request `seq` at `start + seq * interval` until stopped; never waits for an
    /// answer, so one hung request cannot delay the next.
    fn run(self) -> Vec<JoinHandle<RequestRecord>> {
        let start = self.origin;
        let mut requests = Vec::new();
        for seq in 0u64.. {
            let due = start
                + self
                    .options
                    .interval
                    .saturating_mul(u32::try_from(seq).unwrap_or(u32::MAX));
            while !self.stop.load(Ordering::Relaxed) && Instant::now() < due {
                std::thread::park_timeout(due.saturating_duration_since(Instant::now()));
            }
            if self.stop.load(Ordering::Relaxed) {
                break;
            }
            self.counts.sent.fetch_add(1, Ordering::Relaxed);
            let request = Request {
                agent: self.agent.clone(),
                url: self.url.clone(),
                deadline: self.options.deadline,
                counts: Arc::clone(&self.counts),
                seq,
                start,
            };
            let spawned = std::thread::Builder::new().spawn(move || request.send());
            requests.push(spawned.unwrap_or_else(|e| {
                let error = format!("could not start the request's thread: {e}");
                std::thread::spawn(move || RequestRecord {
                    seq,
                    sent: start.elapsed(),
                    answered: start.elapsed(),
                    status: None,
                    id: None,
                    error: Some(error),
                })
            }));
        }
        requests
    }
}

struct Request {
    agent: ureq::Agent,
    url: String,
    deadline: Duration,
    counts: Arc<Counts>,
    seq: u64,
    start: Instant,
}

impl Request {
    fn send(self) -> RequestRecord {
        let sent = self.start.elapsed();
        let body = format!(r#"{{"note":"cutover write load {}"}}"#, self.seq);
        let answer = self
            .agent
            .post(&self.url)
            .header("content-type", "application/json")
            // For proxies' request logs (the lab's HAProxy logs it).
            .header("x-load-seq", self.seq.to_string())
            .send(body.as_str())
            .and_then(|mut resp| {
                let status = resp.status().as_u16();
                resp.body_mut()
                    .with_config()
                    .limit(64 * 1024)
                    .read_to_string()
                    .map(|text| (status, text))
            });
        let (status, id, error) = match answer {
            Ok((status, text)) => {
                let (id, error) = outcome(status, &text);
                (Some(status), id, error)
            }
            Err(ureq::Error::Timeout(_)) => (
                None,
                None,
                Some(format!("no answer within the {:?} deadline", self.deadline)),
            ),
            Err(e) => (None, None, Some(e.to_string())),
        };
        let counter = if id.is_some() {
            &self.counts.acknowledged
        } else {
            &self.counts.failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
        RequestRecord {
            seq: self.seq,
            sent,
            answered: self.start.elapsed(),
            status,
            id,
            error,
        }
    }
}

/// The acknowledged id of a 201 `{"id": N}`, or why there is none: the app's `error`, or
/// the start of whatever else came back.
fn outcome(status: u16, body: &str) -> (Option<i64>, Option<String>) {
    let json: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let field = |name: &str| json.as_ref().and_then(|j| j.get(name).cloned());
    if status == 201 {
        if let Some(id) = field("id").and_then(|id| id.as_i64()) {
            return (Some(id), None);
        }
        return (
            None,
            Some(format!("201 without an order id: {}", short(body))),
        );
    }
    let message = match field("error") {
        Some(serde_json::Value::String(e)) => e,
        _ => short(body),
    };
    (None, Some(message))
}

fn short(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_become_ids_or_the_reason_there_is_none() {
        assert_eq!(outcome(201, r#"{"id":42}"#), (Some(42), None));
        assert_eq!(
            outcome(
                500,
                r#"{"error":"cannot execute INSERT in a read-only transaction","code":"25006"}"#
            ),
            (
                None,
                Some("cannot execute INSERT in a read-only transaction".into())
            )
        );
        assert_eq!(
            outcome(503, "<html>No server is available</html>\n"),
            (None, Some("<html>No server is available</html>".into()))
        );
        assert_eq!(
            outcome(201, r#"{"id":"x"}"#),
            (None, Some(r#"201 without an order id: {"id":"x"}"#.into()))
        );
    }

    #[test]
    fn only_plain_http_urls_are_taken() {
        assert_eq!(
            orders_url("http://10.0.0.1:80/").unwrap(),
            "http://10.0.0.1:80/api/orders"
        );
        for bad in ["https://x", "10.0.0.1:80", "http://"] {
            assert_eq!(
                orders_url(bad).unwrap_err().to_string(),
                format!(
                    "invalid lab setup: the write load's URL must be plain HTTP like http://HOST:PORT, found {bad:?}"
                )
            );
        }
    }
}
