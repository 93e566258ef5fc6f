//! `[notify.NAME]`: where cutover tells people what a run is doing (a JSON webhook, or a Slack
//! incoming webhook), and on which events. Sending is the engine's; a notification that fails
//! or is slow never fails a run.

use crate::limits;
use crate::problem::{Problem, Problems};
use crate::read::{Fields, Spanned};
use crate::template::{Part, Template};
use std::time::Duration;
use toml_span::value::Value;

crate::named::named_enum! {
    /// The body a `[notify.NAME]` receiver gets.
    pub enum NotifyFormat {
        /// `{"event", "plan", "run", "step", "text"}` as JSON.
        Json = "json",
        /// A Slack incoming webhook's `{"text": ...}`.
        Slack = "slack",
    }
}

crate::named::named_enum! {
    /// A moment of a run worth telling people about.
    pub enum NotifyEvent {
        /// A gate (approval or time) holds the run.
        GateWaiting = "gate_waiting",
        /// A step failed.
        StepFailed = "step_failed",
        /// A rollback began (a soak trigger's, a failed step's, or the operator's).
        Rollback = "rollback",
        /// The run ended: completed or rolled back.
        RunFinished = "run_finished",
    }
}

/// One receiver of notifications.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct Notifier {
    /// Its name (`[notify.NAME]`), named by `notify` steps.
    pub name: Spanned<String>,
    /// The webhook's URL (`http://` or `https://`); may be `{{ secrets.NAME }}`, as a Slack
    /// webhook URL is a credential: it is used by cutover itself and never shown.
    pub url: Template,
    /// The body's format: "json" (default) or "slack".
    pub format: Option<NotifyFormat>,
    /// The events it is sent (default: all of them).
    pub events: Option<Vec<NotifyEvent>>,
    /// How long one notification may take before it is given up (default "5s").
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Duration>,
}

impl Notifier {
    /// The fields `[notify.NAME]` accepts.
    pub const FIELDS: &'static [&'static str] = &["url", "format", "events", "timeout"];

    /// Reads `[notify.NAME]`.
    pub fn read(name: Spanned<String>, value: &mut Value<'_>, p: &mut Problems) -> Option<Self> {
        let owner = format!("[notify.{}]", name.value);
        let mut f = Fields::new(value, owner.clone(), Self::FIELDS, p)?;
        let url: Option<Template> = f.required("url", p);
        let format = f.optional("format", p);
        let events = f.optional("events", p);
        let timeout = f.duration("timeout", &limits::REQUEST_TIMEOUT, p);
        f.finish(p);
        let url = url?;
        if let Some(Part::Text(t)) = url.parts.first() {
            if !t.starts_with("http://") && !t.starts_with("https://") {
                p.push(
                    Problem::new(url.span, format!("`url` of {owner} is not an http:// or https:// URL"), "not a URL")
                        .help("write the webhook's URL, such as \"https://hooks.slack.com/services/...\", or \"{{ secrets.NAME }}\""),
                );
            }
        }
        Some(Notifier {
            name,
            url,
            format,
            events,
            timeout,
        })
    }

    /// True when this receiver is sent `event`.
    pub fn wants(&self, event: NotifyEvent) -> bool {
        self.events.as_ref().is_none_or(|e| e.contains(&event))
    }

    /// The body's format.
    pub fn format(&self) -> NotifyFormat {
        self.format.unwrap_or(NotifyFormat::Json)
    }

    /// How long one notification may take.
    pub fn timeout(&self) -> Duration {
        self.timeout.unwrap_or(Duration::from_secs(5))
    }
}
