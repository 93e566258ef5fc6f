//! The HTML report of a synthesised run: small, self-contained, escaped, and showing the JSON
//! report's figures.

use crate::synth::{write_run, Shape, HOSTILE};

/// The issue's target size: 500 steps with 10 soak windows.
const BIG: Shape = Shape {
    stages: 10,
    steps_per_stage: 50,
    soaks: 10,
    samples_per_soak: 300,
};

fn render(shape: &Shape) -> (tempfile::TempDir, cutover_engine::Report, String) {
    let dir = tempfile::tempdir().unwrap();
    let plan = write_run(dir.path(), shape);
    let report = cutover_engine::report(&plan, None).unwrap();
    let html = cutover_web::report::page(&report);
    (dir, report, html)
}

/// The text of the first element after `anchor` whose opening tag carries `class`.
fn cell_after<'a>(html: &'a str, anchor: &str, class: &str) -> &'a str {
    let from = html
        .find(anchor)
        .unwrap_or_else(|| panic!("no {anchor} in the page"));
    let rest = &html[from..];
    let open = rest.find(&format!("class=\"{class}\"")).unwrap();
    let start = open + rest[open..].find('>').unwrap() + 1;
    let end = start + rest[start..].find('<').unwrap();
    &rest[start..end]
}

#[test]
fn a_500_step_run_with_10_soak_windows_is_under_2_mb() {
    let started = std::time::Instant::now();
    let (_dir, report, html) = render(&BIG);
    assert_eq!(report.steps.len(), 500);
    assert_eq!(report.series.len(), 20, "two checks in each of 10 soaks");
    eprintln!(
        "500-step report: {} bytes, {} events, built in {:?}",
        html.len(),
        report.timeline.len(),
        started.elapsed()
    );
    assert!(html.len() < 2 << 20, "{} bytes", html.len());
}

#[test]
fn figures_in_the_html_report_are_the_json_reports() {
    let (_dir, report, html) = render(&BIG);
    std::fs::write(
        concat!(env!("CARGO_TARGET_TMPDIR"), "/big-report.html"),
        &html,
    )
    .unwrap();
    let json: serde_json::Value = serde_json::to_value(&report).unwrap();
    for s in json["steps"].as_array().unwrap() {
        let id = s["id"].as_str().unwrap();
        let row = format!("data-step=\"{id}\" class=");
        let tries = cell_after(&html, &row, "num");
        assert_eq!(tries, s["attempts"].to_string(), "tries of {id}");
        for m in s["measurements"].as_array().unwrap() {
            let anchor = format!(
                "data-step=\"{id}\" data-measure=\"{}\"",
                m["name"].as_str().unwrap()
            );
            let shown: f64 = cell_after(&html, &anchor, "num value").parse().unwrap();
            let value = m["value"].as_f64().unwrap();
            // At the report's precision: whole above 100, four decimals below.
            let precision = if value.abs() >= 100.0 { 0.5 } else { 1e-4 };
            assert!(
                (shown - value).abs() <= precision,
                "{id} {anchor}: {shown} vs {value}"
            );
        }
    }
    assert_eq!(cell_after(&html, "id=\"downtime\"", "num"), "0.64");
    assert!(html.contains(&format!(
        "id=\"outcome\" class=\"outcome-completed\">{}<",
        json["outcome"].as_str().unwrap()
    )));
    // The proofs side by side, with the differences by name.
    assert!(html.contains("<td>rows public.items</td><td class=\"num\">50</td><td class=\"num\">49</td><td>≠</td>"), "postgres proof");
    assert!(
        html.contains("<td>files</td><td class=\"num\">201</td><td class=\"num\">200</td>"),
        "files proof"
    );
    assert!(html.contains(
        "<td>public.items</td><td>table: row count</td><td>50 on source, 49 on target</td>"
    ));
    // The soak's latency trigger is drawn on its checks' charts, the error-rate one on
    // `users` only.
    let latency_limits = html
        .matches("trigger: any check p95 latency over 1m above 500 ms")
        .count();
    assert!(latency_limits >= 20, "{latency_limits}");
    assert_eq!(
        html.matches("trigger: users error rate").count(),
        10 * 2,
        "a line and a legend entry per soak"
    );
}

