//! HTTPS probes pinned to the new host, before any DNS exists for the name: the right Host
//! header and SNI reach Caddy at the pinned address, the certificate from the test CA is
//! checked for the name, its chain and its remaining days.

use crate::support::{caddy_tls, control, Certs, NAME};
use cutover_checks::http::{Client, HttpProbe, Pin};
use cutover_plan::checks::assert::parse_json_assert;
use cutover_testbed::Lab;

fn probe(url: &str, pin: &str, ca: Option<std::path::PathBuf>) -> HttpProbe {
    let mut p = HttpProbe::get(url.parse().unwrap());
    p.request.pins = vec![Pin::parse(pin).unwrap()];
    p.request.ca_file = ca;
    p
}

#[tokio::test]
async fn pinned_https_reaches_the_new_host_with_a_valid_certificate() {
    let lab = Lab::start().unwrap();
    let new = lab.host("new");
    let app = cutover_testbed::app::start_on(new, 8080).unwrap();
    let certs = Certs::new(30);
    let proxy = caddy_tls(&lab, new, 443, app.addr, &certs);
    let client = Client::default();
    let addr = new.address().to_string();

    // The name resolves nowhere: only the pin gets the request to the new host.
    let mut p = probe(
        &format!("https://{NAME}/healthz"),
        &format!("{NAME}:443:{addr}"),
        Some(certs.ca()),
    );
    p.json = vec![
        parse_json_assert("$.status == \"ok\"").unwrap(),
        parse_json_assert("$.host == \"new\"").unwrap(),
    ];
    let o = p.run(&client, None).await;
    assert!(o.ok, "{o:?}");
    assert!(
        o.summary.contains(&proxy.listen.to_string()),
        "{}",
        o.summary
    );
    let days = days_left(&o.summary);
    assert!((29..=30).contains(&days), "{}", o.summary);
    assert!(
        o.summary
            .contains(&format!("certificate {NAME} by Cutover Test CA valid")),
        "{}",
        o.summary
    );

    // Asking for 60 days of validity fails with the count and what to do.
    p.min_cert_days = 60;
    let o = p.run(&client, None).await;
    assert!(!o.ok);
    assert!(
        o.failures[0].contains(&format!("expires in {days} days (fewer than 60)")),
        "{:?}",
        o.failures
    );

    // The app failing is a failed status with the body's start, and a failed JSON field.
    control(app.addr, "fail");
    p.min_cert_days = 7;
    let o = p.run(&client, None).await;
    assert!(!o.ok);
    assert!(
        o.failures[0].starts_with("status 503 (expected 2xx)"),
        "{:?}",
        o.failures
    );
    assert!(
        o.failures
            .iter()
            .any(|f| f == "$.status == \"ok\": found \"fail\""),
        "{:?}",
        o.failures
    );
    control(app.addr, "ok");
    assert!(p.run(&client, None).await.ok);
}

#[tokio::test]
async fn certificate_problems_are_named() {
    let lab = Lab::start().unwrap();
    let new = lab.host("new");
    let app = cutover_testbed::app::start_on(new, 8080).unwrap();
    let certs = Certs::new(30);
    let _proxy = caddy_tls(&lab, new, 443, app.addr, &certs);
    let client = Client::default();
    let addr = new.address().to_string();

    // Without the test CA the chain leads to no trusted root.
    let o = probe(&format!("https://{NAME}/"), &addr, None)
        .run(&client, None)
        .await;
    assert!(!o.ok);
    assert!(
        o.failures[0].contains("does not lead to a trusted root"),
        "{:?}",
        o.failures
    );
    assert!(o.failures[0].contains("ca_file"), "{:?}", o.failures);

    // A name the server has no certificate for: it ends the handshake, and the message says
    // what that probably means.
    let o = probe("https://www.example.test/", &addr, Some(certs.ca()))
        .run(&client, None)
        .await;
    assert!(!o.ok);
    assert!(
        o.failures[0].contains("may have no certificate for `www.example.test`"),
        "{:?}",
        o.failures
    );

    // By address (no SNI) the server presents its default certificate, which does not name it.
    let o = probe(&format!("https://{addr}/"), &addr, Some(certs.ca()))
        .run(&client, None)
        .await;
    assert!(!o.ok);
    assert!(
        o.failures[0].contains(&format!("not valid for `{addr}`: it names")),
        "{:?}",
        o.failures
    );

    // Plain HTTP to the app: a body check and a latency budget.
    let mut p = probe("http://app.example.test:8080/", &addr, None);
    p.body_contains = Some("hello from new".into());
    p.max_latency = Some(std::time::Duration::from_millis(50));
    let o = p.run(&client, None).await;
    assert!(o.ok, "{o:?}");
    control(app.addr, "delay?ms=200");
    let o = p.run(&client, None).await;
    assert!(!o.ok);
    assert!(o.failures[0].starts_with("took 2"), "{:?}", o.failures);
}

fn days_left(summary: &str) -> i64 {
    let after = summary
        .split(" valid ")
        .nth(1)
        .expect("days in the summary");
    after.split(' ').next().unwrap().parse().unwrap()
}
