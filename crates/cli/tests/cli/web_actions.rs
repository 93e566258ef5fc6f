//! The dashboard on a real lab run, in headless Chromium: a copy's progress bar appears and
//! moves while the copy runs, and Roll back (after its confirmation) rolls the run back,
//! journaled like `cutover rollback` with the operator's name.

use crate::fixture::Fixture;
use crate::web_client::{runtime, session, wait_for, Dashboard};
use cutover_testbed::browser::Chromedriver;
use fantoccini::Locator;

/// 40 MB to copy over a link shaped to 8 MB/s (about 5 s), a step with an undo, a gate.
const PLAN: &str = r#"
[[stages]]
name = "copy"
[[stages.steps]]
id = "seed"
kind = "run"
hosts = ["old"]
command = "mkdir -p /srv/app && head -c 40000000 /dev/urandom > /srv/app/blob"
[[stages.steps]]
id = "mark"
kind = "run"
hosts = ["new"]
command = "mkdir -p /srv/state && touch /srv/state/marker"
undo = "rm -f /srv/state/marker"
[[stages.steps]]
id = "copy-files"
kind = "files.sync"
from = { host = "old", path = "/srv/app" }
to = { host = "new", path = "/srv/app" }

[[stages]]
name = "go-live"
[[stages.steps]]
id = "go-live"
kind = "approve"
message = "move traffic?"
"#;

/// Limits what `host` sends to `rate` (its only link: the lab's bridge).
fn shape(f: &Fixture, host: &str, rate: &str) {
    let ns = f.lab.host(host).netns();
    let out = std::process::Command::new("tc")
        .args(["-n", ns, "qdisc", "replace", "dev", "eth0", "root", "tbf"])
        .args(["rate", rate, "burst", "64kb", "latency", "200ms"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tc: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_dashboard_shows_a_copys_bar_moving_and_roll_back_rolls_the_run_back() {
    let f = Fixture::new(PLAN);
    shape(&f, "old", "64mbit");
    let dash = Dashboard::start(&f);
    let mut apply = f
        .command(&["apply", "--yes", "--no-wait"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let driver = Chromedriver::start().unwrap();
    runtime().block_on(async {
        let c = session(&driver, 0).await;
        c.goto(&dash.url).await.unwrap();
        // The bar appears for the copy with a total and an ETA, then shows more done.
        let bar = "const b = document.getElementById('step-progress'); if (!b || b.dataset.step !== 'copy-files') return false;";
        wait_for(&c, &format!("{bar} window.firstDone = +b.dataset.done; return +b.dataset.total === 40000000 && !!document.getElementById('step-eta');"), 60, "the copy's bar with an ETA").await;
        wait_for(&c, &format!("{bar} return +b.dataset.done > window.firstDone && +document.getElementById('step-bar').value === +b.dataset.done \
            && /^\\d+\\.\\d (B|kB|MB) of 40\\.0 MB, [01] of 1 files$/.test(document.getElementById('step-done').textContent);"), 20, "the bar moving").await;
        wait_for(&c, "return document.getElementById('gate-id').textContent === 'go-live'", 60, "the gate after the copy").await;
        assert_eq!(apply.wait().unwrap().code(), Some(7), "apply stops at the gate");

        c.find(Locator::Id("by")).await.unwrap().send_keys("dash-operator").await.unwrap();
        c.find(Locator::Id("comment")).await.unwrap().send_keys("numbers looked off").await.unwrap();
        c.find(Locator::Id("rollback")).await.unwrap().click().await.unwrap();
        assert_eq!(
            c.get_alert_text().await.unwrap(),
            "Roll back every applied step of this run, newest first?"
        );
        c.accept_alert().await.unwrap();
        wait_for(&c, "return /^run \\S+ rolled back: 1 step\\(s\\) undone\\n$/.test(document.getElementById('said').textContent)", 30, "the rollback answered").await;
        wait_for(&c, "const o = document.getElementById('outcome'); return !!o && o.textContent.endsWith('ended: rolled_back') && document.getElementById('gate').hidden && !document.getElementById('current')", 20, "the outcome shown").await;
        c.close().await.unwrap();
    });
    assert_eq!(f.host_file("new", "/srv/state/marker"), "", "the undo ran");
    assert!(!f.lab.host("new").fs_path("/srv/state/marker").exists());
    let report: serde_json::Value =
        serde_json::from_str(&f.run(&["report", "--json"]).expect(0).stdout()).unwrap();
    assert_eq!(report["outcome"], "rolled_back");
    assert_eq!(
        report["rollbacks"][0]["cause"],
        "requested from the dashboard by dash-operator: numbers looked off"
    );
    // The copy's samples are few: at most one a second.
    let timeline = report["timeline"].as_array().unwrap();
    let samples = timeline
        .iter()
        .filter(|t| t["event"] == "progressed")
        .count();
    let copy = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "copy-files")
        .unwrap();
    let seconds = copy["seconds"].as_f64().unwrap();
    assert!(
        samples >= 2 && samples as f64 <= seconds + 1.0,
        "{samples} samples in {seconds} s"
    );
}
