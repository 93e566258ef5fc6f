//! Traffic: a DNS switch (RFC 2136 + TSIG to a BIND primary that NOTIFYs a secondary) timed
//! until every authoritative server answers the new value, cutover's provider against the
//! runbook's `nsupdate`, both observed by the same poller every 10 ms, in alternating
//! rounds, each round really changing the record; and proxy switches (HAProxy, Caddy,
//! nginx) switched and switched back 10 times under a keep-alive load (wrk, 20 connections),
//! counting failed requests and socket errors (resets, closed keep-alive connections); Caddy
//! and nginx also as `dns-name` proxies (upstream resolved by a name the switch updates: no
//! reload).

use crate::report::{Row, Section};
use crate::rounds::{self, Cache, Contender, Samples};
use crate::Options;
use cutover_exec::{Executor, Redactor, SecretValue, SshTarget, Target};
use cutover_testbed::dns::{BindPair, TsigKey, Zone};
use cutover_testbed::{app, proxy, Lab};
use cutover_traffic::dns::authority::{wait_consistent, Server};
use cutover_traffic::dns::rfc2136::{Rfc2136, Rfc2136Config};
use cutover_traffic::dns::{corrections, tsig, Desired, DnsProvider, RecordKey, RecordType};
use cutover_traffic::proxy::dns_name::DnsName;
use cutover_traffic::proxy::{caddy::Caddy, haproxy::Haproxy, nginx::Nginx, Switcher};
use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const TRIALS: usize = 10;
const POLL: Duration = Duration::from_millis(10);
/// The name the dns-name proxies resolve their upstream by.
const DNS_NAME: &str = "app.cutover.internal";

/// Runs both parts.
pub fn run(options: &Options) -> anyhow::Result<Section> {
    let rt = tokio::runtime::Runtime::new()?;
    // DNS rounds are cheap: three times the comparisons' rounds.
    let rounds = options.rounds * 3;
    let row = dns(&rt, rounds)?;
    let proxies = rt.block_on(proxies())?;
    Ok(Section {
        name: "traffic",
        setup: "`scripts/bench.sh traffic`: BIND primary + NOTIFYed secondary on lab hosts; proxies on a lab host in front of the test app on old and new.".into(),
        rounds,
        rows: vec![row],
        targets: Vec::new(),
        tables: vec![proxies],
        notes: vec![
            "The DNS figure runs from the start of the update (cutover: read, plan, one signed update; runbook: `nsupdate -k` with a delete and an add) until both servers answer the new value, observed for both by the same poller every 10 ms.".into(),
        ],
    })
}

async fn observe(servers: &[Server], to: &str, started: Instant) -> anyhow::Result<f64> {
    let www = RecordKey::new("www.example.test", RecordType::A);
    let seen = wait_consistent(
        servers,
        &[(www, vec![to.to_string()])],
        started,
        POLL,
        started + Duration::from_secs(10),
    )
    .await;
    let slowest = seen
        .iter()
        .map(|c| c.after.clone().map_err(anyhow::Error::msg))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(slowest
        .iter()
        .max()
        .copied()
        .unwrap_or_default()
        .as_secs_f64())
}

fn dns(rt: &tokio::runtime::Runtime, rounds: usize) -> anyhow::Result<Row> {
    let lab = Lab::builder()
        .host("old")
        .host("new")
        .host("dns")
        .host("dns2")
        .start()?;
    let key = TsigKey::generate("cutover")?;
    let addrs = [
        lab.host("old").address().to_string(),
        lab.host("new").address().to_string(),
    ];
    let zone = Zone::new("example.test", 300).record_ttl("www", "A", &addrs[0], 60);
    let bind = BindPair::start(lab.host("dns"), Some(lab.host("dns2")), &[zone], &key)?;
    let servers: Vec<Server> = bind
        .servers()
        .iter()
        .map(|s| Server {
            name: s.address.to_string(),
            addr: SocketAddr::from((s.address, 53)),
        })
        .collect();
    let p = Rfc2136::new(Rfc2136Config {
        server: servers[0].addr,
        zones: vec!["example.test".into()],
        key: Some(tsig::TsigKey {
            name: key.name.clone(),
            algorithm: key.algorithm.clone(),
            secret: SecretValue::new(key.secret.clone()),
        }),
        timeout: Duration::from_secs(2),
    });
    let dir = tempfile::tempdir()?;
    let keyfile = dir.path().join("key.conf");
    std::fs::write(
        &keyfile,
        format!(
            "key \"{}\" {{ algorithm {}; secret \"{}\"; }};\n",
            key.name, key.algorithm, key.secret
        ),
    )?;
    // Every run switches to the address not in place, whichever tool made the last change.
    let current = RefCell::new(0usize);
    let next = || {
        let mut c = current.borrow_mut();
        *c = 1 - *c;
        addrs[*c].clone()
    };
    let www = RecordKey::new("www.example.test", RecordType::A);
    let mut contenders = [
        Contender::new("nsupdate", || {
            let to = next();
            let started = Instant::now();
            nsupdate(&keyfile, servers[0].addr, &to)?;
            rt.block_on(observe(&servers, &to, started))
        }),
        Contender::new("cutover", || {
            let to = next();
            let started = Instant::now();
            rt.block_on(async {
                let current = p.read("example.test", std::slice::from_ref(&www)).await?;
                let want = [Desired {
                    key: www.clone(),
                    values: Some(vec![to.clone()]),
                    ttl: None,
                    proxied: None,
                }];
                p.apply("example.test", &corrections(&p, &current, &want)?)
                    .await?;
                observe(&servers, &to, started).await
            })
        }),
    ];
    eprintln!("   DNS switch until both servers answer it");
    let s = rounds::run(rounds, &Cache::NotRelevant, &mut contenders, |_| Ok(()))?;
    drop(contenders);
    Ok(Row {
        what: "DNS switch until primary + secondary answer the new value".into(),
        cache: Cache::NotRelevant.label(),
        unit: "s",
        ours: s[1].clone(),
        baseline: "`nsupdate -k` (delete + add)".into(),
        theirs: s[0].clone(),
        paired: true,
    })
}

