//! Strings with `{{ namespace.name }}` references, parsed once when the plan is read so that
//! every bad reference is reported with its location before anything runs.

use crate::problem::{Problem, Problems, Span};
use crate::read::FromToml;
use std::collections::BTreeMap;
use toml_span::value::{Value, ValueInner};

/// Fields a `{{ hosts.NAME.FIELD }}` reference may name.
pub const HOST_FIELDS: &[&str] = &["address", "name", "port", "ssh", "user"];
/// Names a `{{ plan.NAME }}` reference may use.
pub const PLAN_FIELDS: &[&str] = &["dir", "name"];
/// Names a `{{ run.NAME }}` reference may use.
pub const RUN_FIELDS: &[&str] = &["id"];

/// `{{{{` in a plan string is a literal `{{`.
const LITERAL_OPEN: (&str, &str) = ("{{{{", "{{");
/// `}}}}` in a plan string is a literal `}}`.
const LITERAL_CLOSE: (&str, &str) = ("}}}}", "}}");
/// How to write braces that are not a reference, in every message about a bad one.
pub const ESCAPE_HELP: &str = "close the reference with `}}`, or write a literal `{{` as `{{{{` (and `}}` as `}}}}`), e.g. `docker inspect -f '{{{{ .State.Health.Status }}}}'`";

/// What a reference points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    /// `{{ hosts.NAME.FIELD }}`
    Host {
        /// The host's name in `[hosts]`.
        name: String,
        /// One of [`HOST_FIELDS`].
        field: String,
    },
    /// `{{ secrets.NAME }}`: only allowed where the value never reaches a command line.
    Secret(String),
    /// `{{ vars.NAME }}`
    Var(String),
    /// `{{ plan.dir }}` (directory of the plan file) or `{{ plan.name }}`.
    Plan(String),
    /// `{{ run.id }}`
    Run(String),
    /// `{{ steps.ID.NAME }}`: a value an earlier step captured from its output.
    StepOutput {
        /// The step's id.
        step: String,
        /// The output's name in the step's `outputs`.
        name: String,
    },
}

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Literal text.
    Text(String),
    /// A reference, with its location in the plan file.
    Ref(Reference, Span),
}

/// A plan string that may contain references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// The string as written.
    pub raw: String,
    /// Where the string stands in the plan file.
    pub span: Span,
    /// The parsed pieces.
    pub parts: Vec<Part>,
}

impl serde::Serialize for Template {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.raw)
    }
}

impl schemars::JsonSchema for Template {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Template".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "Text with optional references: {{ hosts.NAME.address }}, {{ vars.NAME }}, {{ plan.dir }}, {{ run.id }}, {{ steps.ID.OUTPUT }} (a value an earlier step captured); {{ secrets.NAME }} only in fields that never reach a command line (env, stdin). Write a literal {{ as {{{{ and }} as }}}}."
        })
    }
}

/// Why a template could not be rendered.
#[derive(Debug, thiserror::Error)]
#[error("cannot render `{reference}`: {reason}")]
pub struct RenderError {
    /// The reference as written.
    pub reference: String,
    /// Why it has no value.
    pub reason: String,
}

/// Supplies values for references when a template is rendered.
pub trait Resolve {
    /// The value of `r`, or why there is none.
    fn resolve(&self, r: &Reference) -> Result<String, String>;
}

impl Template {
    /// A template without location, for values built in code.
    pub fn literal(text: &str) -> Self {
        Template {
            raw: text.to_string(),
            span: Span::default(),
            parts: vec![Part::Text(text.to_string())],
        }
    }

    /// Parses `raw` (written at `span`), recording malformed references. `{{{{` and `}}}}`
    /// stand for a literal `{{` and `}}` (Docker's and Go's `{{ .State.Health.Status }}`
    /// is written `{{{{ .State.Health.Status }}}}`); a single `}}` outside a reference is
    /// plain text too.
    pub fn parse(raw: &str, span: Span, p: &mut Problems) -> Option<Self> {
        // toml-span's string spans start at the first character inside the quotes.
        let base = span.start;
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut at = 0;
        let mut ok = true;
        while at < raw.len() {
            let rest = &raw[at..];
            if let Some(literal) = [LITERAL_OPEN, LITERAL_CLOSE]
                .into_iter()
                .find(|(escape, _)| rest.starts_with(escape))
            {
                text.push_str(literal.1);
                at += literal.0.len();
                continue;
            }
            if !rest.starts_with("{{") {
                let c = rest.chars().next().unwrap_or_default();
                text.push(c);
                at += c.len_utf8();
                continue;
            }
            let Some(close) = rest.find("}}") else {
                let at = base + at;
                p.push(
                    Problem::new(
                        Span::new(at, at + 2),
                        "unclosed `{{` in a template",
                        "opened here",
                    )
                    .help(ESCAPE_HELP),
                );
                return None;
            };
            if !text.is_empty() {
                parts.push(Part::Text(std::mem::take(&mut text)));
            }
            let inner = &rest[2..close];
            let ref_span = Span::new(base + at, base + at + close + 2);
            match parse_reference(inner.trim()) {
                Ok(r) => parts.push(Part::Ref(r, ref_span)),
                Err((msg, help)) => {
                    p.push(Problem::new(ref_span, msg, "bad reference").help(help));
                    ok = false;
                }
            }
            at += close + 2;
        }
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        ok.then(|| Template {
            raw: raw.to_string(),
            span,
            parts,
        })
    }

