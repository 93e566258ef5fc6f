//! The downtime prober counting a real outage: the app on the new host is killed and
//! started again while the prober sends a request every 20 ms.

use cutover_checks::http::HttpProbe;
use cutover_checks::{NamedProbe, Probe, ProbeEnv, Prober};
use cutover_testbed::Lab;
use std::time::{Duration, Instant};

#[tokio::test]
async fn the_prober_measures_a_real_outage() {
    let lab = Lab::start().unwrap();
    let new = lab.host("new");
    let app = cutover_testbed::app::start_on(new, 8080).unwrap();
    let url = format!("http://{}/", app.addr);
    let probe = NamedProbe::new("users", Probe::Http(HttpProbe::get(url.parse().unwrap())));
    let handle = Prober::start(probe, ProbeEnv::default(), Duration::from_millis(20));
    tokio::time::sleep(Duration::from_millis(500)).await;

    drop(app);
    let down = Instant::now();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let app = tokio::task::spawn_blocking(move || {
        cutover_testbed::app::start_on(lab.host("new"), 8080).map(|a| (a, lab))
    })
    .await
    .unwrap()
    .unwrap();
    let outage = down.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let report = handle.stop().await;
    drop(app);

    assert_eq!(report.outages.len(), 1, "{report:#?}");
    assert!(report.failed >= 30, "{}", report.line());
    assert!(report.requests > report.failed + 40, "{}", report.line());
    let measured = report.unavailable;
    let diff = measured.as_millis() as i64 - outage.as_millis() as i64;
    assert!(
        diff.abs() < 150,
        "prober measured {measured:?}, the outage lasted {outage:?}"
    );
    assert!(
        report.failures[0].error.contains("Connection refused")
            || report.failures[0].error.contains("connection"),
        "{:?}",
        report.failures[0]
    );
    eprintln!("{}", report.line());
}