/// The runbook's update: `nsupdate` with a key file, the script on its standard input.
fn nsupdate(keyfile: &std::path::Path, server: SocketAddr, to: &str) -> anyhow::Result<()> {
    let script = format!("server {}\nzone example.test\nupdate delete www.example.test A\nupdate add www.example.test 60 A {to}\nsend\n", server.ip());
    let mut child = std::process::Command::new("nsupdate")
        .arg("-k")
        .arg(keyfile)
        .stdin(std::process::Stdio::piped())
        .spawn()?;
    std::io::Write::write_all(
        child
            .stdin
            .as_mut()
            .ok_or_else(|| anyhow::anyhow!("stdin"))?,
        script.as_bytes(),
    )?;
    drop(child.stdin.take());
    anyhow::ensure!(child.wait()?.success(), "nsupdate failed");
    Ok(())
}

/// The table's name of a proxy and its switcher.
fn label(kind: &str) -> &'static str {
    match kind {
        "haproxy" => "HAProxy runtime API",
        "caddy" => "Caddy admin API (config reload)",
        "nginx" => "nginx include + reload",
        "caddy dns-name" => "Caddy `dns-name` (`dynamic_upstreams`)",
        _ => "nginx `dns-name` (`resolver` + variable)",
    }
}

fn executor(lab: &Lab) -> Executor {
    let t = SshTarget {
        name: "lb".into(),
        destination: "lb".into(),
        port: None,
        user: None,
        identity: None,
        jump: None,
        known_hosts: None,
        config: Some(lab.ssh_config().to_path_buf()),
        connect_timeout: 5,
        control_dir: cutover_exec::control_dir_for(&lab.dir().display().to_string()),
    };
    Executor::new(
        HashMap::from([("lb".to_string(), Target::Ssh(t))]),
        Redactor::default(),
    )
}

