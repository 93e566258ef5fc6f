//! The plan file as a whole: `cutover.toml`.

use crate::checks::Check;
use crate::host::Host;
use crate::limits;
use crate::problem::{Problem, Problems};
use crate::read::{named_table, Fields};
use crate::secret::Secret;
use crate::stage::Stage;
use std::collections::BTreeMap;
use std::path::PathBuf;
use toml_span::value::{Value, ValueInner};

/// A migration plan: hosts, secrets, and stages of steps separated by gates.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[schemars(title = "cutover plan", description = "A cutover.toml migration plan")]
pub struct Plan {
    /// Name of the migration, shown in the journal and the report.
    pub name: String,
    /// What this migration does, for the report.
    pub description: Option<String>,
    /// Where the journal is kept: a table (`[journal] path = "FILE"` or `url = "..."`), or
    /// a shared PostgreSQL journal's URL as a string (`journal = "postgres://..."`).
    #[serde(default)]
    #[schemars(with = "JournalSpec")]
    pub journal: JournalConfig,
    /// How SSH is used.
    #[serde(default)]
    pub ssh: SshConfig,
    /// The machines, by name: `[hosts.old]`, `[hosts.new]`.
    #[schemars(with = "BTreeMap<String, Host>")]
    pub hosts: Vec<Host>,
    /// Secrets, by name: `[secrets.db_password]`.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, Secret>")]
    pub secrets: Vec<Secret>,
    /// Plain values for `{{ vars.NAME }}` references.
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    /// Probes, by name: `[checks.health]`, used by `check` and `soak` steps.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, Check>")]
    pub checks: Vec<Check>,
    /// The downtime prober run while traffic moves: `[downtime]`.
    pub downtime: Option<crate::checks::downtime::Downtime>,
    /// DNS providers, by name: `[dns.example]`, used by the `dns.*` steps.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, crate::traffic::DnsProvider>")]
    pub dns: Vec<crate::traffic::DnsProvider>,
    /// Reverse proxies, by name: `[proxies.web]`, used by `proxy.switch` steps.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, crate::traffic::Proxy>")]
    pub proxies: Vec<crate::traffic::Proxy>,
    /// Receivers of notifications: `[notify.NAME]`.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, crate::notify::Notifier>")]
    pub notify: Vec<crate::notify::Notifier>,
    /// The stages, in order: `[[stages]]`.
    pub stages: Vec<Stage>,
    /// Other places to run the same plan, by name: `[environments.staging]` replaces vars
    /// and hosts when run with `cutover -e staging`, with a journal of its own.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, crate::environment::Environment>")]
    pub environments: Vec<crate::environment::Environment>,
    /// The environment the plan was loaded for (`cutover -e NAME`), if any.
    #[serde(skip)]
    #[schemars(skip)]
    pub environment: Option<String>,
    /// The journal its environment names, if any.
    #[serde(skip)]
    #[schemars(skip)]
    pub environment_journal: Option<String>,
    /// Directory of the plan file; relative paths in the plan are resolved against it.
    #[serde(skip)]
    pub dir: PathBuf,
    /// What the plan should change but still works (a deprecated spelling), each as
    /// `FILE:LINE:COL: message` with its help: printed by every command that reads it.
    #[serde(skip)]
    #[schemars(skip)]
    pub warnings: Vec<String>,
}

/// `[journal]`: where the run's durable state lives.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct JournalConfig {
    /// SQLite journal file (relative to the plan's directory); default: the plan file's name
    /// with `.journal.db`, next to it.
    pub path: Option<String>,
    /// A PostgreSQL journal a team shares, instead of the file:
    /// `postgres://USER:{{ secrets.NAME }}@HOST:PORT/DB?sslmode=verify-full` (the password
    /// only as a reference to a secret). `--journal URL` and `CUTOVER_JOURNAL` override it.
    #[schemars(with = "Option<String>")]
    pub url: Option<crate::journal_url::JournalUrl>,
}

impl JournalConfig {
    /// The fields `[journal]` accepts.
    pub const FIELDS: &'static [&'static str] = &["path", "url"];

    /// Reads `journal`: a URL string, or a table with `path` or `url`.
    fn read(value: &mut Value<'_>, p: &mut Problems) -> Option<Self> {
        if let ValueInner::String(text) = value.as_ref() {
            let url = read_url(text, value.span, p)?;
            return Some(JournalConfig {
                path: None,
                url: Some(url),
            });
        }
        let mut j = Fields::new(value, "[journal]", Self::FIELDS, p)?;
        let path = j.optional("path", p);
        let url_span = j.value_span("url");
        let url = j
            .optional::<String>("url", p)
            .zip(url_span)
            .and_then(|(text, span)| read_url(&text, span, p));
        j.finish(p);
        if let (Some(_), Some(span)) = (&path, url_span) {
            p.push(
                Problem::new(span, "`[journal]` has both `path` and `url`", "a second journal")
                    .help("keep `path` for a journal file next to the plan, or `url` for a shared PostgreSQL journal"),
            );
            return None;
        }
        Some(JournalConfig { path, url })
    }
}

