//! Checks that need the whole plan: unique names, references to hosts, secrets, vars and
//! steps that exist, and secrets kept off command lines.

use crate::plan::Plan;
use crate::problem::{did_you_mean, line_col, Problem, Problems, Span};
use crate::read::Spanned;
use crate::template::{Reference, Template};
use std::collections::{BTreeMap, BTreeSet};
use toml_span::value::Value;

/// Names the file declares, including those of hosts, secrets and steps that were left out
/// of the plan for problems of their own: a reference to one of those is not reported again
/// as unknown.
#[derive(Debug, Default)]
pub struct Declared {
    hosts: BTreeSet<String>,
    secrets: BTreeSet<String>,
    steps: BTreeSet<String>,
}

impl Declared {
    /// Collects the declared names from the document before it is read.
    pub fn find(root: &Value<'_>) -> Self {
        let keys = |name: &str| -> BTreeSet<String> {
            get(root, name)
                .and_then(|v| v.as_table())
                .map(|t| t.keys().map(|k| k.name.to_string()).collect())
                .unwrap_or_default()
        };
        let steps = get(root, "stages")
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
            .filter_map(|stage| get(stage, "steps")?.as_array())
            .flatten()
            .filter_map(|step| Some(get(step, "id")?.as_str()?.to_string()))
            .collect();
        Declared {
            hosts: keys("hosts"),
            secrets: keys("secrets"),
            steps,
        }
    }
}

fn get<'a, 'de>(value: &'a Value<'de>, key: &str) -> Option<&'a Value<'de>> {
    value.as_table()?.get(key)
}

/// Records every cross-reference problem of `plan`; `src` gives line numbers for hints.
pub fn validate(plan: &Plan, declared: &Declared, src: &str, p: &mut Problems) {
    let mut stage_names: BTreeMap<&str, Span> = BTreeMap::new();
    for stage in &plan.stages {
        if let Some(first) = stage_names.insert(&stage.name.value, stage.name.span) {
            p.push(duplicate("stage name", &stage.name, first, src));
        }
    }
    crate::traffic::validate(plan, p);
    let mut step_ids: BTreeMap<&str, Span> = BTreeMap::new();
    let host_names: Vec<&str> = plan.hosts.iter().map(|h| h.name.value.as_str()).collect();
    let base = Checker {
        plan,
        declared,
        host_names: &host_names,
        owner: "",
    };
    crate::checks::validate::section(&base, p);
    crate::checks::downtime::validate(plan, p);
    for (_, step) in plan.steps() {
        if let Some(first) = step_ids.insert(&step.id.value, step.id.span) {
            p.push(duplicate("step id", &step.id, first, src));
        }
        let owner = format!("step `{}`", step.id.value);
        let check = StepCheck {
            base: Checker {
                plan,
                declared,
                host_names: &host_names,
                owner: &owner,
            },
            id: &step.id,
            earlier: &step_ids,
            src,
        };
        step.kind.validate(&check, p);
    }
}

/// `wait.after` names itself, a later step or no step at all.
pub(crate) fn not_earlier(
    plan: &Plan,
    id: &Spanned<String>,
    after: &Spanned<String>,
    earlier: &BTreeMap<&str, Span>,
    src: &str,
) -> Problem {
    let problem = Problem::new(
        after.span,
        format!(
            "step `{}` waits after `{}`, which is not an earlier step",
            id.value, after.value
        ),
        "not an earlier step",
    );
    let known: Vec<&str> = earlier.keys().copied().filter(|k| *k != id.value).collect();
    let later = plan.step(&after.value).map(|s| s.id.span);
    if after.value == id.value {
        problem.help(
            "a step cannot wait after itself; `after` must name a step that runs before this one",
        )
    } else if let Some(at) = later {
        let (line, _) = line_col(src, at.start);
        problem.help(format!(
            "`{}` (line {line}) runs after this step; move this wait below it",
            after.value
        ))
    } else if let Some(near) = did_you_mean(&after.value, known.iter().copied()) {
        problem.help(format!("did you mean `{near}`?"))
    } else if known.is_empty() {
        problem.help("`after` must name a step that runs before this one")
    } else {
        problem.help(format!("earlier steps: {}", known.join(", ")))
    }
}

fn duplicate(what: &str, name: &Spanned<String>, first: Span, src: &str) -> Problem {
    let (line, col) = line_col(src, first.start);
    Problem::new(
        name.span,
        format!("duplicate {what} `{}`", name.value),
        "used again here",
    )
    .help(format!(
        "it is first used at line {line}, column {col}; give each a distinct name"
    ))
}