#[test]
fn text_from_the_journal_is_escaped_and_the_page_loads_nothing() {
    let small = Shape {
        stages: 2,
        steps_per_stage: 10,
        soaks: 2,
        samples_per_soak: 5,
    };
    let (_dir, _, html) = render(&small);
    assert!(
        !html.contains("<script"),
        "markup from the journal reached the page raw"
    );
    assert!(
        !html.contains('\u{202E}'),
        "a bidirectional override reached the page raw"
    );
    assert!(html.contains(
        "&lt;script&gt;alert(1)&lt;/script&gt; \\u{202E}gpj.exe &amp; &quot;quoted&quot;"
    ));
    for reference in [
        "src=", "href=", "url(", "@import", "<link", "<iframe", "<object",
    ] {
        assert!(
            !html.contains(reference),
            "the page refers outside itself: {reference}"
        );
    }
    assert!(HOSTILE.contains("<script>"));
}

#[test]
fn the_500_step_report_renders_in_chromium_within_a_second_with_no_network() {
    let (dir, report, html) = render(&BIG);
    let file = dir.path().join("report.html");
    std::fs::write(&file, &html).unwrap();
    let driver = cutover_testbed::browser::Chromedriver::start().unwrap();
    crate::chromium::runtime().block_on(async {
        let c = crate::chromium::session(&driver, 0).await;
        c.goto(&format!("file://{}", file.display())).await.unwrap();
        let (first_ms, _) = crate::chromium::rendered_ms(&c).await;
        // The first page of a fresh browser also pays for starting its renderer: the page's
        // own cost is that of opening it again.
        c.goto(&format!("file://{}", file.display())).await.unwrap();
        let (ms, resources) = crate::chromium::rendered_ms(&c).await;
        eprintln!(
            "load average: {}",
            std::fs::read_to_string("/proc/loadavg")
                .unwrap_or_default()
                .trim()
        );
        eprintln!("first open in a fresh browser: {first_ms:.0} ms");
        eprintln!(
            "500-step report ({} bytes) rendered in {ms:.0} ms",
            html.len()
        );
        assert_eq!(
            resources, 0,
            "the report loaded something from outside itself"
        );
        assert!(ms < 1000.0, "rendered in {ms} ms");
        // What the reader sees is the JSON report's.
        let outcome = c
            .find(fantoccini::Locator::Id("outcome"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(outcome, report.outcome);
        let rows = c
            .find_all(fantoccini::Locator::Css("table.steps tbody tr"))
            .await
            .unwrap();
        assert_eq!(rows.len(), report.steps.len());
        c.close().await.unwrap();
    });
}

#[test]
fn a_journaled_outage_is_drawn_on_the_timeline_where_it_began_and_ended() {
    let small = Shape {
        stages: 2,
        steps_per_stage: 5,
        soaks: 1,
        samples_per_soak: 3,
    };
    let (_dir, report, html) = render(&small);
    let (from, to) = report
        .timeline
        .iter()
        .find_map(|t| match t.event {
            cutover_journal::Event::Outage { from_ms, to_ms, .. } => Some((from_ms, to_ms)),
            _ => None,
        })
        .expect("the synthesised run has an outage");
    assert_eq!(to - from, 250);
    let band = format!(
        r#"<rect class="band outage" data-step="s1-0" data-from-ms="{from}" data-to-ms="{to}""#
    );
    assert!(html.contains(&band), "no {band} in the timeline");
    assert!(html.contains("<title>writes frozen by s1-0: 0.250 s from "));
}
