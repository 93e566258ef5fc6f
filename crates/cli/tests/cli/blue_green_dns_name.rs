//! Blue/green releases behind Caddy as a `dns-name` proxy: each colour publishes the same
//! port on an address of its own (`addresses`), and the switch is the A record of the name
//! Caddy re-resolves, so Caddy's configuration never changes and no reload closes the
//! clients' keep-alive connections (a switch through Caddy's admin API does).

use crate::compose_fixture::{app_compose, DockerLab, PlanDir};
use crate::keepalive_load::{KeepAliveLoad, Tally};
use cutover_testbed::dns::{BindPair, TsigKey, Zone};
use cutover_testbed::proxy::{start_caddy_dynamic, Proxy};
use std::net::Ipv4Addr;
use std::time::Duration;

/// The name Caddy resolves its upstream by.
const RECORD: &str = "app.cutover.internal";
/// The port both colours publish (on their own addresses) and Caddy dials.
const APP_PORT: u16 = 8080;

fn release(dns: Ipv4Addr, colours: [Ipv4Addr; 2], version: &str) -> String {
    let [blue, green] = colours;
    format!(
        r#"[secrets.tsig]
env = "TEST_TSIG_SECRET"
[dns.internal]
provider = "rfc2136"
server = "{dns}"
zones = ["cutover.internal"]
tsig_key = "cutover"
tsig_secret = "tsig"
[proxies.front]
kind = "dns-name"
host = "old"
dns = "internal"
record = "{RECORD}"
port = {APP_PORT}
settle = "500ms"
[[stages]]
name = "release"
[[stages.steps]]
id = "release"
kind = "compose.deploy"
host = "new"
dir = "/srv/shop"
project = "shop"
files = ["app.yaml"]
upload = ["app.yaml"]
env = {{ APP_VERSION = "{version}" }}
proxy = "front"
ports = {{ blue = {APP_PORT}, green = {APP_PORT} }}
addresses = {{ blue = "{blue}", green = "{green}" }}
health = "/readyz"
wait_timeout = "30s"
drain = "1s"
"#
    )
}

/// Caddy and BIND on old in front of old's own app, the colours on new's two spare
/// addresses, then release 1 (blue) live.
struct Stage {
    key: TsigKey,
    colours: [Ipv4Addr; 2],
    dns: Ipv4Addr,
    // Servers before the lab: they stop before it is torn down.
    proxy: Proxy,
    _bind: BindPair,
    _old_app: cutover_testbed::app::AppProcess,
    d: DockerLab,
}

impl Stage {
    fn start() -> Stage {
        let d = DockerLab::start(&["new"]);
        d.app_image("new", "app:1", "1");
        d.app_image("new", "app:2", "2");
        let new = d.lab.host("new");
        let colours = [new.add_address(1).unwrap(), new.add_address(2).unwrap()];
        let old = d.lab.host("old");
        let old_app = cutover_testbed::app::start_on(old, APP_PORT).unwrap();
        let key = TsigKey::generate("cutover").unwrap();
        let zone =
            Zone::new("cutover.internal", 1).record_ttl("app", "A", &old.address().to_string(), 1);
        let bind = BindPair::start(old, None, &[zone], &key).unwrap();
        let resolver = bind.primary.socket().parse().unwrap();
        let refresh = Duration::from_millis(200);
        let proxy = start_caddy_dynamic(old, 80, RECORD, APP_PORT, resolver, refresh).unwrap();
        let stage = Stage {
            dns: bind.primary.address,
            d,
            key,
            colours,
            proxy,
            _bind: bind,
            _old_app: old_app,
        };
        assert_eq!(stage.answer(), "hello from old\n");
        stage.run(&stage.plan("1"), &["apply", "--yes"]);
        assert_eq!(stage.answer(), "hello from blue\n");
        stage
    }

    fn plan(&self, version: &str) -> PlanDir {
        self.d.plan(
            &release(self.dns, self.colours, version),
            &[(
                "app.yaml",
                &app_compose("${CUTOVER_ADDRESS}:${CUTOVER_PORT}"),
            )],
        )
    }

    fn run(&self, plan: &PlanDir, args: &[&str]) -> String {
        plan.run(args, &[("TEST_TSIG_SECRET", &self.key.secret)])
            .expect(0)
            .stdout()
    }

    /// `cutover ARGS` on `plan` while twenty keep-alive clients are busy through Caddy:
    /// what it printed and what the clients saw.
    fn under_load(&self, plan: &PlanDir, args: &[&str]) -> (String, Tally) {
        let load = KeepAliveLoad::start(&self.proxy.listen.to_string(), 20);
        std::thread::sleep(Duration::from_secs(1));
        let out = self.run(plan, args);
        std::thread::sleep(Duration::from_millis(500));
        (out, load.stop())
    }

    fn answer(&self) -> String {
        DockerLab::get(&self.proxy.listen.to_string(), "/").1
    }

    /// The containers running on new, sorted.
    fn containers(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .d
            .sh("new", "ps --format '{{.Names}}'")
            .lines()
            .map(str::to_string)
            .collect();
        names.sort();
        names
    }
}

fn assert_no_failure(tally: &Tally, out: &str) {
    assert!(tally.ok > 500, "the load hardly ran: {tally:?}");
    assert!(
        tally.failures.is_empty(),
        "{} of {} requests failed under keep-alive clients:\n{}\n{out}",
        tally.failures.len(),
        tally.ok + tally.failures.len() as u64,
        tally
            .failures
            .iter()
            .map(|f| f.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// A release and its rollback behind Caddy following a DNS name, the colours told apart by
/// address alone (one port for both): not one request failed and not one keep-alive
/// connection broken under twenty clients, either way.
#[test]
fn a_release_and_its_rollback_behind_a_dns_name_caddy_break_no_keep_alive_connection() {
    let stage = Stage::start();
    let [blue, green] = stage.colours;
    let plan = stage.plan("2");
    let shown = stage.run(&plan, &["plan"]);
    assert!(
        shown.contains(&format!(
            "(shop-blue on {blue}:{APP_PORT}, shop-green on {green}:{APP_PORT})"
        )),
        "{shown}"
    );

    let (out, tally) = stage.under_load(&plan, &["apply", "--yes"]);
    assert_no_failure(&tally, &out);
    assert_eq!(stage.answer(), "hello from green\n");
    assert_eq!(
        DockerLab::get(&format!("{green}:{APP_PORT}"), "/").1,
        "hello from green\n",
        "green publishes on its own address"
    );
    assert_eq!(stage.containers(), ["shop-blue-web-1", "shop-green-web-1"]);

    let (out, tally) = stage.under_load(&plan, &["rollback", "--yes"]);
    assert_no_failure(&tally, &out);
    assert_eq!(stage.answer(), "hello from blue\n");
    assert_eq!(stage.containers(), ["shop-blue-web-1"], "green taken down");
}
