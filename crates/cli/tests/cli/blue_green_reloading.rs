//! Blue/green releases behind proxies that switch by reloading their configuration (Caddy's
//! admin API, nginx's include + `nginx -s reload`): the new colour goes live, and stopping
//! the old colour breaks no keep-alive connection, as these proxies send every request
//! after the switch to the new upstream. What remains is the reload itself, which closes
//! the proxy's idle client connections at that instant (measured here: 0-2 per switch; see
//! the README's Compose section): the assertion is on the retire's window only.

use crate::compose_fixture::{app_compose, DockerLab};
use crate::keepalive_load::KeepAliveLoad;
use cutover_testbed::proxy::{start_caddy, start_nginx, Proxy};
use std::time::Duration;

fn plan(section: &str, version: &str, more: &str) -> String {
    format!(
        r#"{section}
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
drain = "1s"
{more}
"#
    )
}

const RETIRE: &str = r#"[[stages.steps]]
id = "retire"
kind = "compose.retire"
deploy = "release"
drain = "1s"
stop_timeout = "3s""#;

fn section(kind: &str, proxy: &Proxy) -> String {
    match kind {
        "caddy" => format!(
            "[proxies.front]\nkind = \"caddy\"\nhost = \"new\"\nadmin = \"{}\"\nid = \"cutover\"\n",
            proxy.control
        ),
        _ => format!(
            "[proxies.front]\nkind = \"nginx\"\nhost = \"new\"\ninclude = \"{}\"\nnginx_args = [\"{}\", \"{}\"]\n",
            proxy.control, proxy.nginx_args[0], proxy.nginx_args[1]
        ),
    }
}

/// Release 1 then release 2 (deploy + retire) behind `kind` under twenty keep-alive
/// clients: none fails from the end of the switch's reload on.
fn release_behind(kind: &str) {
    let d = DockerLab::start(&["new"]);
    d.app_image("new", "app:1", "1");
    d.app_image("new", "app:2", "2");
    let old_app = cutover_testbed::app::start_on(d.lab.host("old"), 8080).unwrap();
    let proxy = match kind {
        "caddy" => start_caddy(d.lab.host("new"), 8000, old_app.addr).unwrap(),
        _ => start_nginx(d.lab.host("new"), 8000, old_app.addr).unwrap(),
    };
    let files = [("app.yaml", app_compose("${CUTOVER_PORT}"))];
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let front = proxy.listen.to_string();
    let s = section(kind, &proxy);
    d.plan(&plan(&s, "1", ""), &files)
        .run(&["apply", "--yes"], &[])
        .expect(0);
    assert_eq!(DockerLab::get(&front, "/").1, "hello from blue\n");
    let load = KeepAliveLoad::start(&front, 20);
    std::thread::sleep(Duration::from_secs(1));
    let release = d.plan(&plan(&s, "2", RETIRE), &files);
    let mut apply = release.run_spawned(&["apply", "--yes"], &[]);
    // The moment users get the new colour: the switch (and its reload) is done.
    let mut switched = None;
    while switched.is_none() {
        if DockerLab::get(&front, "/").1 == "hello from green\n" {
            switched = Some(load.now());
        }
        assert!(apply.try_wait().unwrap().is_none() || switched.is_some());
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = apply.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{stdout}");
    std::thread::sleep(Duration::from_millis(500));
    let tally = load.stop();
    assert!(stdout.contains("retired shop-blue"), "{stdout}");
    assert_eq!(
        d.sh("new", "inspect -f '{{.State.Status}}' shop-blue-web-1"),
        "exited"
    );
    // The reload's residue is allowed up to a second after users saw the new colour.
    let after = switched.unwrap() + Duration::from_secs(1);
    let late: Vec<String> = tally
        .failures
        .iter()
        .filter(|f| f.at > after)
        .map(|f| f.to_string())
        .collect();
    assert!(tally.ok > 1000, "the load hardly ran: {tally:?}");
    assert!(
        late.is_empty(),
        "failures after the switch (at {after:?}):\n{}\n{stdout}",
        late.join("\n")
    );
    assert_eq!(DockerLab::get(&front, "/").1, "hello from green\n");
}

#[test]
fn a_release_behind_caddy_breaks_no_connection_after_its_switch() {
    release_behind("caddy");
}

#[test]
fn a_release_behind_nginx_breaks_no_connection_after_its_switch() {
    release_behind("nginx");
}
