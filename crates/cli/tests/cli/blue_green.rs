//! `compose.deploy` end to end: blue/green releases behind HAProxy on a lab host, the soak
//! rolling a failing colour back (one switch back to the previous release), `compose.retire`
//! and its undo, and a release whose gate fails before any switch.

use crate::compose_fixture::{app_compose, DockerLab, PlanDir};
use cutover_testbed::proxy::{start_haproxy, Proxy};
use std::time::{Duration, Instant};

fn deploy(version: &str, extra_steps: &str, health: &str) -> String {
    format!(
        r#"[proxies.front]
kind = "haproxy"
host = "new"
socket = "/tmp/cutover-haproxy/admin.sock"
backend = "app"
server = "web"
[checks.users]
kind = "http"
url = "http://{{{{ hosts.new.address }}}}:8000/readyz"
timeout = "1s"
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
health = "{health}"
wait_timeout = "30s"
drain = "1s"
{extra_steps}
"#
    )
}

struct BlueGreen {
    d: DockerLab,
    _proxy: Proxy,
    _old_app: cutover_testbed::app::AppProcess,
    front: String,
}

impl BlueGreen {
    /// Old host serving the app; HAProxy on new in front of it; images v1, v2 on new;
    /// then release 1 deployed (blue).
    fn start() -> (BlueGreen, String) {
        let d = DockerLab::start(&["new"]);
        let id1 = d.app_image("new", "app:1", "1");
        d.app_image("new", "app:2", "2");
        let old_app = cutover_testbed::app::start_on(d.lab.host("old"), 8080).unwrap();
        let proxy = start_haproxy(d.lab.host("new"), 8000, old_app.addr).unwrap();
        let front = proxy.listen.to_string();
        let bg = BlueGreen {
            d,
            _proxy: proxy,
            _old_app: old_app,
            front,
        };
        let first = bg.plan(&deploy("1", "", "/readyz"));
        let out = first.run(&["apply", "--yes"], &[]).expect(0).stdout();
        let short = &id1["sha256:".len()..][..12];
        assert!(
            out.contains(&format!("blue live: shop-blue: web app:1 (sha256:{short})")),
            "{out}"
        );
        assert_eq!(bg.answer(), "hello from blue\n");
        (bg, format!("sha256:{short}"))
    }

    fn plan(&self, body: &str) -> PlanDir {
        self.d
            .plan(body, &[("app.yaml", &app_compose("${CUTOVER_PORT}"))])
    }

    /// What users get through the proxy.
    fn answer(&self) -> String {
        DockerLab::get(&self.front, "/").1
    }

    fn new_addr(&self, port: u16) -> String {
        format!("{}:{port}", self.d.lab.host("new").address())
    }
}

fn post(addr: &str, path: &str) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(
        format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let mut sink = String::new();
    let _ = s.read_to_string(&mut sink);
}

#[test]
fn a_release_failing_under_soak_is_rolled_back_to_the_previous_colour() {
    let (bg, blue_id) = BlueGreen::start();
    let soak = r#"[[stages.steps]]
id = "watch"
kind = "soak"
checks = ["users"]
duration = "30s"
interval = "200ms"
triggers = [{ consecutive_failures = 2 }]"#;
    let second = bg.plan(&deploy("2", soak, "/readyz"));
    let apply = second.run_spawned(&["apply", "--yes"], &[]);
    let deadline = Instant::now() + Duration::from_secs(90);
    while bg.answer() != "hello from green\n" {
        assert!(Instant::now() < deadline, "green never went live");
        std::thread::sleep(Duration::from_millis(100));
    }
    post(&bg.new_addr(18082), "/_control/fail");
    let run = crate::fixture::Run(apply.wait_with_output().unwrap()).expect(5);
    let err = run.stderr();
    assert!(
        err.contains("trigger fired: users fails 2 times in a row"),
        "{err}"
    );
    assert!(err.contains("rolled back release in "), "{err}");
    let out = run.stdout();
    assert!(
        out.contains(&format!("ok release: traffic back on the previous release blue (shop-blue: web app:1 ({blue_id}))")),
        "{out}"
    );
    assert_eq!(bg.answer(), "hello from blue\n");
    assert_eq!(
        bg.d.sh(
            "new",
            "ps -aq --filter label=com.docker.compose.project=shop-green"
        ),
        ""
    );
    let report = second.run(&["report"], &[]).expect(0).stdout();
    assert!(
        report.contains(&format!(
            "traffic back on the previous release blue (shop-blue: web app:1 ({blue_id}))"
        )),
        "the report does not name the release rolled back to:\n{report}"
    );
}

#[test]
fn retire_stops_the_old_colour_and_a_rollback_brings_it_back_first() {
    let (bg, blue_id) = BlueGreen::start();
    // A release whose new colour fails its gate: never switched, taken down.
    let broken = bg.plan(&deploy("2", "", "/nope"));
    // A failed health gate: exit 9, as any verification that found a difference.
    let err = broken.run(&["apply", "--yes"], &[]).expect(9).stderr();
    assert!(
        err.contains(&format!("not switched: traffic stays on blue (shop-blue: web app:1 ({blue_id})); shop-green taken down")),
        "{err}"
    );
    assert_eq!(bg.answer(), "hello from blue\n");
    // A good release, then the old colour retired.
    let retire = r#"[[stages.steps]]
id = "retire"
kind = "compose.retire"
deploy = "release"
drain = "1s""#;
    let good = bg.plan(&deploy("2", retire, "/readyz"));
    let out = good.run(&["apply", "--yes"], &[]).expect(0).stdout();
    assert!(
        out.contains(&format!(
            "retired shop-blue: web app:1 ({blue_id}): stopped, containers kept"
        )),
        "{out}"
    );
    assert_eq!(bg.answer(), "hello from green\n");
    assert_eq!(
        bg.d.sh("new", "inspect -f '{{.State.Status}}' shop-blue-web-1"),
        "exited"
    );
    // Rolling the run back: blue started first, then traffic back on it, green gone.
    let rb = good.run(&["rollback", "--yes"], &[]).expect(0).stdout();
    assert!(rb.contains("shop-blue started again and healthy"), "{rb}");
    assert!(
        rb.contains(&format!(
            "traffic back on the previous release blue (shop-blue: web app:1 ({blue_id}))"
        )),
        "{rb}"
    );
    assert_eq!(bg.answer(), "hello from blue\n");
    assert_eq!(
        bg.d.sh(
            "new",
            "ps -aq --filter label=com.docker.compose.project=shop-green"
        ),
        ""
    );
}
