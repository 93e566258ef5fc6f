//! A release whose new colour fails `/readyz` after the switch: `compose.deploy` then a soak
//! probing `/readyz` through the proxy every 200 ms (2 failures in a row fire it). The new
//! colour is made to fail 1 s after the bench's client first sees it; the client (a fresh
//! connection every 10 ms) and the journal tell when it was detected and when users were
//! back on the previous colour.

use super::{app_compose, deploy, get, post, proxy_section, DockerLab};
use crate::report::Target;
use crate::rounds::Samples;
use crate::Options;
use cutover_testbed::{app, images, proxy};
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const SOAK: &str = r#"[[stages.steps]]
id = "watch"
kind = "soak"
checks = ["users"]
duration = "60s"
interval = "200ms"
triggers = [{ consecutive_failures = 2 }]"#;

/// One trial's figures.
struct Trial {
    /// From the failure to the soak's `rollback_started` (s).
    detected: f64,
    /// From `rollback_started` to the first answer of the previous colour (s).
    back: f64,
    /// Failed requests at the client between the failure and that first answer.
    inside: u64,
    /// Failed requests at the client in the second before the failure and after the answer.
    outside: u64,
    /// cutover's own switch-back figure (s).
    switch_back: f64,
}

/// The targets, and a table of every trial.
pub fn run(options: &Options) -> anyhow::Result<(Vec<Target>, String)> {
    let d = DockerLab::start(&["new"])?;
    let new = d.lab.host("new");
    for v in ["1", "2"] {
        images::app(new, d.docker("new")?, &format!("app:{v}"), v)?;
    }
    let old_app = app::start_on(d.lab.host("old"), 8080)?;
    let front = proxy::start_haproxy(new, 8000, old_app.addr)?;
    let section = proxy_section("haproxy", &front.control);
    let compose = app_compose();
    let files = [("app.yaml", compose.as_str())];
    d.plan(&format!("{section}{}", deploy("1", "")), &files)?
        .apply()?;
    let green = SocketAddr::from((new.address(), 18082));
    let mut trials = Vec::new();
    for round in 0..options.rounds {
        let plan = d.plan(&format!("{section}{}", deploy("2", SOAK)), &files)?;
        let t = trial(&plan, front.listen, green)?;
        eprintln!(
            "     round {}: detected in {:.2} s, back in {:.2} s; failed requests {} inside, {} outside",
            round + 1,
            t.detected,
            t.back,
            t.inside,
            t.outside
        );
        trials.push(t);
    }
    let mut table = "A release failing `/readyz` after the switch, trial by trial (HAProxy; the bench's client sends a request on a fresh connection every 10 ms):\n\n| trial | detected after | users back after detection | cutover's switch back | failed requests in the window | failed requests outside it |\n| --- | --- | --- | --- | --- | --- |\n".to_string();
    for (i, t) in trials.iter().enumerate() {
        table.push_str(&format!(
            "| {} | {:.2} s | {:.2} s | {:.0} ms | {} | {} |\n",
            i + 1,
            t.detected,
            t.back,
            t.switch_back * 1000.0,
            t.inside,
            t.outside
        ));
    }
    let samples = |f: fn(&Trial) -> f64| Samples(trials.iter().map(f).collect());
    Ok((
        vec![
            Target {
                what: "a new colour failing `/readyz` after the switch: detected (failure to the soak's rollback) at 5 probes/s, 2 failures to fire".into(),
                bound: 3.0,
                unit: "s",
                measured: samples(|t| t.detected),
                own: None,
            },
            Target {
                what: "traffic back on the previous release after detection, at the bench's client".into(),
                bound: 2.0,
                unit: "s",
                measured: samples(|t| t.back),
                own: Some(("switch back".into(), samples(|t| t.switch_back))),
            },
        ],
        table,
    ))
}

fn unix_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

fn failed(answer: &str) -> bool {
    !answer.starts_with("HTTP/1.0 200") && !answer.starts_with("HTTP/1.1 200")
}

fn trial(plan: &super::PlanDir, front: SocketAddr, green: SocketAddr) -> anyhow::Result<Trial> {
    let child = plan.command(&["apply", "--yes"])?.spawn()?;
    let started = Instant::now();
    while !get(front, "/").contains("hello from green") {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(90),
            "the new colour never went live"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut outside = 0;
    let calm = Instant::now();
    while calm.elapsed() < Duration::from_secs(1) {
        outside += u64::from(failed(&get(front, "/")));
        std::thread::sleep(Duration::from_millis(10));
    }
    post(green, "/_control/fail")?;
    let broken_ms = unix_ms();
    let broken = Instant::now();
    let mut inside = 0;
    let back_ms = loop {
        let sent = unix_ms();
        let answer = get(front, "/");
        if answer.contains("hello from blue") {
            break sent;
        }
        inside += u64::from(failed(&answer));
        anyhow::ensure!(
            broken.elapsed() < Duration::from_secs(30),
            "no automatic rollback"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let after = Instant::now();
    while after.elapsed() < Duration::from_secs(1) {
        outside += u64::from(failed(&get(front, "/")));
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output()?;
    anyhow::ensure!(
        !out.status.success(),
        "the failing release was not stopped:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let report = plan.run(&["report", "--json"])?;
    let report: serde_json::Value = serde_json::from_slice(&report.stdout)?;
    let rollback_ms = report["timeline"]
        .as_array()
        .and_then(|t| t.iter().find(|e| e["event"] == "rollback_started"))
        .and_then(|e| e["at"].as_str())
        .and_then(iso_ms)
        .ok_or_else(|| anyhow::anyhow!("no rollback_started in the journal"))?;
    let switch_back = report["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["id"] == "release"))
        .and_then(|s| s["measurements"].as_array())
        .and_then(|m| m.iter().find(|m| m["name"] == "switch_back_ms"))
        .and_then(|m| m["value"].as_f64())
        .ok_or_else(|| anyhow::anyhow!("no switch_back_ms in the report"))?;
    Ok(Trial {
        detected: (rollback_ms - broken_ms) / 1000.0,
        back: (back_ms - rollback_ms) / 1000.0,
        inside,
        outside,
        switch_back: switch_back / 1000.0,
    })
}

/// Unix milliseconds of a journal time (`2026-12-06T11:11:51.786Z`).
fn iso_ms(at: &str) -> Option<f64> {
    let (date, time) = at.trim_end_matches('Z').split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.split(':');
    let (h, min) = (
        t.next()?.parse::<i64>().ok()?,
        t.next()?.parse::<i64>().ok()?,
    );
    let sec: f64 = t.next()?.parse().ok()?;
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + h * 3600 + min * 60) as f64 + sec) * 1000.0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn journal_times_read_as_unix_milliseconds() {
        assert_eq!(super::iso_ms("1970-01-01T00:00:01.500Z"), Some(1500.0));
        assert_eq!(
            super::iso_ms("2026-12-06T11:11:51.786Z"),
            Some(1_796_555_511_786.0)
        );
        assert_eq!(super::iso_ms("yesterday"), None);
    }
}
