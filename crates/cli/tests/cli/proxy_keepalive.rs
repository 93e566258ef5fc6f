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

    moves_every_client(&s, &path, &["apply", "--yes"], ("old", "new"));
    moves_every_client(&s, &path, &["rollback", "--yes"], ("new", "old"));
}

/// Runs `args` under the load: no request fails, the last answer from `from` comes before
/// the command returned and answers from `to` come after; HAProxy is left with `web` alone.
fn moves_every_client(
    s: &crate::soak::Setup,
    plan: &std::path::Path,
    args: &[&str],
    (from, to): (&str, &str),
) {
    let (returned, seen) = under_load(&s.front.listen.to_string(), plan, args);
    assert!(seen.failures.is_empty(), "{:?}", seen.failures);
    let last_from = seen
        .last(&format!("hello from {from}"))
        .unwrap_or_else(|| panic!("no answer from {from} before `{}`", args[0]));
    let last_to = seen
        .last(&format!("hello from {to}"))
        .unwrap_or_else(|| panic!("no answer from {to} after `{}`", args[0]));
    assert!(
        last_from <= returned && last_to > returned,
        "a client still reached {from} {:?} after `{}` returned (at {returned:?})",
        last_from.saturating_sub(returned),
        args[0]
    );
    assert_only_web_ready(s);
}
