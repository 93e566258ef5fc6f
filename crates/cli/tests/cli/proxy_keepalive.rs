//! A plain `proxy.switch` behind HAProxy under keep-alive clients. HAProxy keeps a server
//! connection that carried a request at an address change and reuses it for the same
//! client's next requests, still to the old upstream: without more, a busy client would
//! stay on old after the switch (seen in the bench: a frozen database's writes failing for
//! as long as the client kept sending). The switch, and its rollback, must move every
//! connection, not only those idle at the change.

use crate::keepalive_load::KeepAliveLoad;
use crate::soak::{control, cutover, haproxy_plan_header, setup};
use std::time::Duration;

/// Clients sending back to back to apps that take [`APP_DELAY_MS`] per request: at the
/// switch every server connection of HAProxy carries a request, so an address change alone
/// leaves each with the old upstream, at little CPU.
const CLIENTS: usize = 8;
const APP_DELAY_MS: u32 = 50;

fn plan(header: &str, to: std::net::SocketAddr) -> String {
    format!(
        r#"{header}
[[stages]]
name = "switch"
[[stages.steps]]
id = "front"
kind = "proxy.switch"
proxy = "front"
to = "{to}"
"#
    )
}

/// Runs `args` under the load; returns (when the command returned, what the load saw),
/// on the load's clock.
fn under_load(
    addr: &str,
    plan: &std::path::Path,
    args: &[&str],
) -> (Duration, crate::keepalive_load::Tally) {
    let load = KeepAliveLoad::start(addr, CLIENTS);
    std::thread::sleep(Duration::from_millis(500));
    let out = cutover(plan, args).output().expect("run cutover");
    let returned = load.now();
    eprintln!("{}", String::from_utf8_lossy(&out.stdout));
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Long enough for a kept connection to show: the clients send every few ms.
    std::thread::sleep(Duration::from_secs(1));
    (returned, load.stop())
}

/// HAProxy's servers in backend `app`, from its runtime API: the release's stand-in must be
/// gone and `web` ready (admin state 0) once a step is done.
fn assert_only_web_ready(s: &crate::soak::Setup) {
    let state = s
        .lab
        .host("old")
        .exec_ok(&format!(
            "echo 'show servers state app' | socat -t5 stdio UNIX-CONNECT:{}",
            s.front.control
        ))
        .unwrap();
    assert!(!state.contains("cutover-drain"), "{state}");
    let web = state
        .lines()
        .find(|l| l.split_whitespace().nth(3) == Some("web"))
        .unwrap_or_else(|| panic!("no server web:\n{state}"));
    // Fields: be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state ...
    assert_eq!(web.split_whitespace().nth(6), Some("0"), "{state}");
}

#[test]
fn a_proxy_switch_moves_keep_alive_clients_busy_at_the_switch_and_back() {
    let s = setup();
    for app in [s.old_app.addr, s.new_app.addr] {
        control(app, &format!("delay?ms={APP_DELAY_MS}"));
    }
    let path = s.dir.path().join("cutover.toml");
    std::fs::write(
        &path,
        plan(
            &haproxy_plan_header(&s.lab, "keepalive-switch"),
            s.new_app.addr,
        ),
    )
    .unwrap();
    let addr = s.front.listen.to_string();

    let (applied, seen) = under_load(&addr, &path, &["apply", "--yes"]);
    assert!(seen.failures.is_empty(), "{:?}", seen.failures);
    let old = seen
        .last("hello from old")
        .expect("answers from old before");
    let new = seen.last("hello from new").expect("answers from new after");
    assert!(
        old <= applied && new > applied,
        "a client still reached old {:?} after the switch returned (at {applied:?})",
        old.saturating_sub(applied)
    );
    assert_only_web_ready(&s);

    let (rolled_back, seen) = under_load(&addr, &path, &["rollback", "--yes"]);
    assert!(seen.failures.is_empty(), "{:?}", seen.failures);
    let new = seen
        .last("hello from new")
        .expect("answers from new before");
    let old = seen.last("hello from old").expect("answers from old after");
    assert!(
        new <= rolled_back && old > rolled_back,
        "a client still reached new {:?} after the rollback returned (at {rolled_back:?})",
        new.saturating_sub(rolled_back)
    );
    assert_only_web_ready(&s);
}
