//! Ten blue/green releases under keep-alive load, per proxy: wrk keeps 20 connections busy
//! through the proxy while each release (`compose.deploy` then `compose.retire`) runs as one
//! `cutover apply`. Caddy twice: switched through its admin API (a config reload at every
//! switch) and as a `dns-name` proxy (a DNS record changes, Caddy's config does not).

use super::dns_name::{DnsFront, SECRET_ENV};
use super::{app_compose, app_compose_on, deploy_with, get, proxy_section, DockerLab};
use crate::rounds::Samples;
use crate::traffic::Wrk;
use cutover_testbed::{app, images, proxy};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RELEASES: usize = 10;

const RETIRE: &str = r#"[[stages.steps]]
id = "retire"
kind = "compose.retire"
deploy = "release"
drain = "1s""#;

/// The table: one row per proxy.
pub fn run() -> anyhow::Result<String> {
    let mut table = format!("Blue/green releases under load (wrk, 20 keep-alive connections through the proxy; {RELEASES} releases per proxy, each a `compose.deploy` + `compose.retire` run by `cutover apply`; failed: answers other than 2xx/3xx; socket errors: connections closed under the client):\n\n");
    table.push_str("| proxy | releases | requests/s | requests | failed | socket errors | release time, median (min-max) |\n");
    table.push_str("| --- | --- | --- | --- | --- | --- | --- |\n");
    for kind in ["haproxy", "caddy", "caddy dns-name"] {
        let (wrk, took) = releases(kind)?;
        eprintln!(
            "     {kind}: {} requests, {} failed, {} socket errors",
            wrk.requests, wrk.failed, wrk.socket_errors
        );
        table.push_str(&format!(
            "| {} | {RELEASES} | {:.0} | {} | {} | {} | {:.1} s ({:.1}-{:.1}) |\n",
            match kind {
                "caddy" => "Caddy admin API",
                "caddy dns-name" => "Caddy `dns-name` (`dynamic_upstreams`, colours by address)",
                _ => "HAProxy runtime API",
            },
            wrk.rate,
            wrk.requests,
            wrk.failed,
            wrk.socket_errors,
            took.median(),
            took.min(),
            took.max()
        ));
    }
    Ok(table)
}

/// The proxy in front of the colours, and how the plans name it and the colours.
struct Front {
    servers: Servers,
    /// The plan's sections for the proxy (and its DNS provider).
    section: String,
    /// The deploy step's `ports` (and `addresses`).
    colours: String,
    /// The app's compose file.
    compose: String,
}

/// What runs the front (stopped when dropped).
enum Servers {
    Proxy(proxy::Proxy),
    Dns(DnsFront),
}

impl Front {
    /// Proxy `kind` on new at port 8000, sending traffic to `first` at first.
    fn start(kind: &str, d: &mut DockerLab, first: SocketAddr) -> anyhow::Result<Front> {
        let new = d.lab.host("new");
        if kind == "caddy dns-name" {
            let f = DnsFront::start(new, 8000, ip_v4(first)?)?;
            d.env.push((SECRET_ENV.into(), f.key.secret.clone()));
            return Ok(Front {
                section: f.section(),
                colours: f.colours(),
                compose: app_compose_on("${CUTOVER_ADDRESS}:${CUTOVER_PORT}"),
                servers: Servers::Dns(f),
            });
        }
        let p = if kind == "caddy" {
            proxy::start_caddy(new, 8000, first)?
        } else {
            proxy::start_haproxy(new, 8000, first)?
        };
        Ok(Front {
            section: proxy_section(kind, &p.control),
            colours: "ports = { blue = 18081, green = 18082 }".into(),
            compose: app_compose(),
            servers: Servers::Proxy(p),
        })
    }

    /// Where wrk sends its requests.
    fn listen(&self) -> SocketAddr {
        match &self.servers {
            Servers::Proxy(p) => p.listen,
            Servers::Dns(f) => f.proxy.listen,
        }
    }
}

fn ip_v4(addr: SocketAddr) -> anyhow::Result<std::net::Ipv4Addr> {
    match addr.ip() {
        std::net::IpAddr::V4(ip) => Ok(ip),
        other => anyhow::bail!("{other} is not an IPv4 address (an A record's value)"),
    }
}

/// The releases behind proxy `kind`: wrk's figures and each release's time.
fn releases(kind: &str) -> anyhow::Result<(Wrk, Samples)> {
    let mut d = DockerLab::start(&["new"])?;
    let new = d.lab.host("new");
    for v in ["1", "2"] {
        images::app(new, d.docker("new")?, &format!("app:{v}"), v)?;
    }
    let old_app = app::start_on(d.lab.host("old"), 8080)?;
    let front = Front::start(kind, &mut d, old_app.addr)?;
    let listen = front.listen();
    let deploy = |version: &str, more: &str| deploy_with(version, &front.colours, more);
    let section = &front.section;
    let files = [("app.yaml", front.compose.clone())];
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    // The first release takes the traffic from the old host's app: not counted.
    d.plan(&format!("{section}{}", deploy("1", "")), &files)?
        .apply()?;
    anyhow::ensure!(
        get(listen, "/").contains("hello from blue"),
        "the first release is not live"
    );
    let wrk = Command::new("wrk")
        .args(["-t2", "-c20", "-d900s", &format!("http://{listen}/")])
        .stdout(Stdio::piped())
        .spawn()?;
    std::thread::sleep(Duration::from_secs(1));
    let mut took = Vec::new();
    let result: anyhow::Result<()> = (|| {
        for i in 0..RELEASES {
            let version = if i % 2 == 0 { "2" } else { "1" };
            let plan = d.plan(&format!("{section}{}", deploy(version, RETIRE)), &files)?;
            let t = Instant::now();
            plan.apply()?;
            took.push(t.elapsed().as_secs_f64());
            eprintln!("     {kind} release {}: {:.1} s", i + 1, took[i]);
        }
        Ok(())
    })();
    std::thread::sleep(Duration::from_secs(1));
    // wrk prints its summary when interrupted.
    // SAFETY: kill(2) on the pid of a child this bench started and has not waited for.
    unsafe { libc::kill(wrk.id() as libc::pid_t, libc::SIGINT) };
    let out = wrk.wait_with_output()?;
    result?;
    Ok((
        Wrk::parse(&String::from_utf8_lossy(&out.stdout)),
        Samples(took),
    ))
}