    /// The references this template makes.
    pub fn references(&self) -> impl Iterator<Item = (&Reference, Span)> {
        self.parts.iter().filter_map(|p| match p {
            Part::Ref(r, s) => Some((r, *s)),
            Part::Text(_) => None,
        })
    }

    /// True when the template names a secret.
    pub fn uses_secrets(&self) -> bool {
        self.references()
            .any(|(r, _)| matches!(r, Reference::Secret(_)))
    }

    /// True when the template names a secret or one of the `secret_outputs` (step, name).
    pub fn uses_secrets_in(&self, secret_outputs: &dyn Fn(&str, &str) -> bool) -> bool {
        self.references().any(|(r, _)| match r {
            Reference::Secret(_) => true,
            Reference::StepOutput { step, name } => secret_outputs(step, name),
            _ => false,
        })
    }

    /// Renders the template with values from `resolver`.
    pub fn render(&self, resolver: &dyn Resolve) -> Result<String, RenderError> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Ref(r, _) => match resolver.resolve(r) {
                    Ok(v) => out.push_str(&v),
                    Err(reason) => {
                        return Err(RenderError {
                            reference: r.to_string(),
                            reason,
                        })
                    }
                },
            }
        }
        Ok(out)
    }
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reference::Host { name, field } => write!(f, "{{{{ hosts.{name}.{field} }}}}"),
            Reference::Secret(n) => write!(f, "{{{{ secrets.{n} }}}}"),
            Reference::Var(n) => write!(f, "{{{{ vars.{n} }}}}"),
            Reference::Plan(n) => write!(f, "{{{{ plan.{n} }}}}"),
            Reference::Run(n) => write!(f, "{{{{ run.{n} }}}}"),
            Reference::StepOutput { step, name } => write!(f, "{{{{ steps.{step}.{name} }}}}"),
        }
    }
}

fn parse_reference(inner: &str) -> Result<Reference, (String, String)> {
    let segments: Vec<&str> = inner.split('.').map(str::trim).collect();
    let valid = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    if inner.is_empty() {
        return Err((
            "empty reference `{{ }}`".into(),
            "write what it refers to, such as {{ vars.app_dir }}, or write a literal `{{` as `{{{{`".into(),
        ));
    }
    if segments.iter().any(|s| !valid(s)) {
        return Err((
            format!("malformed reference `{{{{ {inner} }}}}`"),
            "references look like {{ hosts.new.address }}, {{ secrets.db_password }} or {{ vars.app_dir }}; for a literal `{{` (a Docker or Go template), write `{{{{` and `}}}}`".into(),
        ));
    }
    let wrong_shape = |shape: &str| {
        Err((
            format!("malformed reference `{{{{ {inner} }}}}`"),
            format!("write it as {shape}"),
        ))
    };
    match segments.as_slice() {
        ["hosts", name, field] => {
            if HOST_FIELDS.contains(field) {
                Ok(Reference::Host {
                    name: name.to_string(),
                    field: field.to_string(),
                })
            } else {
                Err((
                    format!("hosts have no field `{field}`"),
                    format!("use one of: {}", HOST_FIELDS.join(", ")),
                ))
            }
        }
        ["hosts", ..] => wrong_shape("{{ hosts.NAME.address }}"),
        ["secrets", name] => Ok(Reference::Secret(name.to_string())),
        ["secrets", ..] => wrong_shape("{{ secrets.NAME }}"),
        ["vars", name] => Ok(Reference::Var(name.to_string())),
        ["vars", ..] => wrong_shape("{{ vars.NAME }}"),
        ["plan", name] if PLAN_FIELDS.contains(name) => Ok(Reference::Plan(name.to_string())),
        ["plan", ..] => wrong_shape("{{ plan.dir }} or {{ plan.name }}"),
        ["run", name] if RUN_FIELDS.contains(name) => Ok(Reference::Run(name.to_string())),
        ["run", ..] => wrong_shape("{{ run.id }}"),
        ["steps", step, name] => Ok(Reference::StepOutput {
            step: step.to_string(),
            name: name.to_string(),
        }),
        ["steps", ..] => wrong_shape("{{ steps.STEP_ID.OUTPUT }}"),
        [ns, ..] => {
            let known = ["hosts", "secrets", "vars", "plan", "run", "steps"];
            let help = match crate::problem::did_you_mean(ns, known) {
                Some(near) => format!("did you mean `{near}`?"),
                None => format!("references start with one of: {}", known.join(", ")),
            };
            Err((format!("unknown reference namespace `{ns}`"), help))
        }
        [] => unreachable!("split always yields one segment"),
    }
}

