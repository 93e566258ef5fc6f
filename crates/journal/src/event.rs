//! What the journal records: one append-only event per thing that happened.

use serde::{Deserialize, Serialize};

/// Something that happened during a run. Text fields are already redacted by the caller and
/// redacted again by the journal before they are written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A run began.
    RunStarted {
        /// The plan's name.
        plan: String,
        /// Digest of the plan file's text, to notice edits between resumes.
        plan_digest: String,
        /// Who started it (user@machine).
        operator: String,
        /// cutover's version.
        version: String,
    },
    /// The plan file changed between two `apply`s of one run.
    PlanChanged {
        /// The digest before.
        from: String,
        /// The digest now.
        to: String,
    },
    /// `apply` began or resumed.
    ApplyStarted {
        /// Who ran it.
        operator: String,
        /// The `--until` stage, if any.
        until: Option<String>,
    },
    /// A stage began.
    StageStarted {
        /// The stage.
        stage: String,
    },
    /// A step began (or began again after an interruption).
    StepStarted {
        /// The stage.
        stage: String,
        /// The step id.
        step: String,
        /// The step's kind.
        kind: String,
        /// 1 for the first try, more after interruptions.
        attempt: u32,
    },
    /// A command was sent to a host.
    CommandStarted {
        /// The step id.
        step: String,
        /// The host.
        host: String,
        /// The command as `cutover plan` shows it (secrets masked).
        command: String,
        /// Invocation id of a tracked command.
        invocation: Option<String>,
    },
    /// A command finished.
    CommandFinished {
        /// The step id.
        step: String,
        /// The host.
        host: String,
        /// Exit status (`None`: killed by a signal).
        code: Option<i32>,
        /// How long it ran, in milliseconds.
        duration_ms: u64,
        /// The end of its standard output.
        stdout: String,
        /// The end of its standard error.
        stderr: String,
    },
    /// A step's effect was already in place, so nothing was done.
    StepSkipped {
        /// The step id.
        step: String,
        /// Why.
        reason: String,
    },
    /// A step finished successfully.
    StepApplied {
        /// The step id.
        step: String,
        /// How long it took, in milliseconds.
        duration_ms: u64,
        /// One line on what it did.
        summary: String,
    },
    /// A step failed; the run stopped.
    StepFailed {
        /// The step id.
        step: String,
        /// What went wrong, with the command's framed error output.
        error: String,
    },
    /// A gate is holding the run.
    StepWaiting {
        /// The step id.
        step: String,
        /// What it waits for.
        reason: String,
        /// When the wait ends by itself (unix ms), for time gates.
        until_ms: Option<i64>,
    },
    /// Someone approved a gate.
    Approved {
        /// The approve step's id.
        step: String,
        /// Who.
        by: String,
        /// Their comment.
        comment: Option<String>,
    },
    /// A figure measured by a step (bytes copied, rows, downtime...).
    Measured {
        /// The step id.
        step: String,
        /// What was measured.
        name: String,
        /// The value.
        value: f64,
        /// Its unit ("bytes", "s", "rows").
        unit: String,
    },
    /// One point of a time series a step watches (replication lag while a sync is watched,
    /// a soak check's probes and latency percentiles): what the HTML report and the
    /// dashboard chart. Steps sample at a bounded rate, so a long window stays small.
    Sampled {
        /// The step id.
        step: String,
        /// What is sampled ("lag", or a soak check's name).
        subject: String,
        /// The figures at this moment, by name ("bytes", "p95_ms"...).
        figures: std::collections::BTreeMap<String, f64>,
    },
    /// How far a long step has got while it runs (a copy's bytes, a verifier's tables): what
    /// the dashboard's progress bar and ETA show. Steps sample at most once a second and
    /// thin out as they go on, so that a day-long copy keeps a few hundred of these; the
    /// final figures are `Measured` when the step ends.
    Progressed {
        /// The step id.
        step: String,
        /// What `done` and `total` count ("bytes", "rows", "tables", "keys").
        unit: String,
        /// How much is done.
        done: f64,
        /// Out of how much, when the step knows.
        total: Option<f64>,
        /// Other figures of the moment, by name ("files": 1200, "bytes": 3.1e8...).
        #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
        figures: std::collections::BTreeMap<String, f64>,
    },
    /// A stretch users could notice, timed where it began and ended: a database's writes
    /// frozen by its switch, requests held by a coordinated move. The HTML report draws it
    /// on the timeline. Journaled once it ended, so that journaling never lengthens it.
    Outage {
        /// The step id.
        step: String,
        /// What users met ("writes frozen", "requests held").
        what: String,
        /// When it began (unix ms).
        from_ms: i64,
        /// When it ended (unix ms).
        to_ms: i64,
    },
    /// A step's own state, typed by the step kind and kept as JSON under a label (the DNS
    /// records it is about to change, a proxy's previous upstream, a schema fingerprint):
    /// what a resumed run and a rollback read back. The first record of a label in a run is
    /// the original.
    StateRecorded {
        /// The step id.
        step: String,
        /// What the state is (`previous`, `expiry`...).
        label: String,
        /// The state, JSON.
        body: String,
    },
    /// A value a step captured from its output (`outputs`), for later steps and undo
    /// commands: a resumed run and a rollback read it back instead of capturing again.
    OutputCaptured {
        /// The step id.
        step: String,
        /// The output's name (`{{ steps.STEP.NAME }}`).
        name: String,
        /// The value, in clear or sealed.
        value: OutputValue,
    },
    /// A proof a step established (files, a database): in full, as the report shows it,
    /// and as data for tools.
    ProofRecorded {
        /// The step id.
        step: String,
        /// The hosts compared ("old + new").
        hosts: String,
        /// True when both sides matched.
        matches: bool,
        /// The proof as people read it (Markdown).
        text: String,
        /// The proof as data (JSON), for the JSON and HTML reports.
        data: String,
    },
    /// The schema a step started from, as a fingerprint (a `postgres.sync` records the
    /// source's when it starts, so that its switch can tell whether DDL ran since).
    SchemaRecorded {
        /// The step id.
        step: String,
        /// The server whose schema it is ("source").
        side: String,
        /// Digest of every schema object's definition.
        digest: String,
        /// How many schema objects it covers.
        objects: u64,
    },
    /// `apply` stopped before the end (`--until`, a gate, or an error).
    ApplyStopped {
        /// Why.
        reason: String,
    },
    /// Rollback began.
    RollbackStarted {
        /// Why (operator request, failed step, SLO trigger).
        reason: String,
    },
    /// A step's undo ran successfully.
    StepRolledBack {
        /// The step id.
        step: String,
        /// What the undo did ("traffic back on the previous release ..."); absent in
        /// journals written before it was recorded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        summary: Option<String>,
    },
    /// A step's undo failed; rollback stopped there.
    StepRollbackFailed {
        /// The step id.
        step: String,
        /// What went wrong.
        error: String,
    },
    /// A partial rollback during `apply` (a soak trigger undid the traffic switch) ended;
    /// the run goes on being resumable.
    RollbackFinished {
        /// The steps whose undo ran.
        undone: Vec<String>,
    },
    /// The run reached its end.
    RunFinished {
        /// "completed" or "rolled_back".
        outcome: String,
    },
}

