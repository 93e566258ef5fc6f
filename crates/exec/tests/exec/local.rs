//! The executor on the local host: environment, redaction, timeouts, tracked commands that
//! survive an interrupted controller, and the pipe primitive.

use cutover_exec::{
    Command, EnvValue, ExecError, Executor, Redactor, SecretValue, Stdin, Target, TrackId,
};
use std::collections::HashMap;
use std::time::Duration;

fn local(redactor: Redactor) -> Executor {
    Executor::new(
        HashMap::from([("ctl".to_string(), Target::Local)]),
        redactor,
    )
}

#[tokio::test]
async fn secret_env_reaches_the_command_but_not_its_output_or_process_list() {
    let canary = SecretValue::new("canary-7f3a9c".into());
    let ex = local(Redactor::new([("token", &canary)]));
    let cmd = Command::shell("ctl", "echo \"token is $TOKEN\"; sleep 0.5")
        .env("TOKEN", EnvValue::Secret(canary.clone()));
    let run = tokio::spawn({
        let ex = ex.clone();
        async move { ex.run(&cmd).await }
    });
    tokio::time::sleep(Duration::from_millis(250)).await;
    let ps = std::process::Command::new("ps")
        .args(["-eo", "args"])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&ps.stdout).contains("canary-7f3a9c"),
        "secret visible in ps"
    );
    let out = run.await.unwrap().unwrap();
    assert!(out.success());
    assert_eq!(out.stdout, "token is [redacted:token]\n");
}

#[tokio::test]
async fn stdin_bytes_follow_the_environment_prelude() {
    let ex = local(Redactor::default());
    let cmd = Command::shell("ctl", "echo \"$A\"; cat")
        .env("A", EnvValue::Plain("first".into()))
        .stdin(Stdin::Bytes(b"line one\nline two\n".to_vec()));
    let out = ex.run(&cmd).await.unwrap();
    assert_eq!(out.stdout, "first\nline one\nline two\n");
}

#[tokio::test]
async fn a_command_past_its_timeout_is_stopped() {
    let ex = local(Redactor::default());
    let cmd = Command::shell("ctl", "sleep 5").timeout(Some(Duration::from_millis(300)));
    let started = std::time::Instant::now();
    let err = ex.run(&cmd).await.unwrap_err();
    assert!(matches!(err, ExecError::Timeout { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn a_tracked_command_runs_once_even_when_the_controller_is_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("runs");
    let ex = local(Redactor::default());
    let run_id = format!("t{}", std::process::id());
    let cmd = Command::shell(
        "ctl",
        format!("echo ran >> {}; sleep 1; echo done", marker.display()),
    )
    .track(TrackId {
        run: run_id.clone(),
        invocation: "step-a.ctl.1".into(),
    });
    // Interrupt the controller's side mid-run: the future (and its `sh`) is dropped.
    let first = tokio::time::timeout(Duration::from_millis(300), ex.run(&cmd)).await;
    assert!(
        first.is_err(),
        "the first attempt should have been interrupted"
    );
    // The re-run attaches to the still-running command and gets its outcome.
    let out = ex.run(&cmd).await.unwrap();
    assert!(out.success(), "{out:?}");
    assert_eq!(out.stdout, "done\n");
    // And a third invocation replays the recorded outcome without running anything.
    let again = ex.run(&cmd).await.unwrap();
    assert_eq!(again.stdout, "done\n");
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "ran\n");
    let _ = ex
        .run(&Command::shell(
            "ctl",
            cutover_exec::render::cleanup_line(&run_id),
        ))
        .await;
}

#[tokio::test]
async fn a_tracked_command_whose_process_vanished_reports_an_unknown_outcome() {
    let ex = local(Redactor::default());
    let run_id = format!("u{}", std::process::id());
    let home = std::env::var("HOME").unwrap();
    let dir = format!("{home}/.cache/cutover/runs/{run_id}");
    std::fs::create_dir_all(&dir).unwrap();
    // A pid file with no exit status and a process long gone: the host rebooted mid-step.
    std::fs::write(format!("{dir}/inv.pid"), "999999\n").unwrap();
    let cmd = Command::shell("ctl", "echo must-not-run").track(TrackId {
        run: run_id,
        invocation: "inv".into(),
    });
    let out = ex.run(&cmd).await.unwrap();
    assert!(out.outcome_unknown(), "{out:?}");
    assert!(!out.stdout.contains("must-not-run"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn pipe_streams_between_commands_and_counts_bytes() {
    let ex = local(Redactor::default());
    let from = Command::shell("ctl", "head -c 3000000 /dev/zero");
    let to = Command::shell("ctl", "wc -c");
    let mut last = 0;
    let report = ex.pipe(&from, &to, &mut |b| last = b).await.unwrap();
    assert!(report.success());
    assert_eq!(report.bytes, 3_000_000);
    assert_eq!(last, 3_000_000);
    assert_eq!(report.to.stdout.trim(), "3000000");
}

#[tokio::test]
async fn pipe_reports_a_failing_consumer() {
    let ex = local(Redactor::default());
    let from = Command::shell("ctl", "head -c 10000000 /dev/zero");
    let to = Command::shell("ctl", "head -c 10 >/dev/null; echo 'disk full' >&2; exit 3");
    let report = ex.pipe(&from, &to, &mut |_| {}).await.unwrap();
    assert!(!report.success());
    assert_eq!(report.to.code, Some(3));
    assert!(report.to.stderr.contains("disk full"));
}
