//! Notifications to `[notify.NAME]` receivers: a JSON webhook or a Slack incoming webhook,
//! on the run's events (a gate waiting, a step failed, a rollback, the run's end) and from
//! `notify` steps. They are sent by a worker thread beside the run, each given up after its
//! receiver's timeout: a receiver that fails or hangs is logged and never fails or holds up
//! the run. Texts are redacted of every secret before they leave.

use cutover_journal::{Event, Journal, JournalError, Record, RunInfo};
use cutover_plan::{NotifyEvent, NotifyFormat, Plan};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A receiver with its URL rendered (it may hold a secret: never shown).
#[derive(Clone)]
pub struct Receiver {
    name: String,
    url: String,
    format: NotifyFormat,
    events: Vec<NotifyEvent>,
    timeout: Duration,
}

impl Receiver {
    /// Its name in `[notify]`.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// One notification.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// What happened (`gate_waiting`...), or `message` for a `notify` step.
    pub event: String,
    /// The plan's name.
    pub plan: String,
    /// The run.
    pub run: String,
    /// The step it is about, if any.
    pub step: Option<String>,
    /// What to tell, redacted.
    pub text: String,
}

impl Notice {
    /// The request body for `format`.
    pub fn body(&self, format: NotifyFormat) -> String {
        let v = match format {
            NotifyFormat::Json => serde_json::json!({
                "event": self.event,
                "plan": self.plan,
                "run": self.run,
                "step": self.step,
                "text": self.text,
            }),
            NotifyFormat::Slack => serde_json::json!({
                "text": format!("[cutover] {} (run {}): {}", self.plan, self.run, self.text),
            }),
        };
        v.to_string()
    }
}

/// The plan's receivers, URLs rendered with `secrets`; a receiver whose URL cannot be
/// rendered is logged and left out.
pub fn receivers(plan: &Plan, secrets: &crate::secrets::Secrets) -> Vec<Receiver> {
    let values = crate::context::Values {
        plan,
        run_id: None,
        secrets: Some(secrets),
        outputs: None,
    };
    plan.notify
        .iter()
        .filter_map(|n| match n.url.render(&values) {
            Ok(url) => Some(Receiver {
                name: n.name.value.clone(),
                url,
                format: n.format(),
                events: NotifyEvent::NAMES
                    .iter()
                    .filter_map(|e| NotifyEvent::parse(e))
                    .filter(|e| n.wants(*e))
                    .collect(),
                timeout: n.timeout(),
            }),
            Err(e) => {
                tracing::warn!("notifications to `{}` are off: {e}", n.name.value);
                None
            }
        })
        .collect()
}

/// Sends `notice` to `r`, waiting at most its timeout; the error says why, never the URL.
pub fn send(r: &Receiver, notice: &Notice) -> Result<(), String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(r.timeout))
        .http_status_as_error(false)
        .build()
        .into();
    let resp = agent
        .post(&r.url)
        .header("Content-Type", "application/json")
        .send(notice.body(r.format))
        .map_err(|e| match e {
            ureq::Error::Timeout(_) => {
                format!("no answer within {}", humantime::format_duration(r.timeout))
            }
            other => format!("cannot reach it ({})", error_kind(&other)),
        })?;
    let status = resp.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("it answered HTTP {}", status.as_u16()))
    }
}

/// What went wrong, without ureq's text (which may quote the URL, a secret for Slack).
fn error_kind(e: &ureq::Error) -> &'static str {
    match e {
        ureq::Error::Io(_) => "connection failed",
        ureq::Error::HostNotFound => "host not found",
        ureq::Error::ConnectionFailed => "connection failed",
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) => "TLS failed",
        ureq::Error::BadUri(_) => "bad URL",
        _ => "request failed",
    }
}

/// Sends to every receiver in turn, logging each failure.
pub fn deliver(receivers: &[Receiver], notice: &Notice) -> Vec<(String, Result<(), String>)> {
    receivers
        .iter()
        .map(|r| {
            let result = send(r, notice);
            if let Err(why) = &result {
                tracing::warn!(
                    "notification `{}` to `{}` not delivered: {why}",
                    notice.event,
                    r.name
                );
            }
            (r.name.clone(), result)
        })
        .collect()
}

/// A notice and the receivers it goes to, queued for the worker.
type Job = (Vec<Receiver>, Notice);

