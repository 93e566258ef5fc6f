//! `[environments.NAME]`: the same plan against other hosts and values (a staging run before
//! production), chosen with `cutover -e NAME`. An environment replaces whole hosts and single
//! vars of the plan, and keeps its own journal, so a staging run never resumes, reports or
//! rolls back a production one.

use crate::host::Host;
use crate::problem::{Problem, Problems};
use crate::read::{named_table, Fields, Spanned};
use crate::Plan;
use std::collections::BTreeMap;
use std::sync::OnceLock;
use toml_span::value::{Value, ValueInner};

/// One environment: what it changes in the plan.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct Environment {
    /// Its name (the key of `[environments.NAME]`).
    #[serde(skip)]
    pub name: Spanned<String>,
    /// Values that replace the plan's `[vars]` of the same name.
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    /// Hosts that replace the plan's hosts of the same name, whole
    /// (`[environments.staging.hosts.new]` with `ssh = "deploy@staging-new"`).
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, Host>")]
    pub hosts: Vec<Host>,
    /// This environment's journal (relative to the plan's directory); default: the plan
    /// file's name with `.NAME.journal.db`, next to it.
    pub journal: Option<String>,
}

impl Environment {
    /// The fields `[environments.NAME]` accepts.
    pub const FIELDS: &'static [&'static str] = &["vars", "hosts", "journal"];

    /// Reads `[environments.NAME]`; a var or host the plan does not have is a problem (a
    /// typo would otherwise leave the production value in a staging run).
    pub(crate) fn read(
        name: Spanned<String>,
        value: &mut Value<'_>,
        plan_vars: &BTreeMap<String, String>,
        plan_hosts: &[Host],
        p: &mut Problems,
    ) -> Option<Self> {
        let owner = format!("environment `{}`", name.value);
        let mut f = Fields::new(value, owner.clone(), Self::FIELDS, p)?;
        let mut vars = BTreeMap::new();
        if let Some(mut v) = f.take_raw("vars") {
            match v.take() {
                ValueInner::Table(table) => {
                    for (key, mut value) in table {
                        if !plan_vars.contains_key(key.name.as_ref()) {
                            p.push(unknown(
                                key.span,
                                &owner,
                                "var",
                                &key.name,
                                plan_vars.keys().map(String::as_str),
                                "[vars]",
                            ));
                        }
                        let what = format!("var `{}` of {owner}", key.name);
                        if let Some(s) =
                            <String as crate::read::FromToml>::read(&mut value, &what, p)
                        {
                            vars.insert(key.name.into_owned(), s);
                        }
                    }
                }
                other => crate::read::wrong_type(
                    v.span,
                    &format!("`vars` of {owner}"),
                    "a table",
                    &other,
                    p,
                ),
            }
        }
        let hosts = f
            .take_raw("hosts")
            .map(|mut v| named_table(&mut v, &format!("`hosts` of {owner}"), p, Host::read))
            .unwrap_or_default();
        for h in &hosts {
            if !plan_hosts.iter().any(|x| x.name.value == h.name.value) {
                let names = plan_hosts.iter().map(|x| x.name.value.as_str());
                p.push(unknown(
                    h.name.span,
                    &owner,
                    "host",
                    &h.name.value,
                    names,
                    "[hosts]",
                ));
            }
        }
        let journal = f.optional("journal", p);
        f.finish(p);
        Some(Environment {
            name,
            vars,
            hosts,
            journal,
        })
    }
}

/// A var or host an environment replaces that the plan does not have.
fn unknown<'a>(
    span: crate::problem::Span,
    owner: &str,
    what: &str,
    name: &str,
    known: impl Iterator<Item = &'a str> + Clone,
    section: &str,
) -> Problem {
    let problem = Problem::new(
        span,
        format!("{owner} replaces {what} `{name}`, which the plan does not define"),
        format!("not in {section}"),
    );
    match crate::problem::did_you_mean(name, known.clone()) {
        Some(near) => problem.help(format!("did you mean `{near}`?")),
        None => problem.help(format!(
            "an environment replaces what the plan's {section} defines; define `{name}` there first"
        )),
    }
}

/// The environment this process runs the plan in (`cutover -e NAME`), set once at start.
static SELECTED: OnceLock<String> = OnceLock::new();

/// Chooses the environment every plan loaded by this process is run in. The environment
/// is a property of the invocation, like the plan file's path; later calls are ignored.
pub fn select(name: &str) {
    let _ = SELECTED.set(name.to_string());
}

/// The environment chosen with [`select`], if any.
pub fn selected() -> Option<&'static str> {
    SELECTED.get().map(String::as_str)
}

impl Plan {
    /// This plan as run in environment `name`: its vars and hosts replaced, its journal its
    /// own. Errs with the names there are when the plan has no such environment.
    pub fn in_environment(mut self, name: &str) -> Result<Plan, String> {
        let Some(env) = self
            .environments
            .iter()
            .find(|e| e.name.value == name)
            .cloned()
        else {
            let names: Vec<&str> = self
                .environments
                .iter()
                .map(|e| e.name.value.as_str())
                .collect();
            return Err(if names.is_empty() {
                format!("the plan has no environment `{name}`: it defines none (add `[environments.{name}]` with the vars and hosts it changes)")
            } else {
                format!(
                    "the plan has no environment `{name}`: it defines {}",
                    names.join(", ")
                )
            });
        };
        self.vars.extend(env.vars);
        crate::steps::resolve_var_lengths(&mut self.stages, &self.vars);
        for host in env.hosts {
            if let Some(slot) = self
                .hosts
                .iter_mut()
                .find(|h| h.name.value == host.name.value)
            {
                *slot = host;
            }
        }
        self.environment = Some(name.to_string());
        self.environment_journal = env.journal;
        Ok(self)
    }
}
