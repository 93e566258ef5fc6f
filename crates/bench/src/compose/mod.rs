//! Compose: blue/green releases of a Compose project behind a proxy under keep-alive load
//! (`cutover apply` of `compose.deploy` + `compose.retire`, 10 releases per proxy), a release
//! whose new colour fails `/readyz` after the switch (detection and the way back as the
//! bench's own client sees them), and `images.copy` of a 500 MB image against the runbook's
//! `docker save | ssh docker load`. Each part runs on a lab whose hosts have their own
//! Docker daemons, started and stopped by the bench.

mod dns_name;
mod images;
mod readyz;
mod releases;

use crate::report::Section;
use crate::Options;
use cutover_testbed::docker::DockerDaemon;
use cutover_testbed::Lab;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Runs the three parts.
pub fn run(options: &Options) -> anyhow::Result<Section> {
    let mut tables = Vec::new();
    eprintln!("   blue/green releases under load");
    tables.push(releases::run()?);
    eprintln!("   a release failing /readyz after the switch");
    let (targets, trials) = readyz::run(options)?;
    tables.push(trials);
    eprintln!("   images.copy of a 500 MB image");
    let row = images::run(options)?;
    Ok(Section {
        name: "compose",
        setup: "`scripts/bench.sh compose`: a Docker daemon of its own on each lab host (Debian `docker.io`, Compose v2 plugin), the test app as a `FROM scratch` image; the proxy on the Docker host in front of the colours.".into(),
        rounds: options.rounds,
        rows: vec![row],
        targets,
        tables,
        notes: vec![
            "Each release is one `cutover apply` of a plan with a `compose.deploy` (the new colour started next to the live one, gated on `/readyz`, the proxy switched to it) and a `compose.retire` (the old colour drained 1 s, then stopped), while wrk keeps 20 keep-alive connections busy through the proxy.".into(),
            "The Caddy `dns-name` row: Caddy on new follows the name `app.cutover.internal` (`dynamic_upstreams` source `a`, refresh 200 ms) served by BIND on new; each colour publishes port 8080 on an address of its own on new (`addresses`), and a switch is one RFC 2136 update of the name's A record, waited out for 350 ms: Caddy's configuration never changes.".into(),
            "The failing release: the new colour is made to fail 1 s after the switch; a soak probes `/readyz` through the proxy every 200 ms and fires after 2 failures in a row. Detection runs from the failure to the soak's `rollback_started` in the journal; the way back from there to the first request the previous colour answered at the bench's client (a fresh connection every 10 ms); failed requests outside the window are those the client saw before the failure or after that first good answer.".into(),
        ],
    })
}

/// A lab with a Docker daemon on each of `docker`; the daemons stop before the lab goes.
pub(crate) struct DockerLab {
    pub daemons: Vec<DockerDaemon>,
    pub lab: Lab,
    /// Variables every `cutover` run on its plans gets (secrets' sources).
    pub env: Vec<(String, String)>,
}

impl DockerLab {
    pub fn start(docker: &[&str]) -> anyhow::Result<DockerLab> {
        let lab = Lab::start()?;
        let mut daemons = Vec::new();
        for h in docker {
            daemons.push(DockerDaemon::start(lab.host(h))?);
        }
        Ok(DockerLab {
            daemons,
            lab,
            env: Vec::new(),
        })
    }

    pub fn docker(&self, host: &str) -> anyhow::Result<&DockerDaemon> {
        self.daemons
            .iter()
            .find(|d| d.host() == host)
            .ok_or_else(|| anyhow::anyhow!("no daemon on {host}"))
    }

    /// A plan file in a new directory: the lab's hosts, then `body`.
    pub fn plan(&self, body: &str, files: &[(&str, &str)]) -> anyhow::Result<PlanDir> {
        let dir = tempfile::tempdir()?;
        let header = format!(
            "name = \"bench-compose\"\n[ssh]\nconfig = \"{}\"\n[hosts.old]\nssh = \"old\"\naddress = \"{}\"\n[hosts.new]\nssh = \"new\"\naddress = \"{}\"\n",
            self.lab.ssh_config().display(),
            self.lab.host("old").address(),
            self.lab.host("new").address(),
        );
        std::fs::write(dir.path().join("cutover.toml"), format!("{header}\n{body}"))?;
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text)?;
        }
        Ok(PlanDir {
            dir,
            env: self.env.clone(),
        })
    }
}

