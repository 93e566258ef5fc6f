//! The `[downtime]` prober: users' requests sent every 50 ms through HAProxy while the listed
//! steps run; a step that breaks the app for ~0.6 s is measured as such, the proxy switch
//! (health-gated, through HAProxy's runtime API) as losing no request.

use super::soak::{cutover, plan, setup};
use crate::fixture::Run;

/// The value of measurement `name` of step `step` in the Markdown report.
fn measured(report: &str, step: &str, name: &str) -> f64 {
    let prefix = format!("| {step} | {name} | ");
    let line = report
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no {name} for {step} in:\n{report}"));
    line[prefix.len()..]
        .split(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("not a figure: {line}"))
}

#[test]
fn the_prober_measures_a_broken_step_and_a_clean_switch() {
    let s = setup();
    let old = s.old_app.addr;
    let base = plan(&s.lab, s.front.listen, "duration = \"1s\"");
    // The blip runs on old before the switch: the old app answers 503 for ~0.6 s.
    let blip = format!(
        r#"
[[stages]]
name = "blip"
[[stages.steps]]
id = "blip"
kind = "run"
hosts = ["old"]
command = "curl -fsS -X POST http://{old}/_control/fail >/dev/null && sleep 0.6 && curl -fsS -X POST http://{old}/_control/ok >/dev/null"
"#
    );
    let downtime = "\n[downtime]\ncheck = \"users\"\ninterval = \"50ms\"\nsettle = \"300ms\"\nsteps = [\"blip\", \"switch\"]\n";
    let text = base.replacen(
        "\n[[stages]]\nname = \"switch\"",
        &format!("{blip}\n[[stages]]\nname = \"switch\""),
        1,
    ) + downtime;
    let plan_path = s.dir.path().join("cutover.toml");
    std::fs::write(&plan_path, text).expect("write the plan");

    let preview = Run(cutover(&plan_path, &["plan"])
        .output()
        .expect("run cutover"))
    .expect(0);
    assert!(
        preview.stdout().contains(
            "downtime prober: check `users` every 50ms during the step and 300ms after it"
        ),
        "{}",
        preview.stdout()
    );
    let out = Run(cutover(&plan_path, &["apply", "--yes"])
        .output()
        .expect("run cutover"))
    .expect(0);
    assert!(
        out.stdout().contains("downtime prober (users every 50ms)"),
        "{}",
        out.stdout()
    );
    let report = Run(cutover(&plan_path, &["report"]).output().expect("report")).expect(0);
    let report = report.stdout();
    let failed = measured(&report, "blip", "downtime_failed");
    let unavailable = measured(&report, "blip", "downtime_unavailable");
    assert!(failed >= 5.0, "the blip lost {failed} requests:\n{report}");
    assert!(
        (0.4..1.5).contains(&unavailable),
        "the blip measured {unavailable} s unavailable:\n{report}"
    );
    assert!(
        measured(&report, "switch", "downtime_requests") >= 5.0,
        "{report}"
    );
    assert_eq!(
        measured(&report, "switch", "downtime_failed"),
        0.0,
        "the switch lost requests:\n{report}"
    );
    eprintln!(
        "downtime: blip {failed} failed, {unavailable} s unavailable; switch {} requests, 0 failed",
        measured(&report, "switch", "downtime_requests")
    );
    // Steps not listed are not probed.
    assert!(!report.contains("| gate | downtime_requests"), "{report}");
}