impl FromToml for Template {
    fn read(value: &mut Value<'_>, what: &str, p: &mut Problems) -> Option<Self> {
        match value.take() {
            ValueInner::String(s) if value.span.end.saturating_sub(value.span.start) == s.len() => {
                Template::parse(&s, value.span, p)
            }
            ValueInner::String(s) => {
                // Escapes (`\t`, `\u00e9`) and a multi-line string's trimmed first newline make
                // the text shorter than what is written, so offsets into it would point at the
                // wrong place (or inside a character): underline the whole string instead.
                let mut local = Problems::default();
                let template = Template::parse(&s, value.span, &mut local);
                for mut problem in local.0 {
                    problem.span = value.span;
                    p.push(problem);
                }
                template.map(|mut t| {
                    for part in &mut t.parts {
                        if let Part::Ref(_, span) = part {
                            *span = value.span;
                        }
                    }
                    t
                })
            }
            other => {
                crate::read::wrong_type(value.span, what, "a string", &other, p);
                None
            }
        }
    }
}

/// Reads the `env` field of `f`: variable names are checked where they are written (the key),
/// values are templates that may use `{{ secrets.NAME }}`.
pub fn read_env(f: &mut crate::read::Fields<'_>, p: &mut Problems) -> BTreeMap<String, Template> {
    let what = format!("`env` of {}", f.owner());
    let mut out = BTreeMap::new();
    let Some(mut value) = f.take_raw("env") else {
        return out;
    };
    match value.take() {
        ValueInner::Table(table) => {
            for (key, mut v) in table {
                if !valid_env_name(&key.name) {
                    p.push(
                        Problem::new(
                            key.span,
                            format!("`{}` in {what} is not a valid variable name", key.name),
                            "invalid name",
                        )
                        .help("use letters, digits and `_`, not starting with a digit"),
                    );
                }
                let item = format!("`{}` in {what}", key.name);
                if let Some(t) = Template::read(&mut v, &item, p) {
                    out.insert(key.name.into_owned(), t);
                }
            }
        }
        other => crate::read::wrong_type(value.span, &what, "a table", &other, p),
    }
    out
}

/// True when `name` can be an environment variable's name in `sh`.
fn valid_env_name(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;
    impl Resolve for Fixed {
        fn resolve(&self, r: &Reference) -> Result<String, String> {
            match r {
                Reference::Host { name, field } => Ok(format!("{name}:{field}")),
                other => Err(format!("no value for {other}")),
            }
        }
    }

    #[test]
    fn renders_text_and_references() {
        let mut p = Problems::default();
        let t = Template::parse("ping {{hosts.new.address}} now", Span::new(0, 0), &mut p).unwrap();
        assert_eq!(t.render(&Fixed).unwrap(), "ping new:address now");
    }

    #[test]
    fn doubled_braces_are_literal_braces() {
        let mut p = Problems::default();
        let raw = "docker inspect -f '{{{{ .State.Health.Status }}}}' {{ hosts.new.name }} }}";
        let t = Template::parse(raw, Span::new(0, 0), &mut p).unwrap();
        assert_eq!(
            t.render(&Fixed).unwrap(),
            "docker inspect -f '{{ .State.Health.Status }}' new:name }}"
        );
        assert_eq!(t.references().count(), 1);
        assert!(p.is_empty());
    }

    #[test]
    fn a_reference_after_an_escape_is_located_where_written() {
        let mut p = Problems::default();
        assert!(Template::parse("{{{{ x }}}} {{ nope }}", Span::new(10, 30), &mut p).is_none());
        assert_eq!(p.0[0].span, Span::new(22, 32));
    }

    #[test]
    fn unclosed_reference_is_a_problem() {
        let mut p = Problems::default();
        assert!(Template::parse("a {{ hosts.x", Span::new(10, 20), &mut p).is_none());
        assert_eq!(p.0[0].message, "unclosed `{{` in a template");
        assert_eq!(p.0[0].span, Span::new(12, 14));
    }
}
