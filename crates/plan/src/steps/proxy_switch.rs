//! `kind = "proxy.switch"`: point a reverse proxy (blue/green) at a new upstream once that
//! upstream answers its health check; the previous upstream is journaled and rollback puts it
//! back in one step.

use crate::limits;
use crate::problem::Problems;
use crate::read::{Fields, Spanned};
use crate::template::Template;
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
    ];

    pub(crate) fn read(f: &mut Fields<'_>, p: &mut Problems) -> Option<Self> {
        let proxy = f.required("proxy", p);
        let to = f.required("to", p);
        let health = f.optional("health", p);
        let health_timeout = f.duration("health_timeout", &limits::REQUEST_TIMEOUT, p);
        Some(ProxySwitchStep {
            proxy: proxy?,
            to: to?,
            health,
            health_timeout,
        })
    }
}
