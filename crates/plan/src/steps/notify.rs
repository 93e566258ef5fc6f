//! `kind = "notify"`: a message sent to `[notify.NAME]` receivers; its failure is logged and
//! never fails the run.

use crate::problem::{did_you_mean, Problem, Problems};
use crate::read::{Fields, Spanned};
use crate::steps::kind::Validate;
use crate::template::{Reference, Template};
use crate::validate::StepCheck;

/// Sends `message` to every receiver in `to`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct NotifyStep {
    /// Receivers (names from `[notify]`); default: every one.
    #[serde(default)]
    pub to: Vec<Spanned<String>>,
    /// The text; may use vars, hosts and (non-secret) step outputs, never a secret.
    pub message: Template,
}

impl NotifyStep {
    /// The fields a `notify` step accepts.
    pub const FIELDS: &'static [&'static str] = &["id", "kind", "description", "to", "message"];

    pub(crate) fn read(f: &mut Fields<'_>, p: &mut Problems) -> Option<Self> {
        let to = f.optional("to", p).unwrap_or_default();
        let message = f.required("message", p);
        Some(NotifyStep {
            to,
            message: message?,
        })
    }
}

impl Validate for NotifyStep {
    fn validate(&self, c: &StepCheck<'_>, p: &mut Problems) {
        let names: Vec<&str> = c
            .plan
            .notify
            .iter()
            .map(|n| n.name.value.as_str())
            .collect();
        if names.is_empty() {
            p.push(
                Problem::new(c.id.span, format!("{} sends a notification, but the plan has no `[notify]`", c.owner), "no receiver")
                    .help("add a receiver: `[notify.team]` with `url = \"{{ secrets.slack_webhook }}\"` and `format = \"slack\"`"),
            );
        }
        for name in &self.to {
            if !names.contains(&name.value.as_str()) {
                let problem = Problem::new(
                    name.span,
                    format!("unknown notification receiver `{}`", name.value),
                    "no such receiver",
                );
                p.push(match did_you_mean(&name.value, names.iter().copied()) {
                    Some(near) => problem.help(format!("did you mean `{near}`?")),
                    None => problem.help("define it in `[notify]`"),
                });
            }
        }
        for (r, span) in self.message.references() {
            let secret = match r {
                Reference::Secret(name) => Some(format!("secret `{name}`")),
                Reference::StepOutput { step, name } if c.plan.is_secret_output(step, name) => {
                    Some(format!("secret output `steps.{step}.{name}`"))
                }
                _ => None,
            };
            if let Some(what) = secret {
                p.push(
                    Problem::new(span, format!("`message` of {} uses {what}: a notification leaves for a chat or a webhook", c.owner), "secret in a notification")
                        .help("leave the secret out of the message"),
                );
            }
        }
        c.references(&self.message, p);
    }
}
