//! The graceful way to switch Caddy 2.6 and open-source nginx 1.22 under keep-alive load: the
//! proxy resolves its upstream by a DNS name (Caddy's `dynamic_upstreams` source `a`, nginx's
//! `resolver` + `proxy_pass` with a variable) and the switch is an RFC 2136 update of that
//! name, so no config reload closes the clients' keep-alive connections.

use super::proxy::{get, lab, parse_wrk, start_wrk, Load};
use cutover_exec::SecretValue;
use cutover_exec::{Executor, Redactor};
use cutover_testbed::dns::{BindPair, TsigKey, Zone};
use cutover_testbed::proxy;
use cutover_traffic::dns::rfc2136::{Rfc2136, Rfc2136Config};
use cutover_traffic::dns::tsig;
use cutover_traffic::proxy::dns_name::DnsName;
use cutover_traffic::proxy::Switcher;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const NAME: &str = "app.cutover.internal";
const REFRESH: Duration = Duration::from_millis(200);

/// Switches old -> new -> old `pairs` times under wrk through the `DnsName` switcher; returns
/// wrk's counts and how long each switch took (update + the proxy's re-resolve time).
async fn under_load(
    s: &DnsName,
    front: SocketAddr,
    old: &str,
    new: &str,
    pairs: u32,
) -> (Load, Vec<u128>) {
    let ex = Executor::new(HashMap::new(), Redactor::default());
    let wrk = start_wrk(&format!("http://{front}/"), pairs * 3 + 2, 20);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let mut took = Vec::new();
    for _ in 0..pairs {
        for (ip, name) in [(new, "new"), (old, "old")] {
            let t = Instant::now();
            s.switch(&ex, &format!("{ip}:8080")).await.expect("switch");
            took.push(t.elapsed().as_millis());
            assert_eq!(s.current(&ex).await.unwrap(), format!("{ip}:8080"));
            // Once the switch returns, the proxy has moved.
            let seen = get(front);
            assert!(seen.contains(&format!("hello from {name}")), "{seen}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let out = wrk.wait_with_output().expect("wrk");
    let text = String::from_utf8_lossy(&out.stdout);
    (parse_wrk(&text), took)
}

async fn run(kind: &str) -> (Load, Vec<u128>) {
    let l = lab();
    let lb = l.lab.host("lb");
    let key = TsigKey::generate("cutover").unwrap();
    let (old, new) = (l.old.ip().to_string(), l.new.ip().to_string());
    let zone = Zone::new("cutover.internal", 1).record_ttl("app", "A", &old, 1);
    let bind = BindPair::start(lb, None, &[zone], &key).unwrap();
    let resolver: SocketAddr = bind.primary.socket().parse().unwrap();
    let provider = Rfc2136::new(Rfc2136Config {
        server: resolver,
        zones: vec!["cutover.internal".into()],
        key: Some(tsig::TsigKey {
            name: key.name.clone(),
            algorithm: key.algorithm.clone(),
            secret: SecretValue::new(key.secret.clone()),
        }),
        timeout: Duration::from_secs(2),
    });
    // The switch waits out the proxy's re-resolve interval: Caddy's `refresh`, nginx's
    // `valid=1s` (nginx's minimum; it took up to 1.7 s to follow on the lab).
    let (front, settle) = match kind {
        "caddy" => (
            proxy::start_caddy_dynamic(lb, 80, NAME, 8080, resolver, REFRESH).unwrap(),
            REFRESH + Duration::from_millis(150),
        ),
        _ => (
            proxy::start_nginx_resolving(lb, 80, NAME, 8080, resolver, Duration::from_secs(1))
                .unwrap(),
            Duration::from_millis(2200),
        ),
    };
    let s = DnsName {
        label: format!("{kind} on lb"),
        provider: Box::new(provider),
        record: NAME.into(),
        port: 8080,
        settle,
    };
    assert!(
        get(front.listen).contains("hello from old"),
        "{}",
        get(front.listen)
    );
    let r = under_load(&s, front.listen, &old, &new, 5).await;
    eprintln!(
        "{kind} by DNS name: {:?}, switches took (ms) {:?}",
        r.0, r.1
    );
    r
}

#[tokio::test]
async fn caddy_following_a_dns_name_switches_under_load_without_a_failed_request_or_socket_error() {
    let (load, took) = run("caddy").await;
    assert!(load.requests > 1000, "{load:?}");
    assert_eq!((load.failed, load.socket_errors), (0, 0), "{load:?}");
    // Caddy re-resolves every 200 ms: a switch is the update plus that wait.
    assert!(took.iter().all(|ms| *ms < 1000), "{took:?}");
}

#[tokio::test]
async fn nginx_following_a_dns_name_switches_under_load_without_a_failed_request_or_socket_error() {
    let (load, took) = run("nginx").await;
    assert!(load.requests > 1000, "{load:?}");
    assert_eq!((load.failed, load.socket_errors), (0, 0), "{load:?}");
    assert!(took.iter().all(|ms| *ms < 3000), "{took:?}");
}