/// The journal URL's password must name a declared secret.
fn unknown_journal_secret(
    url: &crate::journal_url::JournalUrl,
    secrets: &[Secret],
    span: crate::problem::Span,
    p: &mut Problems,
) {
    let Some(name) = &url.password_secret else {
        return;
    };
    if secrets.iter().any(|s| &s.name.value == name) {
        return;
    }
    let mut problem = Problem::new(
        span,
        format!("the journal URL's password is secret `{name}`, which is not declared"),
        "unknown secret",
    );
    problem = match crate::problem::did_you_mean(name, secrets.iter().map(|s| s.name.value.as_str())) {
        Some(near) => problem.help(format!("did you mean `{near}`?")),
        None => problem.help(format!(
            "declare it: `[secrets.{name}]` with `env = \"VAR\"`, `file = \"path\"` or `command = \"...\"`"
        )),
    };
    p.push(problem);
}

/// The forms `journal` takes, for the JSON Schema.
#[derive(schemars::JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum JournalSpec {
    /// A shared PostgreSQL journal's URL.
    Url(String),
    /// `[journal]`.
    Table(JournalConfig),
}

fn read_url(
    text: &str,
    span: crate::problem::Span,
    p: &mut Problems,
) -> Option<crate::journal_url::JournalUrl> {
    crate::journal_url::JournalUrl::parse(text)
        .map_err(|reason| {
            p.push(
                Problem::new(
                    span,
                    format!("the journal URL is invalid: {reason}"),
                    "this URL",
                )
                .help(format!("write it as {}", crate::journal_url::URL_FORM)),
            )
        })
        .ok()
}

/// `[ssh]`: options for every SSH host.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct SshConfig {
    /// An SSH config file to use instead of `~/.ssh/config` (relative to the plan's directory).
    pub config: Option<String>,
    /// Seconds to wait for a connection (default 10).
    pub connect_timeout: Option<u32>,
}

impl SshConfig {
    /// The fields `[ssh]` accepts.
    pub const FIELDS: &'static [&'static str] = &["config", "connect_timeout"];
}

