//! `kind = "compose.deploy"`: a blue/green release of a Compose project. The new colour
//! (`PROJECT-blue` or `PROJECT-green`, whichever the proxy does not send traffic to) starts
//! next to the live one on its own published port, is gated on its healthchecks, the plan's
//! checks and `GET health`, and the proxy is switched to it (the `proxy.switch` logic); the
//! old colour keeps running, so a rollback (a failed soak, `cutover rollback`) is one switch
//! back, then a `compose.retire` step stops it.

use super::compose_project::ComposeProject;
use crate::limits;
use crate::problem::{Problem, Problems};
use crate::read::{wrong_type, Fields, FromToml, Spanned};
use crate::steps::kind::Validate;
use crate::template::Template;
use crate::validate::StepCheck;
use std::time::Duration;
use toml_span::value::Value;

/// Each colour's published port: `ports = { blue = 18081, green = 18082 }`. A colour's
/// compose files publish it through `${CUTOVER_PORT}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct ColourPorts {
    /// The blue colour's port.
    pub blue: u16,
    /// The green colour's port.
    pub green: u16,
}

impl FromToml for ColourPorts {
    fn read(value: &mut Value<'_>, what: &str, p: &mut Problems) -> Option<Self> {
        let span = value.span;
        if value.as_table().is_none() {
            let other = value.take();
            wrong_type(
                span,
                what,
                "a table `{ blue = PORT, green = PORT }`",
                &other,
                p,
            );
            return None;
        }
        let mut f = Fields::new(value, what.to_string(), &["blue", "green"], p)?;
        let (has_blue, has_green) = (f.present("blue", p), f.present("green", p));
        let blue = f.int("blue", &limits::PORT, p);
        let green = f.int("green", &limits::PORT, p);
        f.finish(p);
        if !(has_blue && has_green) {
            return None;
        }
        let ports = ColourPorts {
            blue: blue?,
            green: green?,
        };
        Some(ports)
    }
}

/// Each colour's own address: `addresses = { blue = "10.0.0.21", green = "10.0.0.22" }`,
/// for proxies that switch by address alone (`dns-name`: the port is the proxy's). A
/// colour's compose files publish on it through `${CUTOVER_ADDRESS}`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct ColourAddresses {
    /// The blue colour's address.
    pub blue: Template,
    /// The green colour's address.
    pub green: Template,
}

impl FromToml for ColourAddresses {
    fn read(value: &mut Value<'_>, what: &str, p: &mut Problems) -> Option<Self> {
        let span = value.span;
        if value.as_table().is_none() {
            let other = value.take();
            wrong_type(
                span,
                what,
                "a table `{ blue = ADDRESS, green = ADDRESS }`",
                &other,
                p,
            );
            return None;
        }
        let mut f = Fields::new(value, what.to_string(), &["blue", "green"], p)?;
        let blue = f.required("blue", p);
        let green = f.required("green", p);
        f.finish(p);
        Some(ColourAddresses {
            blue: blue?,
            green: green?,
        })
    }
}

/// Deploys a new release of `project` next to the live one and moves `proxy` to it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct ComposeDeployStep {
    /// The project (its colours are `PROJECT-blue` and `PROJECT-green`), files, `.env`
    /// values, pull policy and gates. Each colour's env file also gets `CUTOVER_COLOR`
    /// (`blue`/`green`) and `CUTOVER_PORT` (its port).
    #[serde(flatten)]
    pub project: Box<ComposeProject>,
    /// The proxy (a name from `[proxies]`) whose upstream moves to the new colour.
    pub proxy: Spanned<String>,
    /// Each colour's published port (one port for both is fine with `addresses`).
    pub ports: ColourPorts,
    /// How the proxy reaches the colours' ports (default: the host's `address`); the
    /// upstream is `ADDRESS:PORT`.
    pub address: Option<Template>,
    /// Each colour's own address instead of `address` (then both may use one port).
    pub addresses: Option<ColourAddresses>,
    /// The path the new colour must answer with 2xx/3xx before the switch (default "/").
    pub health: Option<String>,
    /// How long that request may take (default "3s").
    #[schemars(with = "Option<String>")]
    pub health_timeout: Option<Duration>,
    /// How long a rolled-back colour keeps serving the requests it has before it is stopped
    /// (default "5s").
    #[schemars(with = "Option<String>")]
    pub drain: Option<Duration>,
}

impl ComposeDeployStep {
    /// The fields a `compose.deploy` step accepts.
    pub const FIELDS: &'static [&'static str] = &[
        "id",
        "kind",
        "description",
        "host",
        "dir",
        "project",
        "files",
        "upload",
        "env",
        "services",
        "pull",
        "build",
        "checks",
        "wait_timeout",
        "deadline",
        "proxy",
        "ports",
        "address",
        "addresses",
        "health",
        "health_timeout",
        "drain",
    ];

    pub(crate) fn read(f: &mut Fields<'_>, p: &mut Problems) -> Option<Self> {
        let project = ComposeProject::read(f, p);
        let proxy = f.required("proxy", p);
        let span = f.value_span("ports").unwrap_or(f.span());
        let ports = f.required("ports", p);
        let address: Option<Template> = f.optional("address", p);
        let addresses: Option<ColourAddresses> = f.optional("addresses", p);
        let health = f.optional("health", p);
        let health_timeout = f.duration("health_timeout", &limits::REQUEST_TIMEOUT, p);
        let drain = f.duration("drain", &limits::WAIT, p);
        let owner = f.owner().to_string();
        if let (Some(a), Some(_)) = (&address, &addresses) {
            p.push(
                Problem::new(a.span, format!("{owner} has both `address` and `addresses`"), "one or the other")
                    .help("keep `address` for one address with a port per colour, or `addresses` for an address per colour"),
            );
            return None;
        }
        let ports: Option<ColourPorts> = ports;
        if let Some(ports) = &ports {
            if ports.blue == ports.green && addresses.is_none() {
                p.push(
                    Problem::new(span, format!("`ports` of {owner} gives both colours port {}", ports.blue), "same port")
                        .help("the colours run side by side: give each its own port, or each its own address with `addresses`"),
                );
                return None;
            }
        }
        Some(ComposeDeployStep {
            project: Box::new(project?),
            proxy: proxy?,
            ports: ports?,
            address,
            addresses,
            health,
            health_timeout,
            drain,
        })
    }
}

/// Cross-reference checks: the project's (the proxy is checked with the traffic sections).
impl Validate for ComposeDeployStep {
    fn validate(&self, check: &StepCheck<'_>, p: &mut Problems) {
        self.project.validate(check, p);
        if let Some(a) = &self.address {
            check.command("address", a, p);
        }
        if let Some(a) = &self.addresses {
            check.command("addresses", &a.blue, p);
            check.command("addresses", &a.green, p);
        }
    }
}
