//! Host keys are checked against known_hosts on every hop, whatever the SSH config says: a
//! `KnownHostsCommand` cannot vouch for a key, and a jump host (the plan's `jump` or the
//! config's `ProxyJump`) gets the same strict options as the host behind it.

use cutover_exec::{Command, ConnectFailure, ExecError, Executor, Redactor, SshTarget, Target};
use cutover_testbed::Lab;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The lab's SSH config with `edits` (see [`Lab::write_ssh_config_with`]), in `dir`.
fn config_with(lab: &Lab, dir: &Path, edits: &[(&str, &str)]) -> PathBuf {
    let path = dir.join("ssh_config");
    lab.write_ssh_config_with(&path, edits);
    path
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
    lab.forge_known_host("old", "new");
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
    lab.forge_known_host("old", "new");
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