impl Plan {
    /// The fields at the top of a plan file.
    pub const FIELDS: &'static [&'static str] = &[
        "name",
        "description",
        "journal",
        "ssh",
        "hosts",
        "secrets",
        "vars",
        "dns",
        "proxies",
        "checks",
        "downtime",
        "notify",
        "stages",
        "environments",
    ];

    /// Reads the whole document; `None` only when it is not a table. Parts with problems
    /// are recorded in `p` and left out.
    pub(crate) fn read(root: &mut Value<'_>, dir: PathBuf, p: &mut Problems) -> Option<Self> {
        let mut f = Fields::new(root, "the plan", Self::FIELDS, p)?;
        let name = f.required("name", p);
        let description = f.optional("description", p);
        let journal_span = f.value_span("journal");
        let journal = f
            .take_raw("journal")
            .and_then(|mut v| JournalConfig::read(&mut v, p))
            .unwrap_or_default();
        let ssh = f
            .take_raw("ssh")
            .and_then(|mut v| {
                let mut s = Fields::new(&mut v, "[ssh]", SshConfig::FIELDS, p)?;
                let c = SshConfig {
                    config: s.optional("config", p),
                    connect_timeout: s.int("connect_timeout", &limits::CONNECT_TIMEOUT, p),
                };
                s.finish(p);
                Some(c)
            })
            .unwrap_or_default();
        let root_span = f.span();
        let hosts = match f.take_raw("hosts") {
            Some(mut v) => named_table(&mut v, "`hosts`", p, Host::read),
            None => {
                p.push(
                    Problem::new(Span0::start(root_span), "the plan has no `[hosts]`", "no hosts")
                        .help("add at least one host, e.g. `[hosts.old]` with `ssh = \"root@old.example.com\"`"),
                );
                Vec::new()
            }
        };
        let secrets = f
            .take_raw("secrets")
            .map(|mut v| named_table(&mut v, "`secrets`", p, Secret::read))
            .unwrap_or_default();
        let vars = f.optional("vars", p).unwrap_or_default();
        if let (Some(url), Some(span)) = (&journal.url, journal_span) {
            unknown_journal_secret(url, &secrets, span, p);
        }
        let dns = f
            .take_raw("dns")
            .map(|mut v| named_table(&mut v, "`dns`", p, crate::traffic::DnsProvider::read))
            .unwrap_or_default();
        let proxies = f
            .take_raw("proxies")
            .map(|mut v| named_table(&mut v, "`proxies`", p, crate::traffic::Proxy::read))
            .unwrap_or_default();
        let checks = f
            .take_raw("checks")
            .map(|mut v| named_table(&mut v, "`checks`", p, Check::read))
            .unwrap_or_default();
        let notify = f
            .take_raw("notify")
            .map(|mut v| named_table(&mut v, "`notify`", p, crate::notify::Notifier::read))
            .unwrap_or_default();
        let downtime = f
            .take_raw("downtime")
            .and_then(|mut v| crate::checks::downtime::Downtime::read(&mut v, p));
        let stages = match f.take_raw("stages") {
            Some(mut v) => match v.take() {
                ValueInner::Array(items) => items
                    .into_iter()
                    .enumerate()
                    .filter_map(|(i, mut s)| Stage::read(i, &mut s, p))
                    .collect(),
                other => {
                    crate::read::wrong_type(
                        v.span,
                        "`stages`",
                        "an array of tables (`[[stages]]`)",
                        &other,
                        p,
                    );
                    Vec::new()
                }
            },
            None => {
                p.push(
                    Problem::new(Span0::start(root_span), "the plan has no stages", "no `[[stages]]`")
                        .help("add a stage with `[[stages]]`, `name = \"preflight\"`, and steps under `[[stages.steps]]`"),
                );
                Vec::new()
            }
        };
        let environments = f
            .take_raw("environments")
            .map(|mut v| {
                named_table(&mut v, "`environments`", p, |name, v, p| {
                    crate::environment::Environment::read(name, v, &vars, &hosts, p)
                })
            })
            .unwrap_or_default();
        f.finish(p);
        let mut stages = stages;
        crate::steps::resolve_var_lengths(&mut stages, &vars);
        // Without a name the plan is still returned (and rejected, the problem being
        // recorded) so that its cross-references are checked in the same pass.
        Some(Plan {
            name: name.unwrap_or_default(),
            description,
            journal,
            ssh,
            hosts,
            secrets,
            vars,
            dns,
            proxies,
            checks,
            downtime,
            notify,
            stages,
            environments,
            environment: None,
            environment_journal: None,
            dir,
            warnings: Vec::new(),
        })
    }

    /// The host named `name`.
    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts.iter().find(|h| h.name.value == name)
    }

    /// The secret named `name`.
    pub fn secret(&self, name: &str) -> Option<&Secret> {
        self.secrets.iter().find(|s| s.name.value == name)
    }

    /// The check named `name`.
    pub fn check(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.name.value == name)
    }

    /// The DNS provider named `name`.
    pub fn dns_provider(&self, name: &str) -> Option<&crate::traffic::DnsProvider> {
        self.dns.iter().find(|d| d.name.value == name)
    }

    /// The proxy named `name`.
    pub fn proxy(&self, name: &str) -> Option<&crate::traffic::Proxy> {
        self.proxies.iter().find(|x| x.name.value == name)
    }

    /// Every step with its stage, in run order.
    pub fn steps(&self) -> impl Iterator<Item = (&Stage, &crate::steps::Step)> {
        self.stages
            .iter()
            .flat_map(|s| s.steps.iter().map(move |st| (s, st)))
    }

    /// The step with id `id`.
    pub fn step(&self, id: &str) -> Option<&crate::steps::Step> {
        self.steps().map(|(_, s)| s).find(|s| s.id.value == id)
    }

    /// Output `name` that step `step` captures, if it declares one.
    pub fn output(&self, step: &str, name: &str) -> Option<&crate::steps::Output> {
        self.step(step)?.kind.outputs()?.get(name)
    }

    /// True when step `step` captures output `name` as a secret.
    pub fn is_secret_output(&self, step: &str, name: &str) -> bool {
        self.output(step, name).is_some_and(|o| o.secret)
    }

    /// The traffic switch that moves step `id` (a data switch) as part of one coordinated
    /// move (a `proxy.switch` listing it in `data`), if any: the step runs there.
    pub fn mover_of(&self, id: &str) -> Option<&crate::steps::Step> {
        self.steps().map(|(_, s)| s).find(|s| match &s.kind {
            crate::steps::StepKind::ProxySwitch(x) => x.data.iter().any(|d| d.value == id),
            _ => false,
        })
    }

    /// The journal file's path.
    /// In an environment, its own: the one it names, else the plan's with `.ENV` before the
    /// extension (`cutover.staging.journal.db`), so that environments never share a run.
    pub fn journal_path(&self, plan_file: &std::path::Path) -> PathBuf {
        if let Some(p) = &self.environment_journal {
            return self.dir.join(p);
        }
        let env = self
            .environment
            .as_deref()
            .map(|e| format!(".{e}"))
            .unwrap_or_default();
        match &self.journal.path {
            Some(p) => {
                let p = self.dir.join(p);
                match (env.is_empty(), p.extension().and_then(|x| x.to_str())) {
                    (true, _) => p,
                    (false, Some(ext)) => p.with_extension(format!("{}.{ext}", &env[1..])),
                    (false, None) => p.with_extension(&env[1..]),
                }
            }
            None => {
                let stem = plan_file
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or("cutover");
                self.dir.join(format!("{stem}{env}.journal.db"))
            }
        }
    }

    /// Resolves a path written in the plan against the plan's directory.
    pub fn resolve_path(&self, path: &std::path::Path) -> PathBuf {
        self.dir.join(path)
    }
}

/// Zero-width spans for problems about something absent.
struct Span0;
impl Span0 {
    fn start(s: crate::problem::Span) -> crate::problem::Span {
        crate::problem::Span::new(s.start, s.start)
    }
}
