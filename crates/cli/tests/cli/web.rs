//! The run in a browser, on a real lab migration: the HTML report opens in headless Chromium
//! with no network and shows the JSON report's figures; the dashboard shows the waiting gate,
//! its Approve moves the run on, the soak chart follows, the token and the origin are
//! enforced, a reconnecting viewer catches up, and 20 viewers get each event within 500 ms.

use crate::fixture::Fixture;
use crate::web_client::{cpu_seconds, next_event, rss_mib, runtime, session, wait_for, Dashboard};
use cutover_testbed::browser::Chromedriver;
use fantoccini::Locator;
use std::time::{Duration, Instant};

/// Files copied and proven, a go-live gate, then a soak of the app on `new`.
fn plan(app: std::net::SocketAddr, soak: &str) -> String {
    format!(
        r#"
[checks.app]
kind = "http"
url = "http://{app}/healthz"
timeout = "2s"

[[stages]]
name = "copy"
[[stages.steps]]
id = "seed"
kind = "run"
hosts = ["old"]
command = "mkdir -p /srv/app/media && echo v1 > /srv/app/VERSION && head -c 200000 /dev/urandom > /srv/app/media/blob"
[[stages.steps]]
id = "copy-files"
kind = "files.sync"
from = {{ host = "old", path = "/srv/app" }}
to = {{ host = "new", path = "/srv/app" }}
[[stages.steps]]
id = "prove-files"
kind = "files.verify"
from = {{ host = "old", path = "/srv/app" }}
to = {{ host = "new", path = "/srv/app" }}

[[stages]]
name = "go-live"
[[stages.steps]]
id = "go-live"
kind = "approve"
message = "move traffic?"

[[stages]]
name = "watch"
[[stages.steps]]
id = "soak"
kind = "soak"
checks = ["app"]
interval = "200ms"
duration = "{soak}"
triggers = [{{ p95 = "800ms", over = "1m", min_samples = 3 }}, {{ consecutive_failures = 5 }}]
"#
    )
}

fn json(f: &Fixture) -> serde_json::Value {
    serde_json::from_str(&f.run(&["report", "--json"]).expect(0).stdout()).unwrap()
}

#[test]
fn the_html_report_of_a_lab_run_opens_in_chromium_with_no_network_and_shows_the_json_figures() {
    let f = Fixture::new("");
    let app = cutover_testbed::app::start_on(f.lab.host("new"), 8080).unwrap();
    f.write_plan(&plan(app.addr, "4s"));
    f.run(&["apply", "--yes", "--no-wait"]).expect(7);
    f.run(&[
        "approve",
        "go-live",
        "--by",
        "alice",
        "--comment",
        "checked <b>twice</b>",
    ])
    .expect(0);
    f.run(&["apply", "--yes"]).expect(0);
    let file = f.dir.path().join("report.html");
    f.run(&["report", "--format", "html", "-o", file.to_str().unwrap()])
        .expect(0);
    let report = json(&f);
    let driver = Chromedriver::start().unwrap();
    runtime().block_on(async {
        let c = session(&driver, 0).await;
        c.goto(&format!("file://{}", file.display())).await.unwrap();
        let loaded = c.execute("return performance.getEntriesByType('resource').length", vec![]).await.unwrap();
        assert_eq!(loaded.as_u64(), Some(0), "the report loaded something from outside itself");
        let text = |css: String| {
            let c = c.clone();
            async move { c.find(Locator::Css(&css)).await.unwrap_or_else(|_| panic!("no {css}")).text().await.unwrap() }
        };
        assert_eq!(text("#outcome".into()).await, report["outcome"].as_str().unwrap());
        for s in report["steps"].as_array().unwrap() {
            let id = s["id"].as_str().unwrap();
            assert_eq!(text(format!("tr[data-step='{id}'] td.outcome")).await, s["outcome"].as_str().unwrap());
            for m in s["measurements"].as_array().unwrap() {
                let name = m["name"].as_str().unwrap();
                let shown: f64 = text(format!("tr[data-step='{id}'][data-measure='{name}'] td.value")).await.parse().unwrap();
                let value = m["value"].as_f64().unwrap();
                let precision = if value.abs() >= 100.0 { 0.5 } else { 1e-4 };
                assert!((shown - value).abs() <= precision, "{id} {name}: page {shown}, JSON {value}");
            }
        }
        // The approval with who and the comment as text, the proof, the soak's chart.
        assert_eq!(text("tr[data-gate='go-live'] td.by".into()).await, "alice");
        assert!(text("#approvals".into()).await.contains("checked <b>twice</b>"));
        let proof = c.find(Locator::Css("section.proof[data-step='prove-files']")).await.unwrap();
        assert_eq!(proof.attr("data-matches").await.unwrap().as_deref(), Some("true"));
        let files = proof.find(Locator::Css("table.sides tbody tr:nth-child(2)")).await.unwrap().text().await.unwrap();
        assert!(files.starts_with("files"), "{files}");
        let points = c
            .execute("return document.querySelector(\"section.series[data-step='soak'] polyline\").getAttribute('points').split(' ').length", vec![])
            .await
            .unwrap();
        assert!(points.as_u64().unwrap() >= 3, "soak chart points: {points}");
        c.close().await.unwrap();
    });
}

