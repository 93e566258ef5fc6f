//! Cross-references of checks: hosts and templates in `[checks]`, check names in steps,
//! trigger checks within their soak, and the steps a soak rolls back.

use super::CheckKind;
use crate::plan::Plan;
use crate::problem::{did_you_mean, Problem, Problems, Span};
use crate::read::Spanned;
use crate::steps::soak::SoakStep;
use crate::validate::Checker;
use std::collections::BTreeMap;

/// Checks every `[checks.NAME]`: hosts exist, references resolve, no secret on a command line
/// or in a URL.
pub(crate) fn section(base: &Checker<'_>, p: &mut Problems) {
    let plan = base.plan;
    let mut seen: BTreeMap<&str, Span> = BTreeMap::new();
    for check in &plan.checks {
        if seen.insert(&check.name.value, check.name.span).is_some() {
            p.push(Problem::new(
                check.name.span,
                format!("duplicate check `{}`", check.name.value),
                "defined again here",
            ));
        }
        let owner = format!("check `{}`", check.name.value);
        let c = Checker {
            owner: &owner,
            ..*base
        };
        match &check.kind {
            CheckKind::Http(h) => {
                // URLs end up in logs and the journal: no secrets there.
                c.command("url", &h.url, p);
                if let Some(r) = &h.resolve {
                    c.command("resolve", r, p);
                }
                for t in h.headers.values() {
                    c.references(t, p);
                }
                if let Some(b) = &h.body {
                    c.references(b, p);
                }
                if let Some(from) = &h.from {
                    c.host(from, p);
                }
            }
            CheckKind::Smoke(s) => {
                for r in &s.resolve {
                    c.command("resolve", r, p);
                }
                for t in s.variables.values() {
                    c.references(t, p);
                }
            }
            CheckKind::Tcp(t) => {
                c.command("address", &t.address, p);
                if let Some(from) = &t.from {
                    c.host(from, p);
                }
            }
            CheckKind::Dns(d) => {
                c.command("name", &d.name, p);
                c.command("server", &d.server, p);
                for e in &d.expect {
                    c.command("expect", e, p);
                }
            }
            CheckKind::Command(cmd) => {
                c.host(&cmd.host, p);
                c.command("command", &cmd.command, p);
                c.env(&cmd.env, p);
            }
            CheckKind::Postgres(q) | CheckKind::Mysql(q) | CheckKind::Redis(q) => {
                c.host(&q.host, p);
                if let Some(query) = &q.query {
                    c.command("query", query, p);
                }
                for a in &q.args {
                    c.command("args", a, p);
                }
                if let Some(container) = &q.container {
                    c.command("container", container, p);
                }
                c.env(&q.env, p);
            }
        }
    }
}

/// Every name in `names` is a check of `[checks]`.
pub(crate) fn names(plan: &Plan, names: &[Spanned<String>], owner: &str, p: &mut Problems) {
    for n in names {
        if plan.check(&n.value).is_none() {
            let known = plan.checks.iter().map(|c| c.name.value.as_str());
            let problem = Problem::new(
                n.span,
                format!("{owner} names unknown check `{}`", n.value),
                "no such check",
            );
            let list: Vec<&str> = known.clone().collect();
            p.push(match did_you_mean(&n.value, known) {
                Some(near) => problem.help(format!("did you mean `{near}`?")),
                None if list.is_empty() => problem.help(format!("define it as `[checks.{}]` with a `kind` (http, tcp, dns, command, postgres, mysql, redis, smoke)", n.value)),
                None => problem.help(format!("define it in `[checks]`, or use one of: {}", list.join(", "))),
            });
        }
    }
}

