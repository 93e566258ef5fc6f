//! A Hurl smoke scenario against the test app on the new host, pinned: captures (a token,
//! a task id) reused by later requests, polling until the task is done, secrets redacted.

use cutover_checks::http::{Client, Pin};
use cutover_checks::smoke::SmokeProbe;
use cutover_testbed::Lab;
use std::path::PathBuf;

fn scenario() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/checks/smoke.hurl")
}

#[tokio::test]
async fn a_smoke_scenario_with_captures_passes_and_failures_name_the_line() {
    let lab = Lab::start().unwrap();
    let app = cutover_testbed::app::start_on(lab.host("new"), 8080).unwrap();
    let client = Client::default();
    let secret = "s3cret-canary-7731";
    let probe = |password: &str| SmokeProbe {
        file: scenario(),
        pins: vec![Pin::parse(&format!("app.example.test:8080:{}", app.addr.ip())).unwrap()],
        variables: vec![
            ("base".into(), "http://app.example.test:8080".into(), false),
            ("user".into(), "alice".into(), false),
            ("password".into(), password.into(), true),
        ],
        ca_file: None,
    };
    let o = probe(secret).run(&client).await;
    assert!(o.ok, "{o:?}");
    assert!(
        o.summary
            .starts_with("5 requests, 9 asserts, 2 captures in"),
        "{}",
        o.summary
    );

    // An empty password is refused at registration: the failure names the file and line,
    // and shows the app's answer.
    let o = probe("").run(&client).await;
    assert!(!o.ok);
    let f = &o.failures[0];
    assert!(
        f.contains("smoke.hurl:3: POST {{base}}/api/register: status 400 (expected 201)"),
        "{f}"
    );

    // The secret never shows, even when the app echoes it back in a failing assert.
    let dir = tempfile::tempdir().unwrap();
    let echo = dir.path().join("echo.hurl");
    std::fs::write(
        &echo,
        r#"POST {{base}}/api/register
{"user": "bob", "password": "{{password}}"}
HTTP 201

POST {{base}}/api/login
{"user": "bob", "password": "{{password}}"}
HTTP 200
[Captures]
token: jsonpath "$.token" redact

POST {{base}}/api/tasks
Authorization: Bearer {{token}}
{"title": "{{password}}"}
HTTP 201

GET {{base}}/api/feed
Authorization: Bearer {{token}}
HTTP 200
[Asserts]
jsonpath "$.items[-1].title" == "other"
"#,
    )
    .unwrap();
    let mut p = probe(secret);
    p.file = echo;
    let o = p.run(&client).await;
    assert!(!o.ok);
    assert!(!format!("{o:?}").contains(secret), "{o:?}");
    assert!(o.failures[0].ends_with("echo.hurl:20: assert `jsonpath \"$.items[-1].title\" == \"other\"` failed: found \"***\""), "{:?}", o.failures);
}
