//! `kind = "soak"`: a monitoring window after traffic moved. Probes run on an interval for a
//! duration (resumed after a restart, never restarted), Prometheus queries and log patterns
//! are watched, and the first trigger that fires ends the soak and rolls the traffic switch
//! back by itself.

use crate::checks::Names;
use crate::limits;
use crate::problem::{Problem, Problems};
use crate::read::{wrong_type, Fields, FromToml, Spanned};
use crate::steps::kind::Validate;
use crate::template::Template;
use crate::validate::StepCheck;
use std::time::Duration;
use toml_span::value::{Value, ValueInner};

/// Watches the named checks for `duration`; the first trigger that fires fails the step
/// with its evidence and (by default) rolls back the traffic switch.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct SoakStep {
    /// The checks probed on every tick (names from `[checks]`), one or a list.
    pub checks: Vec<Spanned<String>>,
    /// How long the window lasts (e.g. "30m", "48h", or `{{ vars.NAME }}`); a resumed run
    /// waits only for what is left.
    #[schemars(with = "String")]
    pub duration: Duration,
    /// The var `duration` was given as (`duration = "{{ vars.NAME }}"`), with its location.
    #[serde(skip)]
    #[schemars(skip)]
    pub duration_var: Option<Spanned<String>>,
    /// Time between probes (default "1s").
    #[schemars(with = "Option<String>")]
    pub interval: Option<Duration>,
    /// Conditions that end the soak as failed (default: any check failing 3 times in a row).
    #[serde(default)]
    pub triggers: Vec<Trigger>,
    /// Prometheus base URL for `prometheus` triggers, e.g. "http://127.0.0.1:9090".
    pub prometheus: Option<Template>,
    /// Log files tailed over SSH during the soak; lines matching a pattern are counted for
    /// `log_matches` triggers.
    #[serde(default)]
    pub logs: Vec<LogWatch>,
    /// What a fired trigger does: "rollback" (default: undo the traffic switch steps, then
    /// stop) or "stop" (stop the run for a human).
    pub on_failure: Option<String>,
    /// The steps (ids) to undo when a trigger fires (default: every applied `dns.switch` and
    /// `proxy.switch` step of the run).
    #[serde(default)]
    pub rollback: Vec<Spanned<String>>,
}

/// One SLO trigger: exactly one condition, optionally limited to one check.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct Trigger {
    /// The check it watches (default: each of the soak's checks).
    pub check: Option<Spanned<String>>,
    /// Fires when a check fails this many times in a row.
    pub consecutive_failures: Option<u32>,
    /// Fires when the share of failed probes over `over` exceeds this ("1%", or 0.01).
    #[schemars(with = "Option<crate::schema::Share>")]
    pub error_rate: Option<f64>,
    /// Fires when the median latency over `over` exceeds this (e.g. "300ms").
    #[schemars(with = "Option<String>")]
    pub p50: Option<Duration>,
    /// Fires when the 90th percentile latency over `over` exceeds this.
    #[schemars(with = "Option<String>")]
    pub p90: Option<Duration>,
    /// Fires when the 95th percentile latency over `over` exceeds this (e.g. "500ms").
    #[schemars(with = "Option<String>")]
    pub p95: Option<Duration>,
    /// Fires when the 99th percentile latency over `over` exceeds this.
    #[schemars(with = "Option<String>")]
    pub p99: Option<Duration>,
    /// Fires when this Prometheus expression returns any sample, like an alerting rule (a
    /// scalar: when non-zero), e.g. `sum(rate(app_requests_total{code=~"5.."}[1m])) > 0`.
    pub prometheus: Option<String>,
    /// Fires when the watched logs show this many matching lines within `over`.
    pub log_matches: Option<u32>,
    /// The sliding window for rates, percentiles and log counts (default "5m").
    #[schemars(with = "Option<String>")]
    pub over: Option<Duration>,
    /// Rates and percentiles are judged only once the window holds this many probes
    /// (default 10).
    pub min_samples: Option<u32>,
}

/// A log watched during the soak: a file tailed over SSH, a command that prints it, or a
/// Compose service's logs (`docker compose logs -f SERVICE`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct LogWatch {
    /// The host the log is on.
    pub host: Spanned<String>,
    /// A file on that host, followed like `tail -F` (or `command`, or `service`).
    pub path: Option<Template>,
    /// A command on that host whose output is the log, for logs that are not files:
    /// `journalctl -fu app` (or `path`, or `service`). It must keep running; one that ends is
    /// started again.
    pub command: Option<Template>,
    /// A Compose service whose logs are followed (`docker compose logs -f SERVICE`), with
    /// `project` or `deploy` (or `path`, or `command`).
    pub service: Option<String>,
    /// The service's Compose project name.
    pub project: Option<Spanned<String>>,
    /// A `compose.deploy` step (its id): the service of the colour it made live is followed.
    pub deploy: Option<Spanned<String>>,
    /// Text a line must contain to count (any of them), e.g. ["ERROR", "panic"].
    pub patterns: Vec<String>,
}