/// A soak's checks, its triggers' checks (among its own), hosts of its logs, and the steps it
/// rolls back (earlier steps).
pub(crate) fn soak(
    c: &Checker<'_>,
    soak: &SoakStep,
    earlier: &BTreeMap<&str, Span>,
    step: &Spanned<String>,
    p: &mut Problems,
) {
    let (id, at) = (step.value.as_str(), step.span);
    names(c.plan, &soak.checks, c.owner, p);
    if soak.checks.is_empty() {
        p.push(
            Problem::new(
                at,
                format!("{} watches no check", c.owner),
                "`checks` is empty",
            )
            .help("name at least one check from `[checks]`"),
        );
    }
    for t in &soak.triggers {
        if let Some(check) = &t.check {
            if !soak.checks.iter().any(|n| n.value == check.value) {
                let list: Vec<&str> = soak.checks.iter().map(|n| n.value.as_str()).collect();
                p.push(
                    Problem::new(
                        check.span,
                        format!(
                            "a trigger of {} watches `{}`, which the soak does not probe",
                            c.owner, check.value
                        ),
                        "not in `checks`",
                    )
                    .help(format!(
                        "add it to `checks`, or use one of: {}",
                        list.join(", ")
                    )),
                );
            }
        }
        if t.prometheus.is_some() && soak.prometheus.is_none() {
            p.push(
                Problem::new(
                    at,
                    format!(
                        "{} has a `prometheus` trigger but no `prometheus` URL",
                        c.owner
                    ),
                    "where is Prometheus?",
                )
                .help("add `prometheus = \"http://127.0.0.1:9090\"` to the step"),
            );
        }
        if t.log_matches.is_some() && soak.logs.is_empty() {
            p.push(
                Problem::new(at, format!("{} has a `log_matches` trigger but watches no log", c.owner), "which logs?")
                    .help("add `logs = [{ host = \"new\", path = \"/var/log/app.log\", patterns = [\"ERROR\"] }]`"),
            );
        }
    }
    if let Some(url) = &soak.prometheus {
        c.command("prometheus", url, p);
    }
    for log in &soak.logs {
        c.host(&log.host, p);
        c.optional_command("path", log.path.as_ref(), p);
        c.optional_command("command", log.command.as_ref(), p);
        if let Some(deploy) = &log.deploy {
            let is_deploy = matches!(
                c.plan.step(&deploy.value).map(|s| &s.kind),
                Some(crate::steps::StepKind::ComposeDeploy(_))
            );
            if !is_deploy || !earlier.contains_key(deploy.value.as_str()) {
                p.push(
                    Problem::new(
                        deploy.span,
                        format!("{} follows the logs of `{}`, which is not an earlier compose.deploy step", c.owner, deploy.value),
                        "not an earlier compose.deploy step",
                    )
                    .help("name the id of a compose.deploy step that runs before the soak"),
                );
            }
        }
    }
    for r in &soak.rollback {
        if r.value == id || !earlier.contains_key(r.value.as_str()) {
            let list: Vec<&str> = earlier.keys().copied().filter(|k| *k != id).collect();
            p.push(
                Problem::new(
                    r.span,
                    format!(
                        "{} rolls back `{}`, which is not an earlier step",
                        c.owner, r.value
                    ),
                    "not an earlier step",
                )
                .help(match did_you_mean(&r.value, list.iter().copied()) {
                    Some(near) => format!("did you mean `{near}`?"),
                    None => format!("earlier steps: {}", list.join(", ")),
                }),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    fn problems(body: &str) -> Vec<String> {
        let src = format!("name = \"t\"\n[hosts.old]\nssh = \"old\"\n[hosts.new]\nssh = \"new\"\n[secrets.pw]\nenv = \"PW\"\n{body}");
        match crate::parse(&src, "t.toml", "/".into()) {
            Ok(_) => Vec::new(),
            Err(e) => e
                .problems
                .iter()
                .map(|p| format!("{} | {}", p.message, p.help.clone().unwrap_or_default()))
                .collect(),
        }
    }

    #[test]
    fn checks_and_their_references_are_validated() {
        let p = problems(
            r#"[checks.health]
kind = "http"
url = "https://{{ secrets.pw }}@app/"
json = ['status == "ok"']
[checks.db]
kind = "postgres"
host = "newer"
[[stages]]
name = "s"
[[stages.steps]]
id = "gate"
kind = "check"
checks = ["helth"]
[[stages.steps]]
id = "soak"
kind = "soak"
checks = "health"
duration = "1m"
triggers = [{ check = "db", consecutive_failures = 3 }, { error_rate = "1%", p95 = "1s" }, { prometheus = "up == 0" }]
rollback = ["switch"]
"#,
        );
        let has = |needle: &str| {
            assert!(
                p.iter().any(|l| l.contains(needle)),
                "no `{needle}` in {p:#?}"
            )
        };
        has("`json` of check `health`: JSON path `status` must start with `$`");
        has("`url` of check `health` uses secret `pw` on a command line");
        has("unknown host `newer` | did you mean `new`?");
        has("step `gate` names unknown check `helth` | did you mean `health`?");
        has("a trigger of step `soak` watches `db`, which the soak does not probe");
        has("item 2 of `triggers` of step `soak` has more than one condition");
        has("step `soak` has a `prometheus` trigger but no `prometheus` URL");
        has("step `soak` rolls back `switch`, which is not an earlier step");
    }
}
