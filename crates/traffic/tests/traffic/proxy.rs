//! Proxy switchers against real Caddy, HAProxy and nginx on a lab host, in front of the test
//! app on `old` and `new`: health-gated switch, switch-back, and a steady keep-alive load
//! (wrk) across 3 switch/switch-back pairs counting failed requests and socket errors.

use cutover_exec::{Executor, Redactor, SshTarget, Target};
use cutover_testbed::{app, proxy, Lab};
use cutover_traffic::health::{HealthGate, HttpGet};
use cutover_traffic::proxy::{caddy::Caddy, haproxy::Haproxy, nginx::Nginx, Switcher};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

pub fn executor(lab: &Lab, hosts: &[&str]) -> Executor {
    let targets = hosts.iter().map(|h| {
        let t = SshTarget {
            name: h.to_string(),
            destination: h.to_string(),
            port: None,
            user: None,
            identity: None,
            jump: None,
            known_hosts: None,
            config: Some(lab.ssh_config().to_path_buf()),
            connect_timeout: 5,
            control_dir: cutover_exec::control_dir_for(&lab.dir().display().to_string()),
        };
        (h.to_string(), Target::Ssh(t))
    });
    Executor::new(HashMap::from_iter(targets), Redactor::default())
}

/// wrk's counts: requests, non-2xx/3xx responses, socket errors (connect+read+write+timeout).
#[derive(Debug, Default, Clone, Copy)]
pub struct Load {
    pub requests: u64,
    pub failed: u64,
    pub socket_errors: u64,
    pub per_second: f64,
}

/// Parses wrk's summary.
pub fn parse_wrk(text: &str) -> Load {
    let mut l = Load::default();
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("Socket errors:") {
            l.socket_errors = rest
                .split(',')
                .filter_map(|p| p.split_whitespace().last()?.parse::<u64>().ok())
                .sum();
        } else if let Some(rest) = line.strip_prefix("Non-2xx or 3xx responses:") {
            l.failed = rest.trim().parse().unwrap_or(0);
        } else if line.contains("requests in") {
            l.requests = line
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
        } else if let Some(rest) = line.strip_prefix("Requests/sec:") {
            l.per_second = rest.trim().parse().unwrap_or(0.0);
        }
    }
    l
}

/// Starts wrk against `url` for `secs` with `conns` keep-alive connections.
pub fn start_wrk(url: &str, secs: u32, conns: u32) -> std::process::Child {
    std::process::Command::new("wrk")
        .args(["-t2", &format!("-c{conns}"), &format!("-d{secs}s"), url])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("wrk")
}

pub fn get(addr: SocketAddr) -> String {
    let out = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "3", &format!("http://{addr}/")])
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub struct ProxyLab {
    pub lab: Lab,
    pub _apps: Vec<app::AppProcess>,
    pub old: SocketAddr,
    pub new: SocketAddr,
}

pub fn lab() -> ProxyLab {
    let lab = Lab::builder()
        .host("old")
        .host("new")
        .host("lb")
        .start()
        .expect("lab");
    let a = app::start_on(lab.host("old"), 8080).expect("app on old");
    let b = app::start_on(lab.host("new"), 8080).expect("app on new");
    let (old, new) = (a.addr, b.addr);
    ProxyLab {
        lab,
        _apps: vec![a, b],
        old,
        new,
    }
}

/// Switches `s` old -> new -> old `pairs` times under load; returns wrk's counts.
pub async fn switch_under_load(
    ex: &Executor,
    s: &dyn Switcher,
    front: SocketAddr,
    l: &ProxyLab,
    pairs: u32,
) -> Load {
    let secs = pairs + 2;
    let wrk = start_wrk(&format!("http://{front}/"), secs, 20);
    tokio::time::sleep(Duration::from_millis(700)).await;
    for _ in 0..pairs {
        s.switch(ex, &l.new.to_string()).await.expect("switch");
        tokio::time::sleep(Duration::from_millis(250)).await;
        s.switch(ex, &l.old.to_string()).await.expect("switch back");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let out = wrk.wait_with_output().expect("wrk");
    let text = String::from_utf8_lossy(&out.stdout);
    let load = parse_wrk(&text);
    eprintln!("{}: {load:?}\n{text}", s.name());
    load
}

async fn switches_and_back(s: &dyn Switcher, ex: &Executor, front: SocketAddr, l: &ProxyLab) {
    assert_eq!(s.current(ex).await.unwrap(), l.old.to_string());
    assert!(get(front).contains("hello from old"), "{}", get(front));
    HttpGet::default()
        .check(&l.new.to_string())
        .await
        .expect("new is healthy");
    s.switch(ex, &l.new.to_string()).await.unwrap();
    assert_eq!(s.current(ex).await.unwrap(), l.new.to_string());
    assert!(get(front).contains("hello from new"), "{}", get(front));
    s.switch(ex, &l.old.to_string()).await.unwrap();
    assert!(get(front).contains("hello from old"));
}

#[tokio::test]
async fn haproxy_switches_under_keep_alive_load_without_a_failed_request_or_reset() {
    let l = lab();
    let p = proxy::start_haproxy(l.lab.host("lb"), 80, l.old).unwrap();
    let ex = executor(&l.lab, &["lb"]);
    let s = Haproxy {
        host: "lb".into(),
        socket: p.control.clone(),
        backend: "app".into(),
        server: "web".into(),
        config: None,
    };
    switches_and_back(&s, &ex, p.listen, &l).await;
    let load = switch_under_load(&ex, &s, p.listen, &l, 3).await;
    assert!(load.requests > 1000, "{load:?}");
    assert_eq!((load.failed, load.socket_errors), (0, 0), "{load:?}");
    let e = s
        .switch(&ex, "198.51.100.250:notaport")
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("not ADDRESS:PORT"), "{e}");
    ex.disconnect_all().await;
}

