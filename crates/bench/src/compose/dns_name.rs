//! The `dns-name` front of the releases: Caddy on new following a name (`dynamic_upstreams`
//! source `a`, re-resolved every 200 ms) served by BIND on new, the colours published on one
//! port at two spare addresses of new (`compose.deploy`'s `addresses`). A switch updates the
//! A record; Caddy's configuration never changes, so no reload closes wrk's connections.

use cutover_testbed::dns::{BindPair, TsigKey, Zone};
use cutover_testbed::{proxy, LabHost};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

/// The name Caddy resolves its upstream by.
const RECORD: &str = "app.cutover.internal";
/// The port both colours publish and Caddy dials (the old host's app listens on it too).
pub(crate) const APP_PORT: u16 = 8080;
/// How often Caddy re-resolves the name.
const REFRESH: Duration = Duration::from_millis(200);
/// The variable the plan's TSIG secret comes from.
pub(crate) const SECRET_ENV: &str = "BENCH_TSIG_SECRET";

/// Caddy and BIND on new, the record on `first` (the old host's app); the servers stay up
/// while this lives.
pub(crate) struct DnsFront {
    pub proxy: proxy::Proxy,
    pub key: TsigKey,
    dns: Ipv4Addr,
    colours: [Ipv4Addr; 2],
    _bind: BindPair,
}

impl DnsFront {
    /// Starts the front on `new` at `port`, sending traffic to `first` at first.
    pub fn start(new: &LabHost, port: u16, first: Ipv4Addr) -> anyhow::Result<DnsFront> {
        let colours = [new.add_address(1)?, new.add_address(2)?];
        let key = TsigKey::generate("cutover")?;
        let zone = Zone::new("cutover.internal", 1).record_ttl("app", "A", &first.to_string(), 1);
        let bind = BindPair::start(new, None, &[zone], &key)?;
        let resolver: SocketAddr = bind.primary.socket().parse()?;
        let proxy = proxy::start_caddy_dynamic(new, port, RECORD, APP_PORT, resolver, REFRESH)?;
        Ok(DnsFront {
            proxy,
            key,
            dns: bind.primary.address,
            colours,
            _bind: bind,
        })
    }

    /// The plan's `[secrets]`, `[dns]` and `[proxies.front]` sections.
    pub fn section(&self) -> String {
        format!(
            r#"[secrets.tsig]
env = "{SECRET_ENV}"
[dns.internal]
provider = "rfc2136"
server = "{dns}"
zones = ["cutover.internal"]
tsig_key = "cutover"
tsig_secret = "tsig"
[proxies.front]
kind = "dns-name"
host = "new"
dns = "internal"
record = "{RECORD}"
port = {APP_PORT}
settle = "{settle}ms"
"#,
            dns = self.dns,
            // Caddy's refresh interval plus a margin.
            settle = (REFRESH + Duration::from_millis(150)).as_millis(),
        )
    }

    /// The deploy step's colour lines: one port, an address per colour.
    pub fn colours(&self) -> String {
        let [blue, green] = self.colours;
        format!(
            "ports = {{ blue = {APP_PORT}, green = {APP_PORT} }}\naddresses = {{ blue = \"{blue}\", green = \"{green}\" }}"
        )
    }
}
