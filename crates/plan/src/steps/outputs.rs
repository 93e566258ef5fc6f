//! `outputs` of a step: values captured from what its command prints (a regex's first
//! capture group or a JSON path), used by later steps and undo commands as
//! `{{ steps.ID.NAME }}`. Extraction is pure, so it lives with the plan; the engine runs it.

use crate::problem::{did_you_mean, line_col, Problem, Problems, Span};
use crate::read::{Fields, FromToml, Spanned};
use crate::validate::{unknown, Checker};
use std::collections::BTreeMap;
use toml_span::value::{Value, ValueInner};

/// How a value is found in a command's standard output.
#[derive(Debug, Clone)]
pub enum Capture {
    /// The first capture group of the first match.
    Regex(regex_lite::Regex),
    /// The single value a JSON path selects in the output parsed as JSON (a string as is,
    /// anything else as compact JSON).
    Json(serde_json_path::JsonPath),
}

impl PartialEq for Capture {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Capture::Regex(a), Capture::Regex(b)) => a.as_str() == b.as_str(),
            (Capture::Json(a), Capture::Json(b)) => a.to_string() == b.to_string(),
            _ => false,
        }
    }
}

/// One named value a step captures from its output.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct Output {
    /// A regular expression whose first capture group is the value (e.g. `image: (\S+)`).
    #[schemars(with = "Option<String>")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    /// A JSON path (RFC 9535) selecting exactly one value in the output parsed as JSON
    /// (e.g. `$.name_servers[0]`).
    #[schemars(with = "Option<String>")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub json: Option<String>,
    /// The value is a secret: never shown, journaled sealed, allowed only where secrets are
    /// (`env`, standard input), never on a command line.
    #[serde(default)]
    pub secret: bool,
    /// The compiled form of `regex` or `json`.
    #[serde(skip)]
    #[schemars(skip)]
    pub capture: Option<Capture>,
}

impl Output {
    /// The fields an output accepts.
    pub const FIELDS: &'static [&'static str] = &["regex", "json", "secret"];

    /// The value in `stdout`, or why there is none (never quoting the output, which may
    /// hold the secret being captured).
    pub fn extract(&self, stdout: &str) -> Result<String, String> {
        match &self.capture {
            Some(Capture::Regex(re)) => match re.captures(stdout) {
                Some(c) => c
                    .get(1)
                    .map(|m| m.as_str().to_string())
                    .ok_or_else(|| "its regex matched but its first group took no part".into()),
                None => Err(format!(
                    "its regex `{}` matches nothing in the output",
                    re.as_str()
                )),
            },
            Some(Capture::Json(path)) => {
                let doc: serde_json::Value = serde_json::from_str(stdout.trim())
                    .map_err(|e| format!("the output is not JSON ({e})"))?;
                let found = path.query(&doc).all();
                match found.as_slice() {
                    [serde_json::Value::String(s)] => Ok(s.clone()),
                    [v] => Ok(v.to_string()),
                    [] => Err(format!(
                        "its JSON path `{path}` selects nothing in the output"
                    )),
                    many => Err(format!(
                        "its JSON path `{path}` selects {} values; make it select one",
                        many.len()
                    )),
                }
            }
            None => Err("it has no `regex` or `json`".into()),
        }
    }
}

impl FromToml for Output {
    fn read(value: &mut Value<'_>, what: &str, p: &mut Problems) -> Option<Self> {
        let span = value.span;
        let mut f = Fields::new(value, what.to_string(), Self::FIELDS, p)?;
        let regex: Option<Spanned<String>> = f.optional("regex", p);
        let json: Option<Spanned<String>> = f.optional("json", p);
        let secret = f.optional("secret", p).unwrap_or(false);
        f.finish(p);
        let capture = match (&regex, &json) {
            (Some(r), None) => compile_regex(r, what, p).map(Capture::Regex),
            (None, Some(j)) => match serde_json_path::JsonPath::parse(&j.value) {
                Ok(path) => Some(Capture::Json(path)),
                Err(e) => {
                    p.push(
                        Problem::new(
                            j.span,
                            format!("{what}: `json` is not a JSON path: {e}"),
                            "bad JSON path",
                        )
                        .help("write a path such as `$.name` or `$.servers[0].address`"),
                    );
                    None
                }
            },
            _ => {
                p.push(
                    Problem::new(span, format!("{what} needs one of `regex` or `json`"), "one of `regex` or `json`")
                        .help("capture with a regex's first group, `regex = 'tag: (\\S+)'`, or a JSON path, `json = \"$.tag\"`"),
                );
                None
            }
        };
        Some(Output {
            regex: regex.map(|r| r.value),
            json: json.map(|j| j.value),
            secret,
            capture: Some(capture?),
        })
    }
}