#[tokio::test]
async fn haproxy_keeps_a_switch_across_a_restart_when_its_config_file_is_named() {
    let l = lab();
    let lb = l.lab.host("lb");
    let mut p = proxy::start_haproxy(lb, 80, l.old).unwrap();
    let ex = executor(&l.lab, &["lb"]);
    let config = proxy::HAPROXY_CONFIG;
    let before = std::fs::read_to_string(lb.fs_path(config)).unwrap();
    let mut s = Haproxy {
        host: "lb".into(),
        socket: p.control.clone(),
        backend: "app".into(),
        server: "web".into(),
        config: None,
    };
    // Without `config`: the regression this guards, a switch lost at restart.
    s.switch(&ex, &l.new.to_string()).await.expect("switch");
    assert_eq!(s.persist(&ex, &l.new.to_string()).await.unwrap(), None);
    p.restart_haproxy(lb).unwrap();
    assert!(
        get(p.listen).contains("hello from old"),
        "{}",
        get(p.listen)
    );

    s.config = Some(config.into());
    s.switch(&ex, &l.new.to_string()).await.expect("switch");
    assert_eq!(
        s.persist(&ex, &l.new.to_string()).await.unwrap(),
        Some(format!("{config} updated"))
    );
    assert_eq!(
        std::fs::read_to_string(lb.fs_path(config)).unwrap(),
        before.replace(
            &format!("server web {}", l.old),
            &format!("server web {}", l.new)
        ),
        "only the server's address changed"
    );
    p.restart_haproxy(lb).unwrap();
    assert!(
        get(p.listen).contains("hello from new"),
        "{}",
        get(p.listen)
    );
    assert_eq!(s.current(&ex).await.unwrap(), l.new.to_string());

    // Back, as a rollback does: the file is as it was.
    s.switch(&ex, &l.old.to_string())
        .await
        .expect("switch back");
    s.persist(&ex, &l.old.to_string()).await.unwrap();
    assert_eq!(std::fs::read_to_string(lb.fs_path(config)).unwrap(), before);
    p.restart_haproxy(lb).unwrap();
    assert!(
        get(p.listen).contains("hello from old"),
        "{}",
        get(p.listen)
    );

    // A server the file lacks: refused, the file untouched, no temporary file left.
    s.server = "nosuch".into();
    let e = s.persist(&ex, &l.new.to_string()).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("haproxy on lb: {config} has no `server nosuch` line in a `backend app` or `listen app` section; HAProxy itself runs with the change, which a reload or restart would undo: fix `config` of the proxy and run again")
    );
    assert_eq!(std::fs::read_to_string(lb.fs_path(config)).unwrap(), before);
    assert!(!lb.fs_path(format!("{config}.cutover-new")).exists());
    ex.disconnect_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caddy_switches_through_its_admin_api_without_failed_requests() {
    let l = lab();
    let p = proxy::start_caddy(l.lab.host("lb"), 80, l.old).unwrap();
    let ex = executor(&l.lab, &["lb"]);
    let s = Caddy {
        host: "lb".into(),
        admin: p.control.clone(),
        id: "cutover".into(),
    };
    switches_and_back(&s, &ex, p.listen, &l).await;
    let load = switch_under_load(&ex, &s, p.listen, &l, 3).await;
    assert!(load.requests > 1000, "{load:?}");
    assert_eq!(load.failed, 0, "{load:?}");
    ex.disconnect_all().await;
}