impl SoakStep {
    /// The fields a `soak` step accepts.
    pub const FIELDS: &'static [&'static str] = &[
        "id",
        "kind",
        "description",
        "checks",
        "duration",
        "interval",
        "triggers",
        "prometheus",
        "logs",
        "on_failure",
        "rollback",
    ];

    pub(crate) fn read(f: &mut Fields<'_>, p: &mut Problems) -> Option<Self> {
        let checks = f.required::<Names>("checks", p);
        let (duration, duration_var) = if f.present("duration", p) {
            crate::steps::var_length::read(f, "duration", &limits::WAIT, p)
        } else {
            (None, None)
        };
        // A var's length is filled in once the vars are known (`resolve_vars`).
        let duration = duration.or(duration_var.as_ref().map(|_| Duration::ZERO));
        let interval = f.duration("interval", &limits::INTERVAL, p);
        // Each trigger is kept when valid, so the others' references are still checked.
        let triggers = match f.take_raw("triggers") {
            Some(mut v) => each(&mut v, &format!("`triggers` of {}", f.owner()), p),
            None => Vec::new(),
        };
        let prometheus = f.optional("prometheus", p);
        // Like triggers: each watch is kept when valid, so the others are still checked; but
        // when none is, the step is left out of the cross-checks ("watches no log" would
        // mislead).
        let logs = match f.take_raw("logs") {
            Some(mut v) => {
                let problems_before = p.0.len();
                let logs = each::<LogWatch>(&mut v, &format!("`logs` of {}", f.owner()), p);
                (!logs.is_empty() || p.0.len() == problems_before).then_some(logs)
            }
            None => Some(Vec::new()),
        };
        let on_failure_span = f.value_span("on_failure");
        let on_failure: Option<String> = f.optional("on_failure", p);
        if let (Some(v), Some(span)) = (&on_failure, on_failure_span) {
            if v != "rollback" && v != "stop" {
                p.push(
                    Problem::new(span, format!("`on_failure` of {} must be \"rollback\" or \"stop\", not \"{v}\"", f.owner()), "unknown action")
                        .help("\"rollback\" undoes the traffic switch at once; \"stop\" leaves it to a human"),
                );
            }
        }
        let rollback = f
            .optional::<Names>("rollback", p)
            .map(|n| n.0)
            .unwrap_or_default();
        Some(SoakStep {
            checks: checks?.0,
            duration: duration?,
            duration_var,
            interval,
            triggers,
            prometheus,
            logs: logs?,
            on_failure,
            rollback,
        })
    }

    /// True when a fired trigger rolls the switch back (the default).
    pub fn rolls_back(&self) -> bool {
        self.on_failure.as_deref() != Some("stop")
    }
}

impl Trigger {
    /// The fields a trigger accepts.
    pub const FIELDS: &'static [&'static str] = &[
        "check",
        "consecutive_failures",
        "error_rate",
        "p50",
        "p90",
        "p95",
        "p99",
        "prometheus",
        "log_matches",
        "over",
        "min_samples",
    ];
    const CONDITIONS: &'static [&'static str] = &[
        "consecutive_failures",
        "error_rate",
        "p50",
        "p90",
        "p95",
        "p99",
        "prometheus",
        "log_matches",
    ];
}

impl FromToml for Trigger {
    fn read(value: &mut Value<'_>, what: &str, p: &mut Problems) -> Option<Self> {
        let mut f = Fields::new(value, what.to_string(), Self::FIELDS, p)?;
        let written: Vec<_> = Self::CONDITIONS
            .iter()
            .filter_map(|k| f.value_span(k))
            .collect();
        let t = Trigger {
            check: f.optional("check", p),
            consecutive_failures: f.int("consecutive_failures", &limits::COUNT, p),
            error_rate: f.optional::<Rate>("error_rate", p).map(|r| r.0),
            p50: f.duration("p50", &limits::LATENCY, p),
            p90: f.duration("p90", &limits::LATENCY, p),
            p95: f.duration("p95", &limits::LATENCY, p),
            p99: f.duration("p99", &limits::LATENCY, p),
            prometheus: f.optional("prometheus", p),
            log_matches: f.int("log_matches", &limits::COUNT, p),
            over: f.duration("over", &limits::WINDOW, p),
            min_samples: f.int("min_samples", &limits::COUNT, p),
        };
        let span = f.span();
        f.finish(p);
        let conditions = Self::CONDITIONS.join(", ");
        match written.len() {
            1 => Some(t),
            0 => {
                p.push(
                    Problem::new(span, format!("{what} has no condition"), "fires on what?")
                        .help(format!("set exactly one of: {conditions}")),
                );
                None
            }
            _ => {
                p.push(
                    Problem::new(
                        written[1],
                        format!("{what} has more than one condition"),
                        "a second condition",
                    )
                    .help("write one trigger per condition; any trigger that fires ends the soak"),
                );
                None
            }
        }
    }
}

