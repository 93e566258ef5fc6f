//! `cutover check`, after the plan itself: can every secret be read, and every host be
//! reached, authenticated and trusted (known host key), with sudo where the plan needs it?
//! Results come as a checklist; `--pin-host-keys` records unknown host keys on request.

use crate::error::EngineError;
use crate::hosts::targets;
use crate::secrets::read_source;
use crate::session::Session;
use cutover_data::store::{Store, Verb};
use cutover_exec::{
    Command, ConnectFailure, ExecError, Executor, Redactor, Route, SshTarget, Target,
};
use cutover_plan::StepKind;
use serde::Serialize;

/// One line of the checklist.
#[derive(Debug, Clone, Serialize)]
pub struct CheckItem {
    /// What is checked ("host old", "secret db").
    pub subject: String,
    /// The check ("reached", "host key known", "authenticated", "sudo", "readable").
    pub check: String,
    /// Passed?
    pub ok: bool,
    /// What was found.
    pub detail: String,
    /// What to do when it failed.
    pub hint: Option<String>,
}

fn item(
    subject: &str,
    check: &str,
    ok: bool,
    detail: impl Into<String>,
    hint: Option<&str>,
) -> CheckItem {
    CheckItem {
        subject: subject.into(),
        check: check.into(),
        ok,
        detail: detail.into(),
        hint: hint.map(str::to_string),
    }
}

/// The checks that need no network: what the plan asks of its DNS providers against what
/// they can do (`cutover check --offline`).
pub fn offline_check(plan_path: &std::path::Path) -> Result<Vec<CheckItem>, EngineError> {
    // The plan alone: a shared journal is on the network, so it is not opened.
    let session = Session::open_plan_only(plan_path)?;
    Ok(capability_items(&session))
}

/// Whether an item is a note to read rather than a check (what a data step's store cannot
/// carry): it passes, and its hint says what to do.
pub fn is_note(item: &CheckItem) -> bool {
    item.check == STORE_LIMIT
}

/// Whether a failed item is a plan problem (a provider asked for what it cannot do), as
/// opposed to a host or secret out of reach.
pub fn is_plan_problem(item: &CheckItem) -> bool {
    !item.ok && (item.check == CAPABILITY || item.check == SCENARIO)
}

const CAPABILITY: &str = "provider can";
const STORE_LIMIT: &str = "store limit";

/// The store and verb of a data step, for its declared limits.
fn store_verb(kind: &cutover_plan::StepKind) -> Option<(Store, Verb)> {
    use cutover_plan::StepKind as K;
    Some(match kind {
        K::PostgresCopy(_) => (Store::Postgres, Verb::Copy),
        K::PostgresSync(_) => (Store::Postgres, Verb::Sync),
        K::PostgresSwitch(_) => (Store::Postgres, Verb::Switch),
        K::PostgresVerify(_) => (Store::Postgres, Verb::Verify),
        K::RedisSync(_) => (Store::Redis, Verb::Sync),
        K::RedisSwitch(_) => (Store::Redis, Verb::Switch),
        K::RedisVerify(_) => (Store::Redis, Verb::Verify),
        K::MysqlCopy(_) => (Store::Mysql, Verb::Copy),
        K::MysqlSync(_) => (Store::Mysql, Verb::Sync),
        K::MysqlSwitch(_) => (Store::Mysql, Verb::Switch),
        K::MysqlVerify(_) => (Store::Mysql, Verb::Verify),
        _ => return None,
    })
}

/// What each data step's store declares it cannot carry, at the step's file:line:col: not
/// failures (the plan may hold none of it), the things to know before the migration.
fn store_limit_items(session: &Session) -> Vec<CheckItem> {
    let file = session.plan_path.display().to_string();
    let mut items = Vec::new();
    for (_, step) in session.plan.steps() {
        let Some((store, verb)) = store_verb(&step.kind) else {
            continue;
        };
        let (line, col) = cutover_plan::problem::line_col(&session.plan_src, step.id.span.start);
        for limit in cutover_data::store::limits_of(store, verb) {
            items.push(item(
                &format!("step {}", step.id.value),
                STORE_LIMIT,
                true,
                format!(
                    "{file}:{line}:{col}: {} cannot {}",
                    step.kind.name(),
                    limit.cannot
                ),
                Some(limit.instead),
            ));
        }
    }
    items
}
const SCENARIO: &str = "scenario reads";

