//! Notifications on the lab: a `notify` step and the run's events (a gate waiting, a step
//! failed, a rollback, the run's end) reach a JSON webhook and a Slack incoming webhook
//! served on loopback; a receiver that never answers and one that refuses connections are
//! logged and fail nothing; no secret (neither a secret value nor the Slack URL, itself a
//! secret) is in any body.

use crate::fixture::Fixture;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CANARY: &str = "canary-notify-0c5f2e88";

/// A webhook receiver on loopback: records each request's path and body; answers 200, or
/// never (holding the connection) when `hang`.
pub(crate) struct Receiver {
    pub(crate) port: u16,
    got: Arc<Mutex<Vec<(String, String)>>>,
}

impl Receiver {
    pub(crate) fn start(hang: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let record = got.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut line = String::new();
                let _ = reader.read_line(&mut line);
                let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                let mut length = 0;
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                        break;
                    }
                    if let Some(v) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                record
                    .lock()
                    .unwrap()
                    .push((path, String::from_utf8_lossy(&body).into_owned()));
                if hang {
                    held.push(stream);
                } else {
                    let _ = stream.write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    );
                }
            }
        });
        Receiver { port, got }
    }

    pub(crate) fn bodies(&self) -> Vec<String> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|(_, b)| b.clone())
            .collect()
    }
}

#[test]
fn notifications_reach_webhooks_and_a_failing_receiver_fails_nothing() {
    let hook = Receiver::start(false);
    let slack = Receiver::start(false);
    let slow = Receiver::start(true);
    let slack_url = format!("http://127.0.0.1:{}/services/T0/B0/{CANARY}", slack.port);
    let f = Fixture::new(&format!(
        r#"
[vars]
app = "shop"

[secrets.token]
env = "CUTOVER_TEST_TOKEN"

[secrets.slack_url]
env = "CUTOVER_TEST_SLACK_URL"

[notify.hook]
url = "http://127.0.0.1:{hook}/hook"

[notify.slack]
url = "{{{{ secrets.slack_url }}}}"
format = "slack"
events = ["step_failed", "run_finished"]

[notify.slow]
url = "http://127.0.0.1:{slow}/"
timeout = "300ms"
events = ["gate_waiting"]

[notify.down]
url = "http://127.0.0.1:9/"
events = ["run_finished"]

[[stages]]
name = "s"

[[stages.steps]]
id = "hello"
kind = "notify"
to = ["hook", "slack", "slow"]
message = "moving {{{{ vars.app }}}} to {{{{ hosts.new.name }}}}"

[[stages.steps]]
id = "gate"
kind = "approve"

[[stages.steps]]
id = "boom"
kind = "run"
hosts = ["new"]
command = "echo \"token $T\" >&2; exit 3"
env = {{ T = "{{{{ secrets.token }}}}" }}
"#,
        hook = hook.port,
        slow = slow.port,
    ));
    let cutover = |args: &[&str]| {
        f.command(args)
            .env("CUTOVER_TEST_TOKEN", CANARY)
            .env("CUTOVER_TEST_SLACK_URL", &slack_url)
            .output()
            .expect("cutover")
    };

    let started = std::time::Instant::now();
    let first = cutover(&["apply", "--yes", "--no-wait"]);
    let stdout = String::from_utf8_lossy(&first.stdout);
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(stdout.contains("hook: delivered"), "{stdout}");
    assert!(stdout.contains("slack: delivered"), "{stdout}");
    assert!(
        stdout.contains("slow: not delivered (no answer within 300ms); the run goes on"),
        "{stdout}"
    );
    assert!(
        stderr.contains(
            "notification `gate_waiting` to `slow` not delivered: no answer within 300ms"
        ),
        "{stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "a hanging receiver held the run up"
    );
    assert!(f
        .run(&["approve", "gate", "--by", "ana"])
        .0
        .status
        .success());
    let second = cutover(&["apply", "--yes"]);
    assert_eq!(
        second.status.code(),
        Some(5),
        "the last step fails on purpose"
    );
    let rollback = cutover(&["rollback", "--yes"]);
    let text = String::from_utf8_lossy(&rollback.stderr);
    assert_eq!(rollback.status.code(), Some(0), "{text}");
    assert!(
        text.contains("notification `run_finished` to `down` not delivered: cannot reach it (connection failed)"),
        "{text}"
    );

    let hook_bodies: Vec<serde_json::Value> = hook
        .bodies()
        .iter()
        .map(|b| serde_json::from_str(b).expect("json body"))
        .collect();
    let seen: Vec<(String, String)> = hook_bodies
        .iter()
        .map(|b| {
            (
                b["event"].as_str().unwrap_or("").into(),
                b["text"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    let want = |event: &str, text: &str| (event.to_string(), text.to_string());
    assert_eq!(seen[0], want("message", "moving shop to new"));
    assert_eq!(
        seen[1],
        want(
            "gate_waiting",
            "step `gate` waits: approval: run `cutover approve gate --by NAME [--comment TEXT]`"
        ),
        "{seen:#?}"
    );
    assert!(
        seen.iter().any(|(e, t)| e == "step_failed"
            && t.starts_with("step `boom` failed: command failed on new (exit 3):\n")
            && t.contains("token [redacted:token]")),
        "{seen:#?}"
    );
    assert!(seen.iter().any(|(e, _)| e == "rollback"), "{seen:#?}");
    assert_eq!(
        seen.last(),
        Some(&want("run_finished", "run finished: rolled_back"))
    );
    // Every notice names the plan and the one run.
    let run = hook_bodies[0]["run"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(run.len() > 8, "{run}");
    assert!(hook_bodies
        .iter()
        .all(|b| b["plan"] == "test-plan" && b["run"] == run.as_str()));
    assert_eq!(hook_bodies[0]["step"], "hello");

    let slack_bodies = slack.bodies();
    assert_eq!(slack_bodies.len(), 3, "{slack_bodies:#?}");
    assert_eq!(
        slack_bodies[0],
        format!(r#"{{"text":"[cutover] test-plan (run {run}): moving shop to new"}}"#)
    );
    assert!(
        slack_bodies[1].contains("step `boom` failed"),
        "{slack_bodies:#?}"
    );
    assert!(slack_bodies[2].contains("run finished: rolled_back"));
    for body in hook
        .bodies()
        .iter()
        .chain(&slack_bodies)
        .chain(&slow.bodies())
    {
        assert!(!body.contains(CANARY), "a secret in a notification: {body}");
    }
    for out in [&first, &second, &rollback] {
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!all.contains(CANARY), "a secret in cutover's output: {all}");
    }
}