impl FromToml for LogWatch {
    fn read(value: &mut Value<'_>, what: &str, p: &mut Problems) -> Option<Self> {
        let mut f = Fields::new(
            value,
            what.to_string(),
            &[
                "host", "path", "command", "service", "project", "deploy", "patterns",
            ],
            p,
        )?;
        let span = f.span();
        let host = f.required("host", p);
        let path: Option<Template> = f.optional("path", p);
        let command: Option<Template> = f.optional("command", p);
        let service: Option<String> = f.optional("service", p);
        let project: Option<Spanned<String>> = f.optional("project", p);
        let deploy: Option<Spanned<String>> = f.optional("deploy", p);
        let patterns = f.required("patterns", p);
        f.finish(p);
        let sources = [path.is_some(), command.is_some(), service.is_some()]
            .into_iter()
            .filter(|s| *s)
            .count();
        let problem = match (sources, &service, project.is_some(), deploy.is_some()) {
            (0, ..) => Some(("no log", "give a file (`path = \"/var/log/app.log\"`), a command that follows the log (`command = \"journalctl -fu app\"`), or a Compose service (`service = \"web\"` with `project` or `deploy`)")),
            (2.., ..) => Some(("more than one log at once", "keep one of `path`, `command` or `service`: a watch follows one log (add another watch for the next)")),
            (1, Some(_), false, false) => Some(("a service without its project", "add `project = \"NAME\"` (the compose project), or `deploy = \"STEP\"` to follow the colour a compose.deploy step made live")),
            (1, Some(_), true, true) => Some(("a Compose service named twice over", "use `project` or `deploy` with `service`, not both")),
            (1, None, true, _) | (1, None, _, true) => Some(("`project` or `deploy` without a service", "add `service = \"web\"`, or drop `project`/`deploy`: they name whose logs a service watch follows")),
            _ => None,
        };
        if let Some((what_is_wrong, help)) = problem {
            p.push(
                Problem::new(
                    span,
                    format!("{what} watches {what_is_wrong}"),
                    what_is_wrong,
                )
                .help(help),
            );
            return None;
        }
        Some(LogWatch {
            host: host?,
            path,
            command,
            service,
            project,
            deploy,
            patterns: patterns?,
        })
    }
}

/// The valid items of an array (each invalid one is reported by itself).
fn each<T: FromToml>(value: &mut Value<'_>, what: &str, p: &mut Problems) -> Vec<T> {
    match value.take() {
        ValueInner::Array(items) => items
            .into_iter()
            .enumerate()
            .filter_map(|(i, mut v)| T::read(&mut v, &format!("item {} of {what}", i + 1), p))
            .collect(),
        other => {
            wrong_type(value.span, what, "an array of tables", &other, p);
            Vec::new()
        }
    }
}

/// A share: "1%", "0.5 %", or a fraction such as 0.01.
struct Rate(f64);

impl FromToml for Rate {
    fn read(value: &mut Value<'_>, what: &str, p: &mut Problems) -> Option<Self> {
        let span = value.span;
        let rate = match value.take() {
            ValueInner::String(s) => s
                .trim()
                .strip_suffix('%')
                .and_then(|n| n.trim().parse::<f64>().ok())
                .map(|n| n / 100.0),
            ValueInner::Float(f) => Some(f),
            ValueInner::Integer(0) => Some(0.0),
            other @ ValueInner::Integer(_) => {
                wrong_type(
                    span,
                    what,
                    "a percentage such as \"1%\" or a fraction such as 0.01",
                    &other,
                    p,
                );
                return None;
            }
            other => {
                wrong_type(span, what, "a percentage such as \"1%\"", &other, p);
                return None;
            }
        };
        match rate {
            Some(r) if (0.0..=1.0).contains(&r) => Some(Rate(r)),
            _ => {
                p.push(
                    Problem::new(
                        span,
                        format!("{what} must be a share between 0% and 100%"),
                        "not a share",
                    )
                    .help("write it as \"1%\" or as the fraction 0.01"),
                );
                None
            }
        }
    }
}

impl SoakStep {
    /// Fills in a `duration` given as a var from `vars` (the plan's, or an environment's).
    pub(crate) fn resolve_vars(&mut self, vars: &std::collections::BTreeMap<String, String>) {
        if let Some(reference) = &self.duration_var {
            self.duration = crate::steps::var_length::resolve(reference, vars, &limits::WAIT)
                .unwrap_or(Duration::ZERO);
        }
    }
}

impl Validate for SoakStep {
    fn validate(&self, c: &StepCheck<'_>, p: &mut Problems) {
        if let Some(reference) = &self.duration_var {
            crate::steps::var_length::check(c, "duration", reference, &limits::WAIT, p);
        }
        crate::checks::validate::soak(c, self, c.earlier, c.id, p);
    }
}