/// What a step kind's [`Validate`](crate::steps::kind::Validate) sees: the plan-wide
/// checker (as `Deref`), the step's id, the steps before it, and the text for line numbers.
pub(crate) struct StepCheck<'a> {
    pub(crate) base: Checker<'a>,
    pub(crate) id: &'a Spanned<String>,
    pub(crate) earlier: &'a BTreeMap<&'a str, Span>,
    pub(crate) src: &'a str,
}

impl<'a> std::ops::Deref for StepCheck<'a> {
    type Target = Checker<'a>;
    fn deref(&self) -> &Checker<'a> {
        &self.base
    }
}

impl StepCheck<'_> {
    /// True when a step id named by this step was declared but left out of the plan for
    /// its own problems: it cannot be judged, so it is not reported again.
    pub(crate) fn dropped(&self, id: &str) -> bool {
        self.plan.step(id).is_none() && self.declared.steps.contains(id)
    }
}

pub(crate) struct Checker<'a> {
    pub(crate) plan: &'a Plan,
    pub(crate) declared: &'a Declared,
    pub(crate) host_names: &'a [&'a str],
    pub(crate) owner: &'a str,
}

impl Checker<'_> {
    pub(crate) fn host(&self, name: &Spanned<String>, p: &mut Problems) {
        if self.plan.host(&name.value).is_none() && !self.declared.hosts.contains(&name.value) {
            p.push(unknown(
                "host",
                &name.value,
                name.span,
                self.host_names.iter().copied(),
                "[hosts]",
            ));
        }
    }

    /// A field that becomes part of a command line: no secrets allowed.
    pub(crate) fn command(&self, field: &str, t: &Template, p: &mut Problems) {
        for (r, span) in t.references() {
            if let Reference::Secret(name) = r {
                p.push(
                    Problem::new(
                        span,
                        format!("`{field}` of {} uses secret `{name}` on a command line, where `ps` would show it", self.owner),
                        "secret on a command line",
                    )
                    .help(format!(
                        "pass it through the environment: `env = {{ {var} = \"{{{{ secrets.{name} }}}}\" }}` and write \"${var}\" in the command",
                        var = name.to_uppercase().replace('-', "_")
                    )),
                );
            }
        }
        self.references(t, p);
    }

    pub(crate) fn optional_command(&self, field: &str, t: Option<&Template>, p: &mut Problems) {
        if let Some(t) = t {
            self.command(field, t, p);
        }
    }

    /// Environment values may use secrets (they travel over stdin); names are checked where
    /// they are read, next to their location.
    pub(crate) fn env(&self, env: &BTreeMap<String, Template>, p: &mut Problems) {
        for value in env.values() {
            self.references(value, p);
        }
    }

    pub(crate) fn references(&self, t: &Template, p: &mut Problems) {
        for (r, span) in t.references() {
            match r {
                Reference::Host { name, .. }
                    if self.plan.host(name).is_none() && !self.declared.hosts.contains(name) =>
                {
                    p.push(unknown(
                        "host",
                        name,
                        span,
                        self.host_names.iter().copied(),
                        "[hosts]",
                    ));
                }
                Reference::Secret(name)
                    if self.plan.secret(name).is_none()
                        && !self.declared.secrets.contains(name) =>
                {
                    let names = self.plan.secrets.iter().map(|s| s.name.value.as_str());
                    p.push(unknown("secret", name, span, names, "[secrets]"));
                }
                Reference::Var(name) if !self.plan.vars.contains_key(name) => {
                    p.push(unknown(
                        "var",
                        name,
                        span,
                        self.plan.vars.keys().map(String::as_str),
                        "[vars]",
                    ));
                }
                _ => {}
            }
        }
    }
}

fn unknown<'a>(
    what: &str,
    name: &str,
    span: Span,
    known: impl Iterator<Item = &'a str> + Clone,
    section: &str,
) -> Problem {
    let problem = Problem::new(
        span,
        format!("unknown {what} `{name}`"),
        format!("no such {what}"),
    );
    match did_you_mean(name, known.clone()) {
        Some(near) => problem.help(format!("did you mean `{near}`?")),
        None => {
            let list: Vec<&str> = known.collect();
            if list.is_empty() {
                problem.help(format!("define it in `{section}`"))
            } else {
                problem.help(format!(
                    "define it in `{section}`, or use one of: {}",
                    list.join(", ")
                ))
            }
        }
    }
}
