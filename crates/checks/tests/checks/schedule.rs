//! Probes on a fixed schedule: results handed back in send order, outstanding probes bounded,
//! and a soak against a hung app (stopped with SIGSTOP on a lab host: the kernel accepts,
//! nothing answers) that keeps probing on schedule and counts each probe failed at its deadline.

use cutover_checks::http::HttpProbe;
use cutover_checks::schedule::Schedule;
use cutover_checks::soak::{self, SoakEnd, SoakSpec, SoakState};
use cutover_checks::trigger::{Condition, TriggerSpec};
use cutover_checks::{NamedProbe, Probe, ProbeEnv};
use cutover_testbed::Lab;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn probe(addr: SocketAddr, timeout: Duration) -> NamedProbe {
    let mut p = NamedProbe::new(
        "health",
        Probe::Http(HttpProbe::get(
            format!("http://{addr}/healthz").parse().unwrap(),
        )),
    );
    p.timeout = timeout;
    p
}

/// A server on loopback: the first connection is answered 200 after `slow`, every later one
/// 503 at once. Counts connections.
async fn slow_then_failing(slow: Duration) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let n = count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let status = if n == 0 {
                    tokio::time::sleep(slow).await;
                    "200 OK"
                } else {
                    "503 Service Unavailable"
                };
                let _ = s
                    .write_all(
                        format!(
                            "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        )
                        .as_bytes(),
                    )
                    .await;
            });
        }
    });
    (addr, accepted)
}

/// A server on loopback that accepts connections and never answers (holding them open).
async fn silent() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            held.push(s);
        }
    });
    (addr, accepted)
}

#[tokio::test]
async fn results_come_back_in_the_order_the_probes_were_sent() {
    let (addr, _) = slow_then_failing(Duration::from_millis(400)).await;
    let mut schedule = Schedule::new(
        vec![probe(addr, Duration::from_secs(2))],
        ProbeEnv::default(),
        16,
    );
    let started = Instant::now();
    for _ in 0..3 {
        schedule.send(0);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut results = Vec::new();
    while let Some(r) = schedule.next().await {
        results.push((r.at_ms, r.outcome.ok, started.elapsed()));
    }
    // The two later probes failed within a few ms, but come back after the slow first one.
    let oks: Vec<bool> = results.iter().map(|r| r.1).collect();
    assert_eq!(oks, [true, false, false], "{results:?}");
    assert!(
        results[0].0 < results[1].0 && results[1].0 < results[2].0,
        "stamped with their send times: {results:?}"
    );
    assert!(
        results[1].2 >= Duration::from_millis(400),
        "a later result was handed out before an earlier one: {results:?}"
    );
}

#[tokio::test]
async fn outstanding_probes_are_bounded_and_the_excess_counts_as_failed() {
    let (addr, accepted) = silent().await;
    let mut schedule = Schedule::new(
        vec![probe(addr, Duration::from_millis(300))],
        ProbeEnv::default(),
        2,
    );
    for _ in 0..4 {
        schedule.send(0);
    }
    let mut failures = Vec::new();
    for _ in 0..4 {
        let r = schedule.next().await.unwrap();
        assert!(!r.outcome.ok);
        failures.push(r.outcome.line());
    }
    assert_eq!(
        failures,
        [
            "no answer within 300 ms (the check's `timeout`)",
            "no answer within 300 ms (the check's `timeout`)",
            "2 earlier probes still outstanding: this one was not sent (counted as failed)",
            "2 earlier probes still outstanding: this one was not sent (counted as failed)",
        ]
    );
    assert_eq!(accepted.load(Ordering::SeqCst), 2, "only 2 were sent");
    assert!(schedule.is_idle());
    // Once they ended at their deadline, probes are sent again.
    schedule.send(0);
    let r = schedule.next().await.unwrap();
    assert_eq!(
        r.outcome.failures[0],
        "no answer within 300 ms (the check's `timeout`)"
    );
    assert_eq!(accepted.load(Ordering::SeqCst), 3);
}

/// The test app on the lab's new host, stopped with SIGSTOP: it accepts, never answers.
struct HungApp {
    app: cutover_testbed::app::AppProcess,
    _lab: Lab,
}

impl HungApp {
    fn start() -> HungApp {
        let lab = Lab::start().unwrap();
        let app = cutover_testbed::app::start_on(lab.host("new"), 8080).unwrap();
        let status = std::process::Command::new("kill")
            .args(["-STOP", &app.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        HungApp { app, _lab: lab }
    }
}

fn consecutive(n: u32) -> Vec<TriggerSpec> {
    vec![TriggerSpec {
        check: None,
        condition: Condition::Consecutive(n),
    }]
}

#[tokio::test]
async fn a_soak_keeps_probing_a_hung_app_on_schedule_and_fires_at_the_deadlines() {
    let hung = tokio::task::spawn_blocking(HungApp::start).await.unwrap();
    // One probe every 200 ms, each given 1 s: the third probe sent after the hang is counted
    // failed 1.4 s after the first was sent. Waiting out each timeout before the next probe
    // took 3 s and more.
    let spec = SoakSpec {
        probes: vec![probe(hung.app.addr, Duration::from_secs(1))],
        interval: Duration::from_millis(200),
        ends_at_ms: now_ms() + 30_000,
        triggers: consecutive(3),
        prometheus: None,
        logs: Vec::new(),
    };
    let started = Instant::now();
    let mut state = SoakState::default();
    let end = soak::run(&spec, &ProbeEnv::default(), &mut state, |_| {})
        .await
        .unwrap();
    let took = started.elapsed();
    let SoakEnd::Fired(f) = end else {
        panic!("the soak completed against a hung app")
    };
    assert_eq!(
        f.evidence,
        "health failed 3 times in a row; last failure: no answer within 1000 ms (the check's `timeout`)"
    );
    assert!(
        state.ticks >= 6,
        "probes were held back by outstanding ones: {} sent in {took:?}",
        state.ticks
    );
    // 1.4 s expected; the margin absorbs a loaded machine, and stays under the 3 s of probes
    // waiting for each other.
    assert!(took < Duration::from_millis(2400), "fired after {took:?}");
    eprintln!(
        "hung app: fired after {took:?}, {} probes sent",
        state.ticks
    );
}

#[tokio::test]
async fn probes_sent_in_the_window_are_judged_after_it() {
    let hung = tokio::task::spawn_blocking(HungApp::start).await.unwrap();
    // A 500 ms window sends 3 probes (at 0, 200 and 400 ms); none is answered by the window's
    // end, each is counted failed at its deadline, and the third failure fires.
    let spec = SoakSpec {
        probes: vec![probe(hung.app.addr, Duration::from_secs(1))],
        interval: Duration::from_millis(200),
        ends_at_ms: now_ms() + 500,
        triggers: consecutive(3),
        prometheus: None,
        logs: Vec::new(),
    };
    let mut state = SoakState::default();
    let end = soak::run(&spec, &ProbeEnv::default(), &mut state, |_| {})
        .await
        .unwrap();
    assert!(
        matches!(end, SoakEnd::Fired(_)),
        "{end:?} after {} probes",
        state.ticks
    );
    assert_eq!(state.checks["health"].failed, 3);
}
