//! The testbed's promises, checked against real namespaces and sshd (needs root and
//! scripts/install-deps.sh): hosts answer real SSH with pinned keys, keep their own files,
//! reach each other, run side by side in other labs, and vanish at teardown.

mod app_db;
mod hosts;
mod lifecycle;
mod load;

use cutover_testbed::Lab;
use std::process::{Command, Output};

/// Runs `ssh -F LAB/ssh_config HOST CMD`, as the demo and the cutover tool do.
fn ssh(lab: &Lab, host: &str, cmd: &str) -> Output {
    Command::new("ssh")
        .arg("-F")
        .arg(lab.ssh_config())
        .args([host, cmd])
        .output()
        .expect("ssh runs")
}

/// Like [`ssh`], failing the test unless it exits 0; returns stdout.
fn ssh_ok(lab: &Lab, host: &str, cmd: &str) -> String {
    let out = ssh(lab, host, cmd);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "ssh {host} {cmd:?} failed: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `METHOD url` with an optional JSON body; the status and the body as JSON (`null` when
/// the body is not JSON).
fn http(method: &str, url: &str, body: Option<&str>) -> (u16, serde_json::Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .timeout_global(Some(std::time::Duration::from_secs(10)))
        .build()
        .into();
    let request = ureq::http::Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json")
        .body(body.unwrap_or("").to_string())
        .expect("a valid request");
    let mut resp = agent
        .run(request)
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let text = resp.body_mut().read_to_string().expect("a text body");
    (
        resp.status().as_u16(),
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

/// Ends every session of the test apps on `pg` and waits until they are gone, so that
/// their pools open new ones (which take the database's settings of that moment).
fn replace_app_sessions(pg: &cutover_testbed::PgServer) {
    let cut = pg.psql("postgres", "SELECT clock_timestamp()").unwrap();
    let older = format!(
        "application_name = 'cutover-testapp' AND backend_start < '{}'",
        cut.trim()
    );
    pg.psql(
        "postgres",
        &format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE {older}"),
    )
    .unwrap();
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while pg
        .psql(
            "postgres",
            &format!("SELECT count(*) FROM pg_stat_activity WHERE {older}"),
        )
        .unwrap()
        .trim()
        != "0"
    {
        assert!(
            std::time::Instant::now() < until,
            "app sessions survive termination"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