fn compile_regex(r: &Spanned<String>, what: &str, p: &mut Problems) -> Option<regex_lite::Regex> {
    match regex_lite::Regex::new(&r.value) {
        Ok(re) if re.captures_len() >= 2 => Some(re),
        Ok(_) => {
            p.push(
                Problem::new(
                    r.span,
                    format!("{what}: `regex` has no capture group"),
                    "no `( )` group",
                )
                .help("the value is what the first group matches: `tag: (\\S+)`"),
            );
            None
        }
        Err(e) => {
            let first = e.to_string();
            let first = first.lines().last().unwrap_or("").trim().to_string();
            p.push(
                Problem::new(
                    r.span,
                    format!("{what}: `regex` is not a regular expression: {first}"),
                    "bad regex",
                )
                .help("in TOML, write it in single quotes so that backslashes stay: 'v(\\d+)'"),
            );
            None
        }
    }
}

/// Reads a step's `outputs` table: names checked where they are written.
pub fn read_outputs(f: &mut Fields<'_>, p: &mut Problems) -> BTreeMap<String, Output> {
    let what = format!("`outputs` of {}", f.owner());
    let mut out = BTreeMap::new();
    let Some(mut value) = f.take_raw("outputs") else {
        return out;
    };
    match value.take() {
        ValueInner::Table(table) => {
            for (key, mut v) in table {
                if !crate::steps::valid_id(&key.name) {
                    p.push(
                        Problem::new(
                            key.span,
                            format!("`{}` in {what} is not a valid output name", key.name),
                            "invalid name",
                        )
                        .help("use 1 to 64 letters, digits, `-` or `_`"),
                    );
                }
                let item = format!("output `{}` of {}", key.name, f.owner());
                if let Some(o) = Output::read(&mut v, &item, p) {
                    out.insert(key.name.into_owned(), o);
                }
            }
        }
        other => crate::read::wrong_type(value.span, &what, "a table", &other, p),
    }
    out
}

