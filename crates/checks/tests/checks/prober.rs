//! The downtime prober counting a real outage: the app on the new host is killed and
//! started again while the prober sends a request every 20 ms.

use cutover_checks::http::HttpProbe;
use cutover_checks::{NamedProbe, Probe, ProbeEnv, Prober};
use cutover_testbed::Lab;
use std::time::Duration;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test]
async fn the_prober_measures_a_real_outage() {
    let lab = Lab::start().unwrap();
    let new = lab.host("new");
    let app = cutover_testbed::app::start_on(new, 8080).unwrap();
    let url = format!("http://{}/", app.addr);
    let probe = NamedProbe::new("users", Probe::Http(HttpProbe::get(url.parse().unwrap())));
    let handle = Prober::start(probe, ProbeEnv::default(), Duration::from_millis(20));
    tokio::time::sleep(Duration::from_millis(500)).await;

    // The test's own clock brackets the outage: it began between the kill and the moment the
    // killed app was reaped, and ended between the restart and the first accepted connection.
    let kill_sent = now_ms();
    drop(app);
    let reaped = now_ms();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let restart_began = now_ms();
    let app = tokio::task::spawn_blocking(move || {
        cutover_testbed::app::start_on(lab.host("new"), 8080).map(|a| (a, lab))
    })
    .await
    .unwrap()
    .unwrap();
    let accepting = now_ms();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let report = handle.stop().await;
    drop(app);

    assert_eq!(report.outages.len(), 1, "{report:#?}");
    let outage = report.outages[0];
    assert_eq!(outage.failed, report.failed, "{}", report.line());
    assert_eq!(
        report.unavailable.as_millis() as i64,
        outage.until_ms - outage.from_ms
    );
    // The prober's resolution is the widest gap between its failed requests (its ticks slip
    // when the machine is loaded), never less than its interval: each edge of the outage is
    // measured to within that.
    let sends: Vec<i64> = report.failures.iter().map(|f| f.at_ms).collect();
    let gap = sends
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or(0)
        .max(20);
    let bracket = format!(
        "kill sent at 0, reaped at {} ms, restart began at {} ms, accepting at {} ms; the prober measured {} ms to {} ms (resolution {gap} ms): {}",
        reaped - kill_sent,
        restart_began - kill_sent,
        accepting - kill_sent,
        outage.from_ms - kill_sent,
        outage.until_ms - kill_sent,
        report.line()
    );
    assert!(
        outage.from_ms >= kill_sent - gap && outage.from_ms <= reaped + gap,
        "the outage's start is off: {bracket}"
    );
    assert!(
        outage.until_ms >= restart_began - gap && outage.until_ms <= accepting + gap,
        "the outage's end is off: {bracket}"
    );
    // It kept its pace through the outage: at least half of its ticks sent a request.
    assert!(
        report.failed as i64 >= (outage.until_ms - outage.from_ms) / 20 / 2,
        "{bracket}"
    );
    assert!(
        report.failures[0].error.contains("Connection refused")
            || report.failures[0].error.contains("connection"),
        "{:?}",
        report.failures[0]
    );
    eprintln!("{bracket}");
}