/// The run's events as notifications: a journal that passes every event on to the real one
/// and queues a notice for those receivers asked for.
pub struct NotifyingJournal {
    inner: Arc<dyn Journal>,
    plan: String,
    receivers: Vec<Receiver>,
    redact: cutover_journal::RedactFn,
    queue: Mutex<Option<mpsc::Sender<Job>>>,
    worker: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl NotifyingJournal {
    /// Wraps `inner`; texts go through `redact` before they leave.
    pub fn new(
        inner: Arc<dyn Journal>,
        plan: String,
        receivers: Vec<Receiver>,
        redact: cutover_journal::RedactFn,
    ) -> Self {
        let (tx, rx) = mpsc::channel::<Job>();
        let worker = std::thread::spawn(move || {
            for (to, notice) in rx {
                deliver(&to, &notice);
            }
        });
        NotifyingJournal {
            inner,
            plan,
            receivers,
            redact,
            queue: Mutex::new(Some(tx)),
            worker: Mutex::new(Some(worker)),
        }
    }

    fn notice(&self, run: &str, event: &Event) -> Option<(NotifyEvent, Notice)> {
        let first = |t: &str| t.lines().next().unwrap_or("").to_string();
        let (kind, step, text) = match event {
            Event::StepWaiting { step, reason, .. } => (
                NotifyEvent::GateWaiting,
                Some(step),
                format!("step `{step}` waits: {reason}"),
            ),
            Event::StepFailed { step, error } => {
                // The error's head and the start of the command's framed output, enough to
                // act on from a chat.
                let head: Vec<&str> = error.lines().take(5).collect();
                let head = head.join("\n");
                let prefix = format!("step `{step}` failed: ");
                let text = if head.starts_with(&prefix) {
                    head
                } else {
                    format!("{prefix}{head}")
                };
                (NotifyEvent::StepFailed, Some(step), text)
            }
            Event::RollbackStarted { reason } => (
                NotifyEvent::Rollback,
                None,
                format!("rollback started: {}", first(reason)),
            ),
            Event::RunFinished { outcome } => (
                NotifyEvent::RunFinished,
                None,
                format!("run finished: {outcome}"),
            ),
            _ => return None,
        };
        Some((
            kind,
            Notice {
                event: kind.name().to_string(),
                plan: self.plan.clone(),
                run: run.to_string(),
                step: step.cloned(),
                text: (self.redact)(&text),
            },
        ))
    }
}

impl Drop for NotifyingJournal {
    /// Lets the queued notifications go out (each bounded by its timeout) before the command
    /// ends.
    fn drop(&mut self) {
        if let Ok(mut q) = self.queue.lock() {
            q.take();
        }
        if let Some(worker) = self.worker.lock().ok().and_then(|mut w| w.take()) {
            let _ = worker.join();
        }
    }
}

impl Journal for NotifyingJournal {
    fn create_run(&self, plan: &str) -> Result<RunInfo, JournalError> {
        self.inner.create_run(plan)
    }
    fn runs(&self) -> Result<Vec<RunInfo>, JournalError> {
        self.inner.runs()
    }
    fn append(&self, run: &str, event: &Event) -> Result<Record, JournalError> {
        let record = self.inner.append(run, event)?;
        if let Some((kind, notice)) = self.notice(run, event) {
            let to: Vec<Receiver> = self
                .receivers
                .iter()
                .filter(|r| r.events.contains(&kind))
                .cloned()
                .collect();
            if !to.is_empty() {
                if let Some(q) = self.queue.lock().ok().as_ref().and_then(|q| q.as_ref()) {
                    let _ = q.send((to, notice));
                }
            }
        }
        Ok(record)
    }
    fn events(&self, run: &str) -> Result<Vec<Record>, JournalError> {
        self.inner.events(run)
    }
    fn events_after(&self, run: &str, after: i64) -> Result<Vec<Record>, JournalError> {
        self.inner.events_after(run, after)
    }
    fn last_seq(&self) -> Result<i64, JournalError> {
        self.inner.last_seq()
    }
    fn lock(
        &self,
        holder: cutover_journal::Holder,
    ) -> Result<cutover_journal::LockGuard, JournalError> {
        self.inner.lock(holder)
    }
    fn holder(&self) -> Option<cutover_journal::Holder> {
        self.inner.holder()
    }
    fn save_checkpoint(&self, run: &str, step: &str, body: &str) -> Result<(), JournalError> {
        self.inner.save_checkpoint(run, step, body)
    }
    fn checkpoint(&self, run: &str, step: &str) -> Result<Option<String>, JournalError> {
        self.inner.checkpoint(run, step)
    }
    fn verify_chain(&self) -> Result<cutover_journal::ChainStatus, JournalError> {
        self.inner.verify_chain()
    }
    fn latest_run(&self) -> Result<Option<RunInfo>, JournalError> {
        self.inner.latest_run()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_and_json_bodies() {
        let n = Notice {
            event: "step_failed".into(),
            plan: "shop".into(),
            run: "r1".into(),
            step: Some("copy".into()),
            text: "step `copy` failed: boom".into(),
        };
        assert_eq!(
            n.body(NotifyFormat::Slack),
            r#"{"text":"[cutover] shop (run r1): step `copy` failed: boom"}"#
        );
        let v: serde_json::Value = serde_json::from_str(&n.body(NotifyFormat::Json)).unwrap();
        assert_eq!(v["event"], "step_failed");
        assert_eq!(v["step"], "copy");
    }
}
