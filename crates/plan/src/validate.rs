//! Checks that need the whole plan: unique names, references to hosts, secrets, vars and
//! steps that exist, and secrets kept off command lines.

use crate::plan::Plan;
use crate::problem::{did_you_mean, line_col, Problem, Problems, Span};
use crate::read::Spanned;
use crate::steps::StepKind;
use crate::template::{Reference, Template};
use std::collections::BTreeMap;

/// Records every cross-reference problem of `plan`; `src` gives line numbers for hints.
pub fn validate(plan: &Plan, src: &str, p: &mut Problems) {
    let mut stage_names: BTreeMap<&str, Span> = BTreeMap::new();
    for stage in &plan.stages {
        if let Some(first) = stage_names.insert(&stage.name.value, stage.name.span) {
            p.push(duplicate("stage name", &stage.name, first, src));
        }
    }
    let mut step_ids: BTreeMap<&str, Span> = BTreeMap::new();
    let host_names: Vec<&str> = plan.hosts.iter().map(|h| h.name.value.as_str()).collect();
    for (_, step) in plan.steps() {
        if let Some(first) = step_ids.insert(&step.id.value, step.id.span) {
            p.push(duplicate("step id", &step.id, first, src));
        }
        let owner = format!("step `{}`", step.id.value);
        let check = Checker {
            plan,
            host_names: &host_names,
            owner: &owner,
        };
        match &step.kind {
            StepKind::Run(run) => {
                if run.hosts.is_empty() {
                    p.push(
                        Problem::new(
                            step.id.span,
                            format!("{owner} runs on no host"),
                            "`hosts` is empty",
                        )
                        .help(format!("name at least one host: {}", host_names.join(", "))),
                    );
                }
                for h in &run.hosts {
                    check.host(h, p);
                }
                check.command("command", &run.command, p);
                check.optional_command("check", run.check.as_ref(), p);
                check.optional_command("undo", run.undo.as_ref(), p);
                check.env(&run.env, p);
            }
            StepKind::Pipe(pipe) => {
                for end in [&pipe.from, &pipe.to] {
                    check.host(&end.host, p);
                    check.command("command", &end.command, p);
                    check.env(&end.env, p);
                }
                check.optional_command("check", pipe.check.as_ref(), p);
                check.optional_command("undo", pipe.undo.as_ref(), p);
            }
            StepKind::Wait(wait) => {
                if let Some(after) = &wait.after {
                    if !step_ids.contains_key(after.value.as_str()) || after.value == step.id.value
                    {
                        let known: Vec<&str> = step_ids
                            .keys()
                            .copied()
                            .filter(|id| *id != step.id.value)
                            .collect();
                        let mut problem = Problem::new(
                            after.span,
                            format!(
                                "{owner} waits after `{}`, which is not an earlier step",
                                after.value
                            ),
                            "not an earlier step",
                        );
                        problem = match did_you_mean(
                            &after.value,
                            plan.steps().map(|(_, s)| s.id.value.as_str()),
                        ) {
                            Some(near) if near != step.id.value => {
                                problem.help(format!("did you mean `{near}`?"))
                            }
                            _ if known.is_empty() => {
                                problem.help("`after` must name a step that runs before this one")
                            }
                            _ => problem.help(format!("earlier steps: {}", known.join(", "))),
                        };
                        p.push(problem);
                    }
                }
            }
            StepKind::Approve(_) => {}
        }
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

struct Checker<'a> {
    plan: &'a Plan,
    host_names: &'a [&'a str],
    owner: &'a str,
}

impl Checker<'_> {
    fn host(&self, name: &Spanned<String>, p: &mut Problems) {
        if self.plan.host(&name.value).is_none() {
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
    fn command(&self, field: &str, t: &Template, p: &mut Problems) {
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

    fn optional_command(&self, field: &str, t: Option<&Template>, p: &mut Problems) {
        if let Some(t) = t {
            self.command(field, t, p);
        }
    }

    fn env(&self, env: &BTreeMap<String, Template>, p: &mut Problems) {
        for (name, value) in env {
            let valid = name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                p.push(
                    Problem::new(
                        value.span,
                        format!(
                            "`{name}` in `env` of {} is not a valid variable name",
                            self.owner
                        ),
                        "invalid name",
                    )
                    .help("use letters, digits and `_`, not starting with a digit"),
                );
            }
            self.references(value, p);
        }
    }

    fn references(&self, t: &Template, p: &mut Problems) {
        for (r, span) in t.references() {
            match r {
                Reference::Host { name, .. } if self.plan.host(name).is_none() => {
                    p.push(unknown(
                        "host",
                        name,
                        span,
                        self.host_names.iter().copied(),
                        "[hosts]",
                    ));
                }
                Reference::Secret(name) if self.plan.secret(name).is_none() => {
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
