//! `kind = "pipe"`: one host's command output streamed into another host's command, with no
//! temporary file anywhere (the basis of dump | restore between hosts).

use crate::problem::Problems;
use crate::read::{Fields, FromToml, Spanned};
use crate::steps::kind::Validate;
use crate::template::{read_env, Template};
use crate::validate::StepCheck;
use std::collections::BTreeMap;
use toml_span::value::Value;

/// One end of a pipe.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct PipeEnd {
    /// The host this end runs on.
    pub host: Spanned<String>,
    /// Shell command: the producer writes to standard output, the consumer reads standard input.
    pub command: Template,
    /// Environment variables (may use `{{ secrets.NAME }}`).
    #[serde(default)]
    pub env: BTreeMap<String, Template>,
}

impl PipeEnd {
    /// The fields `from` and `to` accept.
    pub const FIELDS: &'static [&'static str] = &["host", "command", "env"];
}

impl FromToml for PipeEnd {
    fn read(value: &mut Value<'_>, what: &str, p: &mut Problems) -> Option<Self> {
        let mut f = Fields::new(value, what.to_string(), Self::FIELDS, p)?;
        // Read every field before giving up on a bad one, so none is reported as unknown.
        let host = f.required("host", p);
        let command = f.required("command", p);
        let env = read_env(&mut f, p);
        f.finish(p);
        Some(PipeEnd {
            host: host?,
            command: command?,
            env,
        })
    }
}

/// Streams `from`'s standard output into `to`'s standard input through the controller's
/// memory (never its disk); fails if either side fails.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct PipeStep {
    /// The producing command.
    pub from: PipeEnd,
    /// The consuming command.
    pub to: PipeEnd,
    /// Shell command on the `to` host telling whether the copy is already in place (exit 0).
    pub check: Option<Template>,
    /// Shell command on the `to` host that removes what the pipe wrote, for rollback.
    pub undo: Option<Template>,
}

impl PipeStep {
    /// The fields a `pipe` step accepts.
    pub const FIELDS: &'static [&'static str] =
        &["id", "kind", "description", "from", "to", "check", "undo"];

    pub(crate) fn read(f: &mut Fields<'_>, p: &mut Problems) -> Option<Self> {
        let from = f.required("from", p);
        let to = f.required("to", p);
        let check = f.optional("check", p);
        let undo = f.optional("undo", p);
        Some(PipeStep {
            from: from?,
            to: to?,
            check,
            undo,
        })
    }
}

impl Validate for PipeStep {
    fn validate(&self, c: &StepCheck<'_>, p: &mut Problems) {
        for end in [&self.from, &self.to] {
            c.host(&end.host, p);
            c.command("command", &end.command, p);
            c.env(&end.env, p);
        }
        c.optional_command("check", self.check.as_ref(), p);
        c.optional_command("undo", self.undo.as_ref(), p);
    }
}