#[test]
fn the_dashboard_shows_the_gate_and_approve_moves_the_run_on() {
    let f = Fixture::new("");
    let app = cutover_testbed::app::start_on(f.lab.host("new"), 8080).unwrap();
    f.write_plan(&plan(app.addr, "15s"));
    let mut apply = KillOnDrop(
        f.command(&["apply", "--yes"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let dash = Dashboard::start(&f);
    let token = dash.token.clone();

    // The token is required and other origins and host names are refused.
    assert_eq!(dash.request("GET", "/", &[], "").0, 401);
    assert_eq!(dash.request("GET", "/?token=wrong", &[], "").0, 401);
    assert_eq!(
        dash.request("GET", &format!("/?token={token}"), &[], "").0,
        200
    );
    let evil = [
        ("Origin", "http://evil.example"),
        ("x-cutover-token", token.as_str()),
        ("Content-Type", "application/json"),
    ];
    let refused = dash.request(
        "POST",
        "/approve",
        &evil,
        r#"{"gate":"go-live","by":"mallory"}"#,
    );
    assert_eq!(
        refused,
        (403, "refused: request from another origin\n".to_string())
    );

    let driver = Chromedriver::start().unwrap();
    runtime().block_on(async {
        let c = session(&driver, 0).await;
        c.goto(&dash.url).await.unwrap();
        wait_for(&c, "return !document.getElementById('gate').hidden && document.getElementById('gate-id').textContent === 'go-live'", 60, "the gate shown").await;
        // A second viewer sees the same.
        let c2 = session(&driver, 1).await;
        c2.goto(&dash.url).await.unwrap();
        wait_for(&c2, "return document.getElementById('gate-id').textContent === 'go-live'", 20, "the gate on a second viewer").await;
        assert!(f.run(&["status", "--json"]).stdout().contains("\"waiting_for\": \"go-live"));

        c.find(Locator::Id("by")).await.unwrap().send_keys("dash-operator").await.unwrap();
        c.find(Locator::Id("approve-button")).await.unwrap().click().await.unwrap();
        wait_for(&c, "return document.getElementById('said').textContent.startsWith('approved go-live by dash-operator')", 20, "the approval answered").await;
        wait_for(&c, "const s = document.getElementById('current-step'); return !!s && s.textContent === 'soak' && document.getElementById('gate').hidden", 30, "the run moved on to the soak").await;
        wait_for(&c2, "return document.getElementById('gate').hidden", 20, "the gate gone on the second viewer").await;
        // The soak chart grows as samples arrive.
        let points = "const p = document.querySelector('#soak polyline'); return p ? p.getAttribute('points').split(' ').length : 0";
        let first = c.execute(points, vec![]).await.unwrap().as_u64().unwrap_or(0);
        wait_for(&c, &format!("const n = (() => {{ {points} }})(); return n > {first} && n >= 3"), 20, "the soak chart updated").await;
        c.close().await.unwrap();
        c2.close().await.unwrap();
    });

    // 20 viewers during the soak: each journaled event reaches all of them within 500 ms.
    let viewers: Vec<_> = (0..20)
        .map(|_| {
            let mut r = dash.viewer(None);
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(6);
                let mut got = Vec::new();
                while let Some(e) = next_event(&mut r, deadline) {
                    if e.event == "journal" {
                        let at: serde_json::Value = serde_json::from_str(&e.data).unwrap();
                        got.push((at["at_ms"].as_i64().unwrap(), e.received_ms));
                    }
                }
                got
            })
        })
        .collect();
    // Events journaled before every viewer was connected arrive as catch-up: only later
    // ones measure latency.
    let connected_ms = cutover_journal::now_ms();
    let pid = dash.child.id();
    let (cpu0, t0) = (cpu_seconds(pid), Instant::now());
    std::thread::sleep(Duration::from_secs(5));
    let cpu = (cpu_seconds(pid) - cpu0) / t0.elapsed().as_secs_f64() * 100.0;
    let rss = rss_mib(pid);
    let mut worst = Vec::new();
    for v in viewers {
        let got = v.join().unwrap();
        worst.extend(
            got.into_iter()
                .filter(|(at, _)| *at > connected_ms)
                .map(|(at, received)| received - at),
        );
    }
    worst.sort_unstable();
    let max = worst.last().copied().unwrap_or(0);
    eprintln!(
        "dashboard while soaking, 20 viewers: {} event deliveries, latency median {} ms, max {max} ms; RSS {rss:.1} MiB; CPU {cpu:.2}% of a core",
        worst.len(),
        worst.get(worst.len() / 2).copied().unwrap_or(0)
    );
    assert!(worst.len() >= 20, "the viewers got no live events");
    assert!(max < 500, "an event took {max} ms to reach a viewer");

    // A viewer that reconnects with the last id it saw gets what came after, first.
    let mut r = dash.viewer(Some(5));
    let e = next_event(&mut r, Instant::now() + Duration::from_secs(5)).unwrap();
    assert_eq!((e.event.as_str(), e.id), ("journal", 6));

    assert_eq!(
        apply.0.wait().unwrap().code(),
        Some(0),
        "apply after the approval"
    );
    let report = json(&f);
    let approval = &report["approvals"][0];
    assert_eq!(
        (approval["gate"].as_str(), approval["by"].as_str()),
        (Some("go-live"), Some("dash-operator"))
    );
}

/// A child process killed if the test fails before it ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
