//! `[secrets.NAME]`: where a secret's value comes from. Values are read at run time, never
//! stored in the plan, the journal, logs or reports, and never placed on a command line.

use crate::problem::{Problem, Problems};
use crate::read::{Fields, Spanned};
use toml_span::value::Value;

/// Where a secret's value is read from; exactly one source.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(transform = crate::schema::describe_variant_fields)]
pub enum SecretSource {
    /// An environment variable of the cutover process.
    Env(String),
    /// A file on the controller (relative to the plan's directory); one trailing newline is
    /// removed.
    File(String),
    /// A command run on the controller (e.g. `pass show db/app`); its standard output, one
    /// trailing newline removed, is the value.
    Command(String),
}

/// A named secret.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct Secret {
    /// The secret's name (the key of `[secrets.NAME]`).
    #[serde(skip)]
    pub name: Spanned<String>,
    /// Where its value comes from.
    #[serde(flatten)]
    pub source: SecretSource,
}

impl Secret {
    /// The fields `[secrets.NAME]` accepts.
    pub const FIELDS: &'static [&'static str] = &["env", "file", "command"];

    /// Reads `[secrets.NAME]`.
    pub fn read(name: Spanned<String>, value: &mut Value<'_>, p: &mut Problems) -> Option<Self> {
        let mut f = Fields::new(value, format!("secret `{}`", name.value), Self::FIELDS, p)?;
        // Where each source is written, so a second source is underlined itself.
        let mut spans: Vec<_> = Self::FIELDS
            .iter()
            .filter_map(|k| f.value_span(k))
            .collect();
        spans.sort_by_key(|s| s.start);
        let mut sources = Vec::new();
        if let Some(v) = f.optional("env", p) {
            sources.push(SecretSource::Env(v));
        }
        if let Some(v) = f.optional("file", p) {
            sources.push(SecretSource::File(v));
        }
        if let Some(v) = f.optional("command", p) {
            sources.push(SecretSource::Command(v));
        }
        f.finish(p);
        if spans.len() > 1 {
            p.push(
                Problem::new(
                    spans[1],
                    format!(
                        "secret `{}` has {} sources; it needs exactly one",
                        name.value,
                        spans.len()
                    ),
                    "a second source",
                )
                .help("keep one of `env`, `file` and `command`"),
            );
            return None;
        }
        if spans.is_empty() {
            p.push(
                Problem::new(name.span, format!("secret `{}` has no source", name.value), "where does its value come from?")
                    .help("set one of `env = \"VAR\"`, `file = \"path\"` or `command = \"pass show ...\"`"),
            );
            return None;
        }
        if sources.len() != 1 {
            // The one source had the wrong type, already reported.
            return None;
        }
        Some(Secret {
            name,
            source: sources.remove(0),
        })
    }
}