/// Runs the checks for the plan at `plan_path`; with `pin`, unknown host keys are recorded.
pub async fn check(plan_path: &std::path::Path, pin: bool) -> Result<Vec<CheckItem>, EngineError> {
    let session = Session::open_read_only(plan_path)?;
    let plan = &session.plan;
    let mut items = Vec::new();
    for s in &plan.secrets {
        let subject = format!("secret {}", s.name.value);
        items.push(match read_source(plan, &s.source) {
            Ok(_) => item(&subject, "readable", true, "value read (not shown)", None),
            Err(e) => item(
                &subject,
                "readable",
                false,
                e,
                Some("make the source available on this machine"),
            ),
        });
    }
    items.extend(capability_items(&session));
    let exec = Executor::new(targets(plan, &session.journal_path), Redactor::default());
    for host in &plan.hosts {
        let name = host.name.value.as_str();
        let subject = format!("host {name}");
        let Ok(Target::Ssh(target)) = exec.target(name).cloned() else {
            items.push(item(&subject, "reached", true, "local", None));
            continue;
        };
        let mut result = exec.connect(name).await;
        if pin {
            if let Err(ExecError::Connect {
                failure: ConnectFailure::HostKeyUnknown,
                ..
            }) = &result
            {
                match crate::pin::pin_host_key(&target, host.host_key.as_deref()).await {
                    Ok(fp) => {
                        items.push(item(&subject, "host key pinned", true, fp, None));
                        result = exec.connect(name).await;
                    }
                    Err(e) => items.push(item(
                        &subject,
                        "host key pinned",
                        false,
                        e,
                        Some("compare the host's key out of band (ssh-keygen -lf on the host)"),
                    )),
                }
            }
        }
        // The way to the host, also when the connection failed (to name its jump hosts).
        let route = match exec.route(name) {
            Some(route) => Some(route.clone()),
            None => target.route().await.ok(),
        };
        items.extend(connection_items(&subject, &target, &result, route.as_ref()));
        if result.is_ok() && needs_sudo(plan, name) {
            let out = exec
                .run(&Command::new(
                    name,
                    vec!["sudo".into(), "-n".into(), "true".into()],
                ))
                .await;
            items.push(match out {
                Ok(o) if o.success() => item(&subject, "sudo", true, "sudo -n works", None),
                Ok(o) => item(
                    &subject,
                    "sudo",
                    false,
                    o.stderr.trim().to_string(),
                    Some("allow passwordless sudo for this user (NOPASSWD) or set `sudo = false`"),
                ),
                Err(e) => item(&subject, "sudo", false, e.to_string(), None),
            });
        }
    }
    exec.disconnect_all().await;
    Ok(items)
}

/// What the plan's DNS steps ask of each provider against what it declares (before any
/// network call; the table is the traffic crate's provider registry, which the plan crate
/// cannot see, so this is a checklist line with the record's file:line:col rather than a plan
/// problem). One line per problem, or one passing line per DNS provider.
fn capability_items(session: &Session) -> Vec<CheckItem> {
    let plan = &session.plan;
    let problems = crate::steps::traffic::plan_capabilities(plan);
    let file = session.plan_path.display().to_string();
    let mut items: Vec<CheckItem> = problems
        .iter()
        .map(|c| {
            let (line, col) = cutover_plan::problem::line_col(&session.plan_src, c.at);
            item(
                &format!("step {}", c.step),
                CAPABILITY,
                false,
                format!("{file}:{line}:{col}: {}", c.problem),
                Some("change the record or TTL in the plan, or use a provider that can"),
            )
        })
        .collect();
    items.extend(scenario_items(session));
    items.extend(store_limit_items(session));
    for d in &plan.dns {
        if !problems.iter().any(|c| c.provider == d.name.value) {
            items.push(item(
                &format!("dns {}", d.name.value),
                CAPABILITY,
                true,
                format!("every record fits what `{}` can do", d.provider.value),
                None,
            ));
        }
    }
    items
}

fn needs_sudo(plan: &cutover_plan::Plan, host: &str) -> bool {
    plan.host(host).is_some_and(|h| h.sudo)
        || plan.steps().any(|(_, s)| matches!(&s.kind, StepKind::Run(r) if r.sudo == Some(true) && r.hosts.iter().any(|h| h.value == host)))
}

