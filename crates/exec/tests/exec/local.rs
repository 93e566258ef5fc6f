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
            cutover_exec::tracked::cleanup_line(&run_id),
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

/// Every file a tracked run keeps under `$HOME/.cache/cutover/runs/RUN`, with its text.
fn kept_files(run_id: &str) -> Vec<(String, String)> {
    let home = std::env::var("HOME").unwrap();
    let dir = std::path::PathBuf::from(format!("{home}/.cache/cutover/runs/{run_id}"));
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.path().is_file())
                .map(|e| {
                    (
                        e.file_name().to_string_lossy().into_owned(),
                        String::from_utf8_lossy(&std::fs::read(e.path()).unwrap_or_default())
                            .into_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

async fn clean(ex: &Executor, run_id: &str) {
    let cmd = Command::shell("ctl", cutover_exec::tracked::cleanup_line(run_id));
    ex.run(&cmd).await.unwrap();
}

#[tokio::test]
async fn a_tracked_command_given_a_secret_never_writes_it_to_the_host() {
    let canary = SecretValue::new("canary-31c9e0".into());
    let ex = local(Redactor::new([("token", &canary)]));
    let run_id = format!("s{}", std::process::id());
    let cmd = Command::shell(
        "ctl",
        "echo \"token=$TOKEN\"; echo \"bad $TOKEN\" >&2; echo second; sleep 1; printf 'no newline %s' \"$TOKEN\"",
    )
    .env(
        "TOKEN",
        EnvValue::Secret(SecretValue::new("pre-canary-31c9e0-post".into())),
    )
    .track(TrackId {
        run: run_id.clone(),
        invocation: "leak.ctl.1".into(),
    });
    let run = tokio::spawn({
        let (ex, cmd) = (ex.clone(), cmd.clone());
        async move { ex.run(&cmd).await }
    });
    // While it runs, its output on the host is already redacted.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let during = kept_files(&run_id);
    assert!(
        during
            .iter()
            .any(|(name, text)| name == "leak.ctl.1.out"
                && text == "token=pre-[redacted:token]-post\n"),
        "{during:?}"
    );
    let out = run.await.unwrap().unwrap();
    assert!(out.success(), "{out:?}");
    assert_eq!(
        out.stdout,
        "token=pre-[redacted:token]-post\nsecond\nno newline pre-[redacted:token]-post"
    );
    assert_eq!(out.stderr, "bad pre-[redacted:token]-post\n");
    let after = kept_files(&run_id);
    assert!(
        after
            .iter()
            .all(|(_, text)| !text.contains("canary-31c9e0")),
        "{after:?}"
    );
    // Replayed from the host, the output is the same.
    assert_eq!(ex.run(&cmd).await.unwrap().stdout, out.stdout);
    clean(&ex, &run_id).await;
}

#[tokio::test]
async fn a_tracked_command_that_leaves_a_process_holding_its_output_still_ends() {
    let canary = SecretValue::new("canary-5e0a11".into());
    let ex = local(Redactor::new([("token", &canary)]));
    let run_id = format!("b{}", std::process::id());
    let cmd = Command::shell(
        "ctl",
        "echo started; sleep 30 & echo $! > /tmp/cutover-test-bg-$PPID; exit 3",
    )
    .env("TOKEN", EnvValue::Secret(canary.clone()))
    .track(TrackId {
        run: run_id.clone(),
        invocation: "daemon.ctl.1".into(),
    });
    let started = std::time::Instant::now();
    let out = tokio::time::timeout(Duration::from_secs(20), ex.run(&cmd))
        .await
        .expect("the background process held the command open")
        .unwrap();
    assert_eq!((out.code, out.stdout.as_str()), (Some(3), "started\n"));
    assert!(started.elapsed() < Duration::from_secs(10));
    let _ = std::process::Command::new("sh")
        .args([
            "-c",
            "kill $(cat /tmp/cutover-test-bg-*) 2>/dev/null; rm -f /tmp/cutover-test-bg-*",
        ])
        .status();
    clean(&ex, &run_id).await;
}

#[tokio::test]
async fn settling_waits_for_a_running_command_and_stops_one_from_starting() {
    use cutover_exec::tracked::{settle_line, Settled};
    let ex = local(Redactor::default());
    let run_id = format!("w{}", std::process::id());
    let track = |inv: &str| TrackId {
        run: run_id.clone(),
        invocation: inv.into(),
    };
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("effects");
    let slow = Command::shell("ctl", format!("sleep 1; echo slow >> {}", marker.display()))
        .track(track("slow"));
    // The controller is cut off while the command runs; it goes on on the host.
    let first = tokio::time::timeout(Duration::from_millis(300), ex.run(&slow)).await;
    assert!(first.is_err());
    let settled = ex
        .run(&Command::shell("ctl", settle_line(&run_id, "slow")))
        .await
        .unwrap();
    assert_eq!(Settled::parse(&settled.stdout), Some(Settled::Ended(0)));
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "slow\n");
    // Settled before it started, a command never starts.
    let settled = ex
        .run(&Command::shell("ctl", settle_line(&run_id, "late")))
        .await
        .unwrap();
    assert_eq!(Settled::parse(&settled.stdout), Some(Settled::NotStarted));
    let late =
        Command::shell("ctl", format!("echo late >> {}", marker.display())).track(track("late"));
    let out = ex.run(&late).await.unwrap();
    assert!(out.outcome_unknown(), "{out:?}");
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "slow\n");
    clean(&ex, &run_id).await;
}

#[tokio::test]
async fn forgetting_and_tidying_remove_output_but_keep_the_outcome() {
    use cutover_exec::tracked::{forget_line, tidy_line};
    let ex = local(Redactor::default());
    let run_id = format!("f{}", std::process::id());
    for inv in ["a", "b"] {
        let cmd = Command::shell("ctl", format!("echo {inv}")).track(TrackId {
            run: run_id.clone(),
            invocation: inv.into(),
        });
        ex.run(&cmd).await.unwrap();
    }
    ex.run(&Command::shell("ctl", forget_line(&run_id, "a")))
        .await
        .unwrap();
    let names = |files: Vec<(String, String)>| {
        files
            .into_iter()
            .map(|(n, _)| n)
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(
        names(kept_files(&run_id)),
        "a.pid a.rc b.err b.out b.pid b.rc"
    );
    ex.run(&Command::shell("ctl", tidy_line(&run_id)))
        .await
        .unwrap();
    assert_eq!(names(kept_files(&run_id)), "a.pid a.rc b.pid b.rc");
    // A replay after that gives the exit status, without output.
    let again = Command::shell("ctl", "echo b").track(TrackId {
        run: run_id.clone(),
        invocation: "b".into(),
    });
    let out = ex.run(&again).await.unwrap();
    assert_eq!((out.code, out.stdout.as_str()), (Some(0), ""));
    clean(&ex, &run_id).await;
}

#[tokio::test]
async fn a_command_printing_without_end_is_stopped_at_its_output_limit() {
    let ex = local(Redactor::default());
    // `yes` never ends by itself: only the limit stops it.
    let cmd = Command::shell("ctl", "yes").max_stdout(1024 * 1024);
    let started = std::time::Instant::now();
    let err = ex.run(&cmd).await.unwrap_err();
    assert!(
        matches!(err, ExecError::OutputTooLarge { limit, .. } if limit == 1024 * 1024),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        err.to_string().starts_with(
            "the command on host `ctl` printed more than 1 MiB on its standard output"
        ),
        "{err}"
    );
    assert_eq!(err.class(), cutover_exec::FailureClass::Failed);
}

#[tokio::test]
async fn a_flood_on_standard_error_keeps_its_beginning_and_end_and_the_command_finishes() {
    let ex = local(Redactor::default());
    let cmd = Command::shell(
        "ctl",
        "echo first >&2; head -c 20000000 /dev/zero | tr '\\0' x >&2; echo ' the error' >&2; echo done",
    );
    let out = ex.run(&cmd).await.unwrap();
    assert!(out.success());
    assert_eq!(out.stdout, "done\n");
    assert!(out.stderr.starts_with("first\n"), "{}", &out.stderr[..40]);
    assert!(out.stderr.ends_with("x the error\n"));
    assert!(out.stderr.contains("bytes left out …]"));
    assert!(out.stderr.len() < 70 * 1024, "{}", out.stderr.len());
}

#[tokio::test]
async fn a_pipe_whose_consumer_answers_without_end_is_stopped_at_the_limit() {
    let ex = local(Redactor::default());
    let from = Command::shell("ctl", "yes");
    let to = Command::shell("ctl", "cat").max_stdout(1024 * 1024);
    let started = std::time::Instant::now();
    let err = ex.pipe(&from, &to, &mut |_| {}).await.unwrap_err();
    assert!(matches!(err, ExecError::OutputTooLarge { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
}
