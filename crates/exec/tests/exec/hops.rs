//! Host keys are checked against known_hosts on every hop, whatever the SSH config says: a
//! `KnownHostsCommand` cannot vouch for a key, and a jump host (the plan's `jump` or the
//! config's `ProxyJump`) gets the same strict options as the host behind it.

use cutover_exec::{Command, ConnectFailure, ExecError, Executor, Redactor, SshTarget, Target};
use cutover_testbed::Lab;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The lab's SSH config with `lines` added at the top of host `host`'s block (the first value
/// of an option wins, so they override the lab's own), written into `dir`.
fn config_with(lab: &Lab, dir: &Path, edits: &[(&str, &str)]) -> PathBuf {
    let mut text = std::fs::read_to_string(lab.ssh_config()).unwrap();
    for (host, lines) in edits {
        let header = text
            .lines()
            .find(|l| l.starts_with(&format!("Host {host} ")))
            .unwrap()
            .to_string();
        text = text.replacen(&header, &format!("{header}\n{lines}"), 1);
    }
    let path = dir.join("ssh_config");
    std::fs::write(&path, text).unwrap();
    path
}

/// Lab known_hosts where `host`'s entry holds the other host's key (a changed key).
fn forge_known_hosts(lab: &Lab, host: &str, other: &str) {
    let known = std::fs::read_to_string(lab.known_hosts()).unwrap();
    let key = |h: &str| {
        known
            .lines()
            .find(|l| l.starts_with(&format!("{h},")))
            .unwrap()
            .split_once(' ')
            .unwrap()
            .1
            .to_string()
    };
    let other_key = key(other);
    let forged: Vec<String> = known
        .lines()
        .map(|l| match l.split_once(' ') {
            Some((names, _)) if l.starts_with(&format!("{host},")) => {
                format!("{names} {other_key}")
            }
            _ => l.to_string(),
        })
        .collect();
    std::fs::write(lab.known_hosts(), forged.join("\n") + "\n").unwrap();
}

fn executor(config: &Path, host: &str, jump: Option<&str>) -> Executor {
    let target = SshTarget {
        name: host.into(),
        destination: host.into(),
        port: None,
        user: None,
        identity: None,
        jump: jump.map(str::to_string),
        known_hosts: None,
        config: Some(config.to_path_buf()),
        connect_timeout: 5,
        control_dir: cutover_exec::control_dir_for(&config.display().to_string()),
    };
    Executor::new(
        HashMap::from([(host.to_string(), Target::Ssh(target))]),
        Redactor::default(),
    )
}

fn failure(err: &ExecError) -> ConnectFailure {
    match err {
        ExecError::Connect { failure, .. } => failure.clone(),
        other => panic!("expected a connect error, got {other}"),
    }
}

/// `KnownHostsCommand` answering every lookup with the key the server presents.
const ACCEPT_ANY_KEY: &str = "  KnownHostsCommand /bin/echo %H %t %K";
/// A jump host's config entry that takes any key.
const LAX: &str = "  UserKnownHostsFile /dev/null\n  StrictHostKeyChecking no";

#[tokio::test]
async fn a_known_hosts_command_cannot_vouch_for_a_changed_key() {
    let lab = Lab::start().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let config = config_with(&lab, tmp.path(), &[("old", ACCEPT_ANY_KEY)]);
    forge_known_hosts(&lab, "old", "new");
    let ex = executor(&config, "old", None);
    let err = ex.connect("old").await.unwrap_err();
    assert_eq!(failure(&err), ConnectFailure::HostKeyChanged, "{err}");
    let err = ex
        .run(&Command::shell("old", "touch /srv/ran"))
        .await
        .unwrap_err();
    assert_eq!(failure(&err), ConnectFailure::HostKeyChanged, "{err}");
    assert!(!lab.host("old").fs_path("/srv/ran").exists());
}

#[tokio::test]
async fn the_plans_jump_host_is_checked_strictly_whatever_the_config_says() {
    let lab = Lab::start().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let config = config_with(&lab, tmp.path(), &[("old", LAX)]);
    let ex = executor(&config, "new", Some("old"));
    let err = ex.connect("new").await.unwrap_err();
    assert_eq!(failure(&err), ConnectFailure::HostKeyUnknown, "{err}");
    assert!(
        err.to_string()
            .contains(&format!("for {} ", lab.host("old").address())),
        "the error names the jump host: {err}"
    );
    assert!(ex
        .run(&Command::shell("new", "touch /srv/ran"))
        .await
        .is_err());
    assert!(!lab.host("new").fs_path("/srv/ran").exists());
}

#[tokio::test]
async fn a_jump_host_with_a_known_hosts_command_is_refused_a_changed_key() {
    let lab = Lab::start().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let config = config_with(&lab, tmp.path(), &[("old", ACCEPT_ANY_KEY)]);
    forge_known_hosts(&lab, "old", "new");
    let ex = executor(&config, "new", Some("old"));
    let err = ex.connect("new").await.unwrap_err();
    assert_eq!(failure(&err), ConnectFailure::HostKeyChanged, "{err}");
}

#[tokio::test]
async fn a_proxyjump_from_the_config_is_checked_the_same_way() {
    let lab = Lab::start().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let config = config_with(
        &lab,
        tmp.path(),
        &[("old", LAX), ("new", "  ProxyJump old")],
    );
    let ex = executor(&config, "new", None);
    let err = ex.connect("new").await.unwrap_err();
    assert_eq!(failure(&err), ConnectFailure::HostKeyUnknown, "{err}");
}

#[tokio::test]
async fn commands_go_through_a_jump_host_whose_key_is_known() {
    let lab = Lab::start().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let config = config_with(&lab, tmp.path(), &[]);
    let ex = executor(&config, "new", Some("old"));
    ex.connect("new").await.unwrap();
    let route = ex.route("new").unwrap();
    assert_eq!(route.hops, ["old"]);
    assert_eq!(route.unchecked_proxy, None);
    // new sees the connection coming from old, not from the controller.
    let out = ex
        .run(&Command::shell("new", "echo ${SSH_CONNECTION%% *}"))
        .await
        .unwrap();
    assert_eq!(out.stdout, format!("{}\n", lab.host("old").address()));
    ex.disconnect_all().await;
}

#[tokio::test]
async fn a_proxy_command_from_the_config_is_kept_and_said_to_be_unchecked() {
    let lab = Lab::start().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let proxy = format!(
        "  ProxyCommand ssh -F {} -W %h:%p old",
        lab.ssh_config().display()
    );
    let config = config_with(&lab, tmp.path(), &[("new", &proxy)]);
    let ex = executor(&config, "new", None);
    ex.connect("new").await.unwrap();
    let route = ex.route("new").unwrap();
    assert_eq!(route.hops, Vec::<String>::new());
    assert_eq!(
        route.unchecked_proxy.as_deref(),
        Some(proxy.trim_start().trim_start_matches("ProxyCommand "))
    );
    ex.disconnect_all().await;
}
