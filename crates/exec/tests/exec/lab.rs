//! The executor over real SSH to the lab's hosts.

use cutover_exec::{
    Command, ConnectFailure, EnvValue, ExecError, Executor, Redactor, SecretValue, SshTarget,
    Target, TrackId,
};
use cutover_testbed::Lab;
use std::collections::HashMap;
use std::time::Duration;

fn ssh_target(lab: &Lab, name: &str) -> SshTarget {
    SshTarget {
        name: name.into(),
        destination: name.into(),
        port: None,
        user: None,
        identity: None,
        jump: None,
        known_hosts: None,
        config: Some(lab.ssh_config().to_path_buf()),
        connect_timeout: 5,
        control_dir: cutover_exec::control_dir_for(&lab.dir().display().to_string()),
    }
}

fn executor(lab: &Lab, redactor: Redactor) -> Executor {
    let targets = ["old", "new"].map(|h| (h.to_string(), Target::Ssh(ssh_target(lab, h))));
    Executor::new(HashMap::from(targets), redactor)
}

#[tokio::test]
async fn runs_commands_on_each_host_through_one_master_connection() {
    let lab = Lab::start().unwrap();
    let ex = executor(&lab, Redactor::default());
    ex.connect("old").await.unwrap();
    let started = std::time::Instant::now();
    for _ in 0..10 {
        let out = ex.run(&Command::shell("old", "hostname")).await.unwrap();
        assert_eq!(out.stdout, "old\n");
    }
    // Multiplexed commands skip the handshake (~0.2 s each here).
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let out = ex.run(&Command::shell("new", "exit 7")).await.unwrap();
    assert_eq!(out.code, Some(7));
    ex.disconnect_all().await;
}

#[tokio::test]
async fn secrets_stay_out_of_the_remote_process_list() {
    let lab = Lab::start().unwrap();
    let canary = SecretValue::new("canary-remote-51c2".into());
    let ex = executor(&lab, Redactor::new([("pw", &canary)]));
    let cmd =
        Command::shell("old", "sleep 1; echo \"$PW\"").env("PW", EnvValue::Secret(canary.clone()));
    let run = tokio::spawn({
        let ex = ex.clone();
        async move { ex.run(&cmd).await }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let remote_ps = lab.host("old").exec_ok("ps -eo args").unwrap();
    assert!(
        !remote_ps.contains("canary-remote"),
        "secret visible on the host: {remote_ps}"
    );
    let local_ps = std::process::Command::new("ps")
        .args(["-eo", "args"])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&local_ps.stdout).contains("canary-remote"));
    let out = run.await.unwrap().unwrap();
    assert_eq!(out.stdout, "[redacted:pw]\n");
    ex.disconnect_all().await;
}

#[tokio::test]
async fn a_tracked_remote_command_survives_the_controller_dropping_the_session() {
    let lab = Lab::start().unwrap();
    let ex = executor(&lab, Redactor::default());
    let cmd =
        Command::shell("new", "echo x >> /srv/count; sleep 1; echo finished").track(TrackId {
            run: "r1".into(),
            invocation: "s.new.1".into(),
        });
    assert!(
        tokio::time::timeout(Duration::from_millis(400), ex.run(&cmd))
            .await
            .is_err()
    );
    let out = ex.run(&cmd).await.unwrap();
    assert_eq!(out.stdout, "finished\n");
    assert_eq!(
        std::fs::read_to_string(lab.host("new").fs_path("/srv/count")).unwrap(),
        "x\n"
    );
    ex.disconnect_all().await;
}

#[tokio::test]
async fn a_host_answering_without_end_is_cut_off_and_its_command_ended() {
    let lab = Lab::start().unwrap();
    let ex = executor(&lab, Redactor::default());
    // A hostile (or broken) host: the answer never ends.
    let cmd = Command::shell("old", "echo $$ > /srv/flood.pid; exec yes").max_stdout(4 << 20);
    let started = std::time::Instant::now();
    let err = ex.run(&cmd).await.unwrap_err();
    assert!(matches!(err, ExecError::OutputTooLarge { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(20));
    // The remote process does not outlive the cut: its channel is gone.
    let pid = std::fs::read_to_string(lab.host("old").fs_path("/srv/flood.pid")).unwrap();
    let gone = (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        lab.host("old")
            .exec(&format!("kill -0 {} 2>/dev/null", pid.trim()))
            .map(|o| !o.status.success())
            .unwrap_or(false)
    });
    assert!(gone, "`yes` (pid {}) still runs on old", pid.trim());
    // The connection still serves the next command.
    let out = ex.run(&Command::shell("old", "echo next")).await.unwrap();
    assert_eq!(out.stdout, "next\n");
    ex.disconnect_all().await;
}

#[tokio::test]
async fn pipe_streams_from_one_host_to_the_other() {
    let lab = Lab::start().unwrap();
    lab.host("old")
        .exec_ok("mkdir -p /srv/app/media && head -c 5000000 /dev/urandom > /srv/app/media/blob")
        .unwrap();
    let ex = executor(&lab, Redactor::default());
    let from = Command::shell("old", "tar -C /srv/app -cf - media");
    let to = Command::shell("new", "mkdir -p /srv/app && tar -C /srv/app -xf -");
    let report = ex.pipe(&from, &to, &mut |_| {}).await.unwrap();
    assert!(report.success(), "{report:?}");
    assert!(report.bytes > 5_000_000);
    let a = std::fs::read(lab.host("old").fs_path("/srv/app/media/blob")).unwrap();
    let b = std::fs::read(lab.host("new").fs_path("/srv/app/media/blob")).unwrap();
    assert_eq!(a, b);
    ex.disconnect_all().await;
}

#[tokio::test]
async fn a_changed_host_key_is_refused_with_a_clear_error() {
    let lab = Lab::start().unwrap();
    // Record new's key under old's names: old now presents a key that differs from it.
    let known = std::fs::read_to_string(lab.known_hosts()).unwrap();
    let new_key = known.lines().find(|l| l.starts_with("new")).unwrap();
    let key = new_key.split_once(' ').unwrap().1;
    let old_addr = lab.host("old").address();
    let forged: String = known
        .lines()
        .map(|l| {
            if l.starts_with("old") {
                format!("old,{old_addr} {key}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(lab.known_hosts(), forged + "\n").unwrap();
    let ex = executor(&lab, Redactor::default());
    let err = ex.connect("old").await.unwrap_err();
    match &err {
        ExecError::Connect { failure, .. } => {
            assert_eq!(*failure, ConnectFailure::HostKeyChanged, "{err}")
        }
        other => panic!("expected a connect error, got {other}"),
    }
    assert!(err.to_string().contains("HOST KEY MISMATCH"), "{err}");
    // A command (without a master) is refused too, and never runs.
    let err = ex
        .run(&Command::shell("old", "touch /srv/ran"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ExecError::Connect {
                failure: ConnectFailure::HostKeyChanged,
                ..
            }
        ),
        "{err}"
    );
    assert!(!lab.host("old").fs_path("/srv/ran").exists());
}
