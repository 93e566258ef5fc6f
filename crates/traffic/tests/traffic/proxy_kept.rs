//! HAProxy letting go of the server connections it kept across a switch
//! (`Switcher::release_kept`): through a stand-in server while the switched one drains, and
//! the plain wait it falls back to when HAProxy refuses the stand-in; and by repeated
//! address changes while requests are held (`Switcher::drop_kept`).

use super::proxy::{executor, lab, ProxyLab};
use cutover_exec::Executor;
use cutover_testbed::{app, proxy};
use cutover_traffic::proxy::{haproxy::Haproxy, Kept, Switcher};
use std::io::{BufRead, BufReader, Read, Write};
use std::time::Duration;

/// One GET on a kept-alive connection; the body of the answer.
fn get_on(conn: &mut std::net::TcpStream) -> String {
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

/// Makes the app at `old` answer after `ms` milliseconds.
fn delay_old(old: std::net::SocketAddr, ms: u32) {
    let out = std::process::Command::new("curl")
        .args(["-sS", &format!("http://{old}/_control/delay?ms={ms}")])
        .output()
        .expect("curl");
    assert!(out.status.success());
}

/// A client connection to the proxy at `listen` whose server connection HAProxy keeps to
/// old across a switch to `to`: a slow request is in flight on it at the switch.
async fn kept_across_a_switch(
    l: &ProxyLab,
    s: &Haproxy,
    ex: &Executor,
    listen: std::net::SocketAddr,
    to: &str,
) -> std::net::TcpStream {
    let mut conn = std::net::TcpStream::connect(listen).expect("connect");
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert!(get_on(&mut conn).contains("hello from old"));
    delay_old(l.old, 1500);
    let slow = std::thread::spawn({
        let mut c = conn.try_clone().unwrap();
        move || get_on(&mut c)
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    s.switch(ex, to).await.unwrap();
    assert!(slow.join().unwrap().contains("hello from old"));
    conn
}

fn haproxy(control: &str) -> Haproxy {
    Haproxy {
        host: "lb".into(),
        socket: control.into(),
        backend: "app".into(),
        server: "web".into(),
        config: None,
    }
}

#[tokio::test]
async fn a_connection_kept_across_a_switch_is_let_go_and_the_next_request_goes_to_the_new_upstream()
{
    let l = lab();
    let p = proxy::start_haproxy(l.lab.host("lb"), 80, l.old).unwrap();
    let ex = executor(&l.lab, &["lb"]);
    let s = haproxy(&p.control);
    // A slow request in flight at the switch: HAProxy keeps its server connection.
    let mut conn = kept_across_a_switch(&l, &s, &ex, p.listen, &l.new.to_string()).await;
    delay_old(l.old, 0);
    let kept = s
        .release_kept(
            &ex,
            &l.old.to_string(),
            &l.new.to_string(),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(kept, Kept::Left(0));
    assert!(
        get_on(&mut conn).contains("hello from new"),
        "the same client's next request still went to the old upstream"
    );
    // HAProxy is left as it was: `web` alone, ready, at the new upstream.
    assert_eq!(s.current(&ex).await.unwrap(), l.new.to_string());
    let state = l
        .lab
        .host("lb")
        .exec_ok(&format!(
            "echo 'show servers state app' | socat -t5 stdio UNIX-CONNECT:{}",
            p.control
        ))
        .unwrap();
    assert!(!state.contains("cutover-drain"), "{state}");
    ex.disconnect_all().await;
}

#[tokio::test]
async fn without_a_dynamic_balance_the_drain_is_a_plain_wait_and_says_why() {
    let l = lab();
    let lb = l.lab.host("lb");
    let mut p = proxy::start_haproxy(lb, 80, l.old).unwrap();
    let config = lb.fs_path(proxy::HAPROXY_CONFIG);
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("backend app\n", "backend app\n  balance static-rr\n"),
    )
    .unwrap();
    p.restart_haproxy(lb).unwrap();
    let ex = executor(&l.lab, &["lb"]);
    let s = haproxy(&p.control);
    // A client connection kept to old, so that there is something to let go of.
    let mut conn = std::net::TcpStream::connect(p.listen).expect("connect");
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert!(get_on(&mut conn).contains("hello from old"));
    let old = l.old.to_string();
    let kept = s
        .release_kept(&ex, &old, &l.new.to_string(), Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(
        kept,
        Kept::CannotRelease(
            "HAProxy refused the stand-in server `cutover-drain` (dynamic servers need HAProxy 2.4+ and a backend whose `balance` is dynamic): Backend must use a dynamic load balancing to support dynamic servers.".into()
        )
    );
    assert_eq!(s.current(&ex).await.unwrap(), old, "nothing was changed");
    ex.disconnect_all().await;
}

/// A connection kept to old that is busy when the drop begins (one address change would
/// miss it) is dropped by a later change, once idle; the same client's next request goes to
/// the upstream the proxy points at.
#[tokio::test]
async fn a_kept_connection_busy_at_the_first_change_is_dropped_at_a_later_one() {
    let l = lab();
    let new2 = app::start_on(l.lab.host("new"), 8081).expect("second app on new");
    let p = proxy::start_haproxy(l.lab.host("lb"), 80, l.old).unwrap();
    let ex = executor(&l.lab, &["lb"]);
    let s = haproxy(&p.control);
    let (a, b, old) = (l.new.to_string(), new2.addr.to_string(), l.old.to_string());
    // In flight at the switch: HAProxy keeps the connection to old.
    let mut conn = kept_across_a_switch(&l, &s, &ex, p.listen, &a).await;
    let delay = |ms: u32| delay_old(l.old, ms);
    // Three 300 ms requests back to back on the kept connection: busy when the drop begins.
    delay(300);
    let busy = std::thread::spawn({
        let mut c = conn.try_clone().unwrap();
        move || (0..3).map(|_| get_on(&mut c)).collect::<Vec<_>>()
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let kept = s
        .drop_kept(&ex, &old, &a, &b, Duration::from_secs(5))
        .await
        .unwrap();
    let answers = busy.join().unwrap();
    assert!(
        answers[0].contains("hello from old"),
        "the connection was kept and busy: {answers:?}"
    );
    assert_eq!(kept, Kept::Left(0));
    delay(0);
    assert!(
        get_on(&mut conn).contains("hello from new"),
        "the same client's next request still went to the old upstream"
    );
    assert_eq!(s.current(&ex).await.unwrap(), a, "it ends pointed at a");
    ex.disconnect_all().await;
}
