//! `kind = "proxy.switch"`: point a reverse proxy (blue/green) at a new upstream once that
//! upstream answers its health check; the previous upstream is journaled and rollback puts it
//! back in one step.

use crate::limits;
use crate::problem::{Problem, Problems};
use crate::read::{Fields, Spanned};
use crate::steps::kind::{Role, Validate};
use crate::template::Template;
use crate::validate::StepCheck;
use std::time::Duration;

/// Switches `proxy` to the upstream `to`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct ProxySwitchStep {
    /// The proxy (a name from `[proxies]`).
    pub proxy: Spanned<String>,
    /// The new upstream, `address:port` (e.g. "{{ hosts.new.address }}:8080").
    pub to: Template,
    /// The path the new upstream must answer with 2xx/3xx before the switch (default "/").
    pub health: Option<String>,
    /// How long the health check may take (default "3s").
    #[schemars(with = "Option<String>")]
    pub health_timeout: Option<Duration>,
    /// Data switches (ids of earlier steps of this stage, e.g. a `postgres.switch`) made
    /// as one move with this traffic switch: requests are held at the proxy, the requests
    /// in flight on the old upstream finish (`drain`), the data switches run, the proxy is
    /// pointed at `to`, and the held requests are released to it. Clients see latency, not
    /// errors; a rollback makes the same move backwards. The listed steps run here, not at
    /// their own place.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub data: Vec<Spanned<String>>,
    /// The longest a request is held during the move (default "10s"); a move that takes
    /// longer is undone.
    #[schemars(with = "Option<String>")]
    pub max_hold: Option<Duration>,
    /// How long requests in flight on the old upstream get to finish once new ones are held,
    /// before the data switches begin (default "500ms").
    #[schemars(with = "Option<String>")]
    pub drain: Option<Duration>,
}

impl ProxySwitchStep {
    /// The fields a `proxy.switch` step accepts.
    pub const FIELDS: &'static [&'static str] = &[
        "id",
        "kind",
        "description",
        "proxy",
        "to",
        "health",
        "health_timeout",
        "data",
        "max_hold",
        "drain",
    ];

    pub(crate) fn read(f: &mut Fields<'_>, p: &mut Problems) -> Option<Self> {
        let proxy = f.required("proxy", p);
        let to = f.required("to", p);
        let health = f.optional("health", p);
        let health_timeout = f.duration("health_timeout", &limits::REQUEST_TIMEOUT, p);
        let data = crate::checks::read_names(f, "data", p);
        let max_hold = f.duration("max_hold", &limits::REQUEST_TIMEOUT, p);
        let drain = f.duration("drain", &limits::SETTLE, p);
        Some(ProxySwitchStep {
            proxy: proxy?,
            to: to?,
            health,
            health_timeout,
            data,
            max_hold,
            drain,
        })
    }

    /// The longest a request is held during a coordinated move.
    pub fn max_hold(&self) -> Duration {
        self.max_hold.unwrap_or(Duration::from_secs(10))
    }

    /// How long requests in flight on the old upstream get to finish.
    pub fn drain(&self) -> Duration {
        self.drain.unwrap_or(Duration::from_millis(500))
    }
}

/// The proxy itself is checked with the traffic sections (`crate::traffic::validate`); the
/// data switches of a coordinated move here.
impl Validate for ProxySwitchStep {
    fn validate(&self, c: &StepCheck<'_>, p: &mut Problems) {
        let stage_of = |id: &str| {
            c.plan
                .stages
                .iter()
                .position(|st| st.steps.iter().any(|s| s.id.value == id))
        };
        let here = stage_of(&c.id.value);
        for d in &self.data {
            if c.dropped(&d.value) {
                continue;
            }
            let Some(step) = c.plan.step(&d.value) else {
                p.push(
                    Problem::new(
                        d.span,
                        format!("{} moves `{}` with its traffic, but there is no such step", c.owner, d.value),
                        "unknown step",
                    )
                    .help("name the id of a data switch (e.g. a `postgres.switch` step) placed before this step in the same stage"),
                );
                continue;
            };
            let problem = if !step.kind.kind().is(Role::DataSwitch) {
                Some(format!(
                    "`{}` is a `{}` step, not a data switch",
                    d.value,
                    step.kind.name()
                ))
            } else if stage_of(&d.value) != here || !c.earlier.contains_key(d.value.as_str()) {
                Some(format!(
                    "`{}` must come before {} in the same stage",
                    d.value, c.owner
                ))
            } else {
                None
            };
            let problem = problem.or_else(|| match &step.kind {
                crate::steps::StepKind::PostgresSwitch(x) if !x.reverse => Some(format!(
                    "`{}` is moved with the traffic, so a rollback moves it back: it needs `reverse = true` (writes made on new flow back to old)",
                    d.value
                )),
                crate::steps::StepKind::PostgresSwitch(x)
                    if x.max_wait.unwrap_or(Duration::from_secs(30)) >= self.max_hold() =>
                {
                    Some(format!(
                        "`{}` may wait {} for the target to catch up, longer than the move holds requests ({}): set its `max_wait` below the move's `max_hold`",
                        d.value,
                        humantime::format_duration(x.max_wait.unwrap_or(Duration::from_secs(30))),
                        humantime::format_duration(self.max_hold())
                    ))
                }
                _ => None,
            });
            if let Some(message) = problem {
                p.push(
                    Problem::new(d.span, message, "not a data switch before this step")
                        .help("list data switches (postgres.switch...) placed just before this step, in its stage"),
                );
            }
            let others: Vec<&str> = c
                .plan
                .steps()
                .filter(|(_, s)| s.id.value != c.id.value)
                .filter(|(_, s)| match &s.kind {
                    crate::steps::StepKind::ProxySwitch(x) => {
                        x.data.iter().any(|n| n.value == d.value)
                    }
                    _ => false,
                })
                .map(|(_, s)| s.id.value.as_str())
                .collect();
            if let Some(other) = others.first() {
                p.push(
                    Problem::new(
                        d.span,
                        format!(
                            "`{}` is moved by both {} and step `{other}`",
                            d.value, c.owner
                        ),
                        "moved twice",
                    )
                    .help("a data switch belongs to one coordinated move"),
                );
            }
        }
        if !self.data.is_empty() {
            if let Some(x) = c.plan.proxy(&self.proxy.value) {
                if x.kind.value == crate::traffic::ProxyKind::DnsName {
                    p.push(
                        Problem::new(
                            self.data[0].span,
                            format!("{}: a `dns-name` proxy cannot hold requests (its upstream is a DNS name with a fixed port)", c.owner),
                            "cannot hold",
                        )
                        .help("use a caddy, haproxy or nginx proxy for a coordinated move, or switch the data and the traffic in separate steps"),
                    );
                }
            }
        }
    }
}