impl Drop for DockerLab {
    fn drop(&mut self) {
        for d in &mut self.daemons {
            let _ = d.stop();
        }
    }
}

/// A plan in a directory of its own (its own journal).
pub(crate) struct PlanDir {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl PlanDir {
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("cutover.toml")
    }

    /// `cutover ARGS` on this plan, waited for.
    pub fn run(&self, args: &[&str]) -> anyhow::Result<std::process::Output> {
        Ok(self.command(args)?.output()?)
    }

    /// `cutover ARGS` on this plan, its output captured.
    pub fn command(&self, args: &[&str]) -> anyhow::Result<Command> {
        let mut c = Command::new(crate::files::cutover_bin()?);
        c.arg("-f")
            .arg(self.path())
            .args(args)
            .env("NO_COLOR", "1")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Ok(c)
    }

    /// `cutover apply --yes`, which must succeed.
    pub fn apply(&self) -> anyhow::Result<String> {
        let out = self.run(&["apply", "--yes"])?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        anyhow::ensure!(
            out.status.success(),
            "cutover apply failed:\n{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(text)
    }
}

/// The test app as a Compose service published on `${CUTOVER_PORT}`, named after its colour.
pub(crate) fn app_compose() -> String {
    app_compose_on("${CUTOVER_PORT}")
}

/// The test app published on `publish` (`PORT` or `ADDRESS:PORT`), named after its colour.
pub(crate) fn app_compose_on(publish: &str) -> String {
    format!("services:\n  web:\n    image: app:${{APP_VERSION}}\n    ports: [\"{publish}:8080\"]\n    command: [\"/app\", \"--listen\", \"0.0.0.0:8080\", \"--name\", \"${{CUTOVER_COLOR:-web}}\", \"--version\", \"${{APP_VERSION}}\"]\n")
}

/// A `[proxies.front]` section for `kind` on host new.
pub(crate) fn proxy_section(kind: &str, control: &str) -> String {
    match kind {
        "caddy" => format!(
            "[proxies.front]\nkind = \"caddy\"\nhost = \"new\"\nadmin = \"{control}\"\nid = \"cutover\"\n"
        ),
        _ => format!(
            "[proxies.front]\nkind = \"haproxy\"\nhost = \"new\"\nsocket = \"{control}\"\nbackend = \"app\"\nserver = \"web\"\n"
        ),
    }
}

/// A `compose.deploy` step of version `version`, each colour on its own port of new (and
/// what follows it).
pub(crate) fn deploy(version: &str, more: &str) -> String {
    deploy_with(version, "ports = { blue = 18081, green = 18082 }", more)
}

/// A `compose.deploy` step of version `version` with `colours` (its `ports` and `addresses`
/// lines), and what follows it.
pub(crate) fn deploy_with(version: &str, colours: &str, more: &str) -> String {
    format!(
        r#"[checks.users]
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
{colours}
health = "/readyz"
wait_timeout = "60s"
drain = "1s"
{more}
"#
    )
}

/// GET `path` over a fresh connection: the whole answer ("" when none).
pub(crate) fn get(addr: SocketAddr, path: &str) -> String {
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = write!(s, "GET {path} HTTP/1.0\r\n\r\n");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// POST `path` (no body) to `addr`; fails unless it answers 200.
pub(crate) fn post(addr: SocketAddr, path: &str) -> anyhow::Result<()> {
    let mut s = std::net::TcpStream::connect(addr)?;
    write!(s, "POST {path} HTTP/1.0\r\nContent-Length: 0\r\n\r\n")?;
    let mut reply = String::new();
    s.read_to_string(&mut reply)?;
    anyhow::ensure!(reply.contains(" 200 "), "POST {path}: {reply}");
    Ok(())
}