#[tokio::test]
async fn nginx_switches_by_include_and_reload_and_refuses_a_config_that_fails_its_test() {
    let l = lab();
    let p = proxy::start_nginx(l.lab.host("lb"), 80, l.old).unwrap();
    let ex = executor(&l.lab, &["lb"]);
    let s = Nginx {
        host: "lb".into(),
        include: p.control.clone(),
        args: p.nginx_args.clone(),
    };
    switches_and_back(&s, &ex, p.listen, &l).await;
    // An upstream nginx cannot parse: the test fails, the include is restored, no reload.
    let e = s
        .switch(&ex, "not an address")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("configuration test failed") && e.contains("previous include was put back"),
        "{e}"
    );
    assert_eq!(s.current(&ex).await.unwrap(), l.old.to_string());
    assert!(get(p.listen).contains("hello from old"));
    let load = switch_under_load(&ex, &s, p.listen, &l, 3).await;
    assert!(load.requests > 1000, "{load:?}");
    assert_eq!(load.failed, 0, "{load:?}");
    ex.disconnect_all().await;
}

#[tokio::test]
async fn the_health_gate_refuses_an_upstream_that_is_down_or_failing() {
    let l = lab();
    let e = HttpGet::default().check("127.0.0.1:1").await.unwrap_err();
    assert!(e.contains("TCP connect to 127.0.0.1:1 failed"), "{e}");
    let ok = HttpGet {
        path: "/healthz".into(),
        ..Default::default()
    };
    ok.check(&l.new.to_string()).await.expect("healthy");
    let out = std::process::Command::new("curl")
        .args([
            "-sS",
            "-X",
            "POST",
            &format!("http://{}/_control/fail", l.new),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let e = ok.check(&l.new.to_string()).await.unwrap_err();
    assert!(
        e.contains("answered 503") && e.contains("traffic stays where it is"),
        "{e}"
    );
}

/// One GET on a kept-alive connection; the body of the answer.
fn get_on(conn: &mut std::net::TcpStream) -> String {
    use std::io::{BufRead, BufReader, Read, Write};
    conn.write_all(b"GET / HTTP/1.1\r\nHost: app\r\n\r\n")
        .expect("send");
    let mut reader = BufReader::new(conn.try_clone().expect("clone"));
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("header");
        if line.trim().is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().expect("length");
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).expect("body");
    String::from_utf8_lossy(&body).into_owned()
}

/// What the coordinated move's second switch rests on: HAProxy reuses a server connection
/// that carried a request across a switch for the same client's next request (to the old
/// upstream), and drops it, once idle, at the next address change.
#[tokio::test]
async fn haproxy_reuses_a_connection_in_flight_at_a_switch_until_the_next_switch() {
    let l = lab();
    let new2 = app::start_on(l.lab.host("new"), 8081).expect("second app on new");
    let p = proxy::start_haproxy(l.lab.host("lb"), 80, l.old).unwrap();
    let ex = executor(&l.lab, &["lb"]);
    let s = Haproxy {
        host: "lb".into(),
        socket: p.control.clone(),
        backend: "app".into(),
        server: "web".into(),
        config: None,
    };
    let delay = |ms: u32| {
        let out = std::process::Command::new("curl")
            .args(["-sS", &format!("http://{}/_control/delay?ms={ms}", l.old)])
            .output()
            .expect("curl");
        assert!(out.status.success());
    };
    // `second`: the address of a second switch made once the slow request is answered.
    for second in [None, Some(new2.addr.to_string())] {
        s.switch(&ex, &l.old.to_string()).await.unwrap();
        let mut conn = std::net::TcpStream::connect(p.listen).expect("connect");
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        assert!(get_on(&mut conn).contains("hello from old"));
        delay(1500);
        let slow = std::thread::spawn({
            let mut c = conn.try_clone().unwrap();
            move || get_on(&mut c)
        });
        tokio::time::sleep(Duration::from_millis(400)).await;
        s.switch(&ex, &l.new.to_string()).await.unwrap();
        let answered = slow.join().unwrap();
        assert!(answered.contains("hello from old"), "in flight: {answered}");
        delay(0);
        let next = match &second {
            None => get_on(&mut conn),
            Some(to) => {
                s.switch(&ex, to).await.unwrap();
                get_on(&mut conn)
            }
        };
        match second {
            None => assert!(
                next.contains("hello from old"),
                "the kept connection is reused, to old: {next}"
            ),
            Some(_) => assert!(
                next.contains("hello from new"),
                "after a second switch the kept connection is gone: {next}"
            ),
        }
    }
    ex.disconnect_all().await;
}
