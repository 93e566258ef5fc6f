//! Blue/green releases behind HAProxy under keep-alive clients: not one connection broken
//! under a client when the old colour is stopped, by `compose.retire` or by the rollback of
//! a `compose.deploy`.

use crate::compose_fixture::{app_compose, DockerLab, PlanDir};
use crate::keepalive_load::{KeepAliveLoad, Tally};
use cutover_testbed::proxy::{start_haproxy, Proxy};
use std::time::Duration;

/// The drain of both steps. Emptying HAProxy's kept connections
/// takes a few flips 20 ms apart, each a handful of processes on the proxy's host: 1 s ran
/// out once (1 connection left) with the whole suite loading the 2 cores, and the test is
/// about emptying, not about how fast a loaded host does it.
const DRAIN: &str = "3s";

fn retire() -> String {
    format!(
        r#"[[stages.steps]]
id = "retire"
kind = "compose.retire"
deploy = "release"
drain = "{DRAIN}""#
    )
}

fn release(socket: &str, version: &str, more: &str) -> String {
    format!(
        r#"[proxies.front]
kind = "haproxy"
host = "new"
socket = "{socket}"
backend = "app"
server = "web"
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
ports = {{ blue = 18081, green = 18082 }}
health = "/readyz"
wait_timeout = "30s"
drain = "{DRAIN}"
{more}
"#
    )
}

/// HAProxy on new in front of the old host's app, then release 1 (blue) live.
struct Stage {
    d: DockerLab,
    proxy: Proxy,
    _old_app: cutover_testbed::app::AppProcess,
}

impl Stage {
    fn start() -> Stage {
        let d = DockerLab::start(&["new"]);
        d.app_image("new", "app:1", "1");
        d.app_image("new", "app:2", "2");
        let old_app = cutover_testbed::app::start_on(d.lab.host("old"), 8080).unwrap();
        let proxy = start_haproxy(d.lab.host("new"), 8000, old_app.addr).unwrap();
        let stage = Stage {
            d,
            proxy,
            _old_app: old_app,
        };
        stage.plan("1", "").run(&["apply", "--yes"], &[]).expect(0);
        stage
    }

    fn plan(&self, version: &str, more: &str) -> PlanDir {
        self.d.plan(
            &release(&self.proxy.control, version, more),
            &[("app.yaml", &app_compose("${CUTOVER_PORT}"))],
        )
    }

    /// `cutover ARGS` on `plan` while twenty keep-alive clients are busy through the proxy:
    /// what it printed and what the clients saw.
    fn under_load(&self, plan: &PlanDir, args: &[&str]) -> (String, Tally) {
        let load = KeepAliveLoad::start(&self.proxy.listen.to_string(), 20);
        std::thread::sleep(Duration::from_secs(1));
        let out = plan.run(args, &[]).expect(0).stdout();
        std::thread::sleep(Duration::from_millis(500));
        (out, load.stop())
    }

    fn answer(&self) -> String {
        DockerLab::get(&self.proxy.listen.to_string(), "/").1
    }

    /// Asserts HAProxy is left as the plan set it up: server `web` alone, not draining
    /// (the drain's stand-in server removed).
    fn assert_servers_as_before(&self) {
        let state = self
            .d
            .lab
            .host("new")
            .exec_ok(&format!(
                "echo 'show servers state app' | socat -t5 stdio UNIX-CONNECT:{}",
                self.proxy.control
            ))
            .unwrap();
        let header: Vec<&str> = state
            .lines()
            .find(|l| l.starts_with("# be_id"))
            .expect("header")
            .trim_start_matches('#')
            .split_whitespace()
            .collect();
        let rows: Vec<Vec<&str>> = state
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .filter(|fields| fields.len() == header.len())
            .collect();
        let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
        let names: Vec<&str> = rows.iter().map(|r| r[col("srv_name")]).collect();
        assert_eq!(names, ["web"], "{state}");
        assert_eq!(
            rows[0][col("srv_admin_state")],
            "0",
            "web is not ready: {state}"
        );
    }
}

fn assert_no_failure(tally: &Tally, out: &str) {
    assert!(tally.ok > 1000, "the load hardly ran: {tally:?}");
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

/// Regression: HAProxy kept every server connection busy at the switch and reused it, to
/// the old colour, until `compose.retire` stopped that colour: each one with a request in
/// flight broke under its client (19-20 of 20 here; 125 wrk socket errors over the bench's
/// 10 releases). The retire now makes HAProxy drop them before the stop.
#[test]
fn a_release_behind_haproxy_breaks_no_keep_alive_connection() {
    let stage = Stage::start();
    let plan = stage.plan("2", &retire());
    let (out, tally) = stage.under_load(&plan, &["apply", "--yes"]);
    assert!(
        out.contains("holds no connection to it (none left after"),
        "{out}"
    );
    assert_no_failure(&tally, &out);
    stage.assert_servers_as_before();
    assert_eq!(stage.answer(), "hello from green\n");
}

/// The same for the way back: the rollback of a release switches to the previous colour
/// and makes HAProxy drop what it kept to the new one before taking it down.
#[test]
fn rolling_a_release_back_behind_haproxy_breaks_no_keep_alive_connection() {
    let stage = Stage::start();
    let plan = stage.plan("2", "");
    plan.run(&["apply", "--yes"], &[]).expect(0);
    assert_eq!(stage.answer(), "hello from green\n");
    let (out, tally) = stage.under_load(&plan, &["rollback", "--yes"]);
    assert!(
        out.contains("holds no connection to it (none left after"),
        "{out}"
    );
    assert_no_failure(&tally, &out);
    stage.assert_servers_as_before();
    assert_eq!(stage.answer(), "hello from blue\n");
}