async fn proxies() -> anyhow::Result<String> {
    let mut table = format!("Proxy switches under load (wrk, 20 keep-alive connections; {TRIALS} switches and {TRIALS} switch-backs each; socket errors are connections the proxy closed under the client; switch time measured by the bench around the switcher's call):\n\n");
    table.push_str("| proxy, switcher | requests/s | requests | failed | socket errors | median switch (min-max) |\n");
    table.push_str("| --- | --- | --- | --- | --- | --- |\n");
    for kind in [
        "haproxy",
        "caddy",
        "nginx",
        "caddy dns-name",
        "nginx dns-name",
    ] {
        let lab = Lab::builder().host("old").host("new").host("lb").start()?;
        let a = app::start_on(lab.host("old"), 8080)?;
        let b = app::start_on(lab.host("new"), 8080)?;
        let lb = lab.host("lb");
        // The dns-name switchers update the name the proxy resolves, served by BIND on lb.
        let (_bind, dns_name) = if kind.ends_with("dns-name") {
            let key = TsigKey::generate("cutover")?;
            let zone = Zone::new("cutover.internal", 1).record_ttl(
                "app",
                "A",
                &a.addr.ip().to_string(),
                1,
            );
            let bind = BindPair::start(lb, None, &[zone], &key)?;
            let server: SocketAddr = bind.primary.socket().parse()?;
            let p = Rfc2136::new(Rfc2136Config {
                server,
                zones: vec!["cutover.internal".into()],
                key: Some(tsig::TsigKey {
                    name: key.name.clone(),
                    algorithm: key.algorithm.clone(),
                    secret: SecretValue::new(key.secret.clone()),
                }),
                timeout: Duration::from_secs(2),
            });
            (Some(bind), Some((p, server)))
        } else {
            (None, None)
        };
        let (front, s): (proxy::Proxy, Box<dyn Switcher>) = match (kind, dns_name) {
            ("haproxy", _) => {
                let p = proxy::start_haproxy(lb, 80, a.addr)?;
                let s = Haproxy {
                    host: "lb".into(),
                    socket: p.control.clone(),
                    backend: "app".into(),
                    server: "web".into(),
                    config: None,
                };
                (p, Box::new(s))
            }
            ("caddy", _) => {
                let p = proxy::start_caddy(lb, 80, a.addr)?;
                let s = Caddy {
                    host: "lb".into(),
                    admin: p.control.clone(),
                    id: "cutover".into(),
                };
                (p, Box::new(s))
            }
            (_, Some((provider, server))) => {
                let caddy = kind.starts_with("caddy");
                let refresh = Duration::from_millis(200);
                let (p, settle) = if caddy {
                    let p = proxy::start_caddy_dynamic(lb, 80, DNS_NAME, 8080, server, refresh)?;
                    (p, refresh + Duration::from_millis(150))
                } else {
                    let p = proxy::start_nginx_resolving(
                        lb,
                        80,
                        DNS_NAME,
                        8080,
                        server,
                        Duration::from_secs(1),
                    )?;
                    (p, Duration::from_millis(2200))
                };
                let s = DnsName {
                    label: format!("{kind} on lb"),
                    provider: Box::new(provider),
                    record: DNS_NAME.into(),
                    port: 8080,
                    settle,
                };
                (p, Box::new(s))
            }
            _ => {
                let p = proxy::start_nginx(lb, 80, a.addr)?;
                let s = Nginx {
                    host: "lb".into(),
                    include: p.control.clone(),
                    args: p.nginx_args.clone(),
                };
                (p, Box::new(s))
            }
        };
        // The dns-name switches wait out the proxy's re-resolve time: give wrk long enough.
        let per_switch = if kind.starts_with("nginx dns") {
            2.6
        } else {
            0.6
        };
        let secs = 3 + (per_switch * 2.0 * TRIALS as f64) as u64;
        let ex = executor(&lab);
        s.current(&ex).await?;
        let wrk = std::process::Command::new("wrk")
            .args([
                "-t2",
                "-c20",
                &format!("-d{secs}s"),
                &format!("http://{}/", front.listen),
            ])
            .stdout(std::process::Stdio::piped())
            .spawn()?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let mut took = Vec::new();
        for _ in 0..TRIALS {
            for to in [b.addr, a.addr] {
                let t = Instant::now();
                s.switch(&ex, &to.to_string()).await?;
                took.push(t.elapsed().as_secs_f64() * 1000.0);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        let out = wrk.wait_with_output()?;
        let Wrk {
            requests: reqs,
            failed,
            socket_errors: errors,
            rate,
        } = Wrk::parse(&String::from_utf8_lossy(&out.stdout));
        let took = Samples(took);
        table.push_str(&format!(
            "| {} | {rate:.0} | {reqs} | {failed} | {errors} | {:.0} ms ({:.0}-{:.0}) |\n",
            label(kind),
            took.median(),
            took.min(),
            took.max()
        ));
        eprintln!("   {kind}: {reqs} requests, {failed} failed, {errors} socket errors");
        ex.disconnect_all().await;
        drop(front);
    }
    Ok(table)
}

/// wrk's summary: what a load run saw.
pub(crate) struct Wrk {
    /// Requests completed.
    pub requests: u64,
    /// Answers that were not 2xx or 3xx.
    pub failed: u64,
    /// Connect, read, write and timeout errors (connections the server closed under it).
    pub socket_errors: u64,
    /// Requests per second.
    pub rate: f64,
}

impl Wrk {
    /// Reads wrk's text output.
    pub(crate) fn parse(text: &str) -> Wrk {
        let mut w = Wrk {
            requests: 0,
            failed: 0,
            socket_errors: 0,
            rate: 0.0,
        };
        for line in text.lines().map(str::trim) {
            if let Some(r) = line.strip_prefix("Socket errors:") {
                w.socket_errors = r
                    .split(',')
                    .filter_map(|p| p.split_whitespace().last()?.parse::<u64>().ok())
                    .sum();
            } else if let Some(r) = line.strip_prefix("Non-2xx or 3xx responses:") {
                w.failed = r.trim().parse().unwrap_or(0);
            } else if line.contains("requests in") {
                w.requests = line
                    .split_whitespace()
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
            } else if let Some(r) = line.strip_prefix("Requests/sec:") {
                w.rate = r.trim().parse().unwrap_or(0.0);
            }
        }
        w
    }
}