fn connection_items(
    subject: &str,
    target: &SshTarget,
    result: &Result<(), ExecError>,
    route: Option<&Route>,
) -> Vec<CheckItem> {
    let dest = target.destination.as_str();
    let hops = route.map(|r| jump_hosts(&r.hops)).unwrap_or_default();
    let key_known = || item(subject, "host key known", true, key_detail(route), None);
    match result {
        Ok(()) => vec![
            item(subject, "reached", true, dest, None),
            key_known(),
            item(subject, "authenticated", true, "key accepted", None),
        ],
        Err(ExecError::Connect {
            failure, stderr, ..
        }) => {
            let hint = Some(failure.hint());
            let lines: Vec<&str> = stderr
                .lines()
                .map(|l| l.trim_start_matches("  │ "))
                .collect();
            let detail = lines.last().copied().unwrap_or("").to_string();
            // Behind a jump host, the line naming the host whose key failed (the last one is
            // the outer connection's "connection closed").
            let key_line = lines
                .iter()
                .find(|l| l.ends_with("you have requested strict checking."))
                .copied()
                .unwrap_or(&detail);
            match failure {
                ConnectFailure::Unreachable | ConnectFailure::Other => {
                    vec![item(subject, "reached", false, detail, hint)]
                }
                ConnectFailure::HostKeyUnknown if !hops.is_empty() => vec![
                    item(
                        subject,
                        "host key known",
                        false,
                        format!("no key recorded for this host or for {hops}: {key_line}"),
                        Some("record the missing key in known_hosts by hand (ssh-keyscan run where that host is reachable, its fingerprint compared out of band): `--pin-host-keys` cannot scan through a jump host"),
                    ),
                ],
                ConnectFailure::HostKeyUnknown => vec![
                    item(subject, "reached", true, dest, None),
                    item(
                        subject,
                        "host key known",
                        false,
                        "no key recorded for this host",
                        hint,
                    ),
                ],
                ConnectFailure::HostKeyChanged if !hops.is_empty() => vec![item(
                    subject,
                    "host key known",
                    false,
                    format!("HOST KEY MISMATCH: this host or {hops} presents a different key: {key_line}"),
                    hint,
                )],
                ConnectFailure::HostKeyChanged => vec![
                    item(subject, "reached", true, dest, None),
                    item(
                        subject,
                        "host key known",
                        false,
                        "HOST KEY MISMATCH: the host presents a different key",
                        hint,
                    ),
                ],
                ConnectFailure::AuthDenied => vec![
                    item(subject, "reached", true, dest, None),
                    key_known(),
                    item(subject, "authenticated", false, detail, hint),
                ],
            }
        }
        Err(e) => vec![item(subject, "reached", false, e.to_string(), None)],
    }
}

/// What a passing host-key check vouches for: known_hosts on every hop cutover makes, and
/// nothing about the hops of a ProxyCommand from the SSH config, which cutover cannot see.
fn key_detail(route: Option<&Route>) -> String {
    match route {
        Some(Route {
            unchecked_proxy: Some(proxy),
            ..
        }) => format!("matches known_hosts; not checked by cutover: the hosts on the way through the SSH config's `ProxyCommand {proxy}`"),
        Some(r) if !r.hops.is_empty() => {
            format!("matches known_hosts, as does that of {}", jump_hosts(&r.hops))
        }
        _ => "matches known_hosts".into(),
    }
}

/// "jump host `a`" or "jump hosts `a`, `b`".
fn jump_hosts(hops: &[String]) -> String {
    let names: Vec<String> = hops.iter().map(|h| format!("`{h}`")).collect();
    match names.len() {
        0 => String::new(),
        1 => format!("jump host {}", names[0]),
        _ => format!("jump hosts {}", names.join(", ")),
    }
}

/// Every Hurl file the plan's smoke checks name, read and parsed without sending anything:
/// a missing file (located at its `file` field in the plan) or a feature outside the
/// supported subset (at its line and column in the Hurl file) is found before the run.
fn scenario_items(session: &Session) -> Vec<CheckItem> {
    let plan = &session.plan;
    let plan_file = session.plan_path.display().to_string();
    let shown_dir = session
        .plan_path
        .parent()
        .unwrap_or(std::path::Path::new(""));
    let mut items = Vec::new();
    for check in &plan.checks {
        let cutover_plan::CheckKind::Smoke(smoke) = &check.kind else {
            continue;
        };
        let path = plan.resolve_path(std::path::Path::new(&smoke.file.value));
        let shown = shown_dir.join(&smoke.file.value).display().to_string();
        let subject = format!("check {}", check.name.value);
        items.push(match cutover_checks::smoke::read_scenario(&path, &shown) {
            Ok(summary) => item(&subject, SCENARIO, true, format!("{shown}: {summary}"), None),
            Err(e) if !path.exists() => {
                let (line, col) =
                    cutover_plan::problem::line_col(&session.plan_src, smoke.file.span.start);
                item(
                    &subject,
                    SCENARIO,
                    false,
                    format!("{plan_file}:{line}:{col}: {e}"),
                    Some("fix `file` (relative to the plan's directory) or add the scenario"),
                )
            }
            Err(e) => item(
                &subject,
                SCENARIO,
                false,
                e,
                Some("change the scenario to the supported subset (see the README's smoke scenarios)"),
            ),
        });
    }
    items
}