impl Event {
    /// The step an event is about, if any.
    pub fn step(&self) -> Option<&str> {
        use Event::*;
        match self {
            StepStarted { step, .. }
            | CommandStarted { step, .. }
            | CommandFinished { step, .. }
            | StepSkipped { step, .. }
            | StepApplied { step, .. }
            | StepFailed { step, .. }
            | StepWaiting { step, .. }
            | Approved { step, .. }
            | Measured { step, .. }
            | Sampled { step, .. }
            | Progressed { step, .. }
            | Outage { step, .. }
            | StateRecorded { step, .. }
            | ProofRecorded { step, .. }
            | OutputCaptured { step, .. }
            | SchemaRecorded { step, .. }
            | StepRolledBack { step, .. }
            | StepRollbackFailed { step, .. } => Some(step),
            _ => None,
        }
    }

    /// The event's name as stored (`step_applied`...).
    pub fn name(&self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.get("event").and_then(|e| e.as_str()).map(str::to_string))
            .unwrap_or_default()
    }
}

/// A captured output's value as journaled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "form", rename_all = "snake_case")]
pub enum OutputValue {
    /// Not secret: the value itself.
    Plain {
        /// The value.
        value: String,
    },
    /// Secret: sealed (authenticated encryption) with a key only the controller can derive
    /// from the plan's secret values; the journal never holds the value itself.
    Sealed {
        /// Nonce and ciphertext, hex.
        sealed: String,
    },
}

/// An event as stored: with its run, sequence number and time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Position in the journal (increasing).
    pub seq: i64,
    /// The run.
    pub run: String,
    /// When it was written (unix milliseconds).
    pub at_ms: i64,
    /// What happened.
    #[serde(flatten)]
    pub event: Event,
}

/// One run of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// The run's id.
    pub id: String,
    /// The plan's name.
    pub plan: String,
    /// When it began (unix milliseconds).
    pub started_ms: i64,
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// An RFC 3339 UTC time for unix milliseconds.
pub fn format_ms(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(t).to_string()
}

/// A run id that sorts by time and reads as one: `20261122T104501Z-3fa2`.
pub(crate) fn new_run_id() -> String {
    let now = std::time::SystemTime::now();
    let stamp = humantime::format_rfc3339_seconds(now).to_string();
    let compact: String = stamp
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    let nanos = now
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{compact}-{:04x}", (nanos ^ std::process::id()) & 0xffff)
}