/// Checks of outputs and of references to them.
impl Checker<'_> {
    /// A step's `outputs`: captured from one host's output, and secret ones sealed with a
    /// key derived from the plan's secrets, so there must be some.
    pub(crate) fn outputs(
        &self,
        outputs: &BTreeMap<String, crate::steps::Output>,
        hosts: usize,
        p: &mut Problems,
    ) {
        let Some(step) = self.step else { return };
        let span = self
            .plan
            .step(step.id)
            .map(|s| s.id.span)
            .unwrap_or_default();
        if !outputs.is_empty() && hosts > 1 {
            p.push(
                Problem::new(
                    span,
                    format!("{} captures outputs but runs on {hosts} hosts", self.owner),
                    "outputs from several hosts",
                )
                .help("a value is captured from one host's output: run the capturing command on one host, in a step of its own"),
            );
        }
        if let Some((name, _)) = outputs.iter().find(|(_, o)| o.secret) {
            if self.plan.secrets.is_empty() && self.declared.secrets.is_empty() {
                p.push(
                    Problem::new(
                        span,
                        format!("output `{name}` of {} is secret, but the plan has no `[secrets]`", self.owner),
                        "secret output",
                    )
                    .help("a secret output is journaled sealed, with a key derived from the plan's secret values: declare at least one secret in `[secrets]`"),
                );
            }
        }
    }

    /// `{{ steps.STEP.NAME }}`: a step that exists, runs before this field's step (or is that
    /// step, for its undo), and captures `NAME`.
    pub(crate) fn step_output(&self, step: &str, name: &str, span: Span, p: &mut Problems) {
        let reference = format!("{{{{ steps.{step}.{name} }}}}");
        let Some(scope) = self.step else {
            p.push(
                Problem::new(
                    span,
                    format!(
                        "{} uses `{reference}`, but step outputs are only known inside steps",
                        self.owner
                    ),
                    "not in a step",
                )
                .help("use the value in a step's fields (command, env, undo...) instead"),
            );
            return;
        };
        let Some(target) = self.plan.step(step) else {
            if !self.declared.steps.contains(step) {
                let ids: Vec<&str> = self
                    .plan
                    .steps()
                    .map(|(_, s)| s.id.value.as_str())
                    .collect();
                p.push(unknown(
                    "step",
                    step,
                    span,
                    ids.into_iter(),
                    "[[stages.steps]]",
                ));
            }
            return;
        };
        let own = step == scope.id;
        if own && !scope.own_outputs {
            p.push(
                Problem::new(
                    span,
                    format!(
                        "{} uses its own output `{reference}`, which it has not captured yet",
                        self.owner
                    ),
                    "not captured yet",
                )
                .help("a step's own outputs are known to its `undo` and to the steps after it"),
            );
            return;
        }
        if !own && !scope.earlier.contains_key(step) {
            let (line, _) = line_col(self.src, target.id.span.start);
            p.push(
                Problem::new(span, format!("{} uses `{reference}`, but step `{step}` runs after it", self.owner), "a later step")
                    .help(format!("`{step}` (line {line}) must run before this step: move it above, or use the value later")),
            );
            return;
        }
        let outputs = target.kind.outputs();
        if outputs.is_some_and(|o| o.contains_key(name)) {
            return;
        }
        let problem = Problem::new(
            span,
            format!("step `{step}` has no output `{name}`"),
            "no such output",
        );
        let known: Vec<&str> = outputs
            .into_iter()
            .flat_map(|o| o.keys().map(String::as_str))
            .collect();
        p.push(match (did_you_mean(name, known.iter().copied()), outputs) {
            (Some(near), _) => problem.help(format!("did you mean `{near}`?")),
            (None, None) => problem.help(format!(
                "steps of kind `{}` capture no outputs; only `run` and `pipe` steps do",
                target.kind.name()
            )),
            (None, Some(_)) if known.is_empty() => problem.help(format!(
                "declare it in step `{step}`: `outputs = {{ {name} = {{ regex = '...' }} }}`"
            )),
            (None, Some(_)) => problem.help(format!("its outputs: {}", known.join(", "))),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(capture: Capture) -> Output {
        Output {
            regex: None,
            json: None,
            secret: false,
            capture: Some(capture),
        }
    }

    #[test]
    fn a_regex_captures_its_first_group() {
        let o = output(Capture::Regex(
            regex_lite::Regex::new(r"image: (\S+)").unwrap(),
        ));
        assert_eq!(o.extract("name: web\nimage: app:1.4\n").unwrap(), "app:1.4");
        assert_eq!(
            o.extract("nothing").unwrap_err(),
            r"its regex `image: (\S+)` matches nothing in the output"
        );
    }

    #[test]
    fn a_json_path_selects_one_value() {
        let path = serde_json_path::JsonPath::parse("$.ns[*]").unwrap();
        let o = output(Capture::Json(path));
        assert_eq!(
            o.extract(r#"{"ns": ["a", "b"]}"#).unwrap_err(),
            "its JSON path `$.ns[*]` selects 2 values; make it select one"
        );
        let first = output(Capture::Json(
            serde_json_path::JsonPath::parse("$.ns[0]").unwrap(),
        ));
        assert_eq!(first.extract(r#" {"ns": ["a", "b"]} "#).unwrap(), "a");
        let n = output(Capture::Json(
            serde_json_path::JsonPath::parse("$.n").unwrap(),
        ));
        assert_eq!(n.extract(r#"{"n": 3}"#).unwrap(), "3");
        assert!(n
            .extract("not json")
            .unwrap_err()
            .starts_with("the output is not JSON"));
    }
}
