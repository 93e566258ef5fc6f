//! The SSH control directory: a live master socket there is an authenticated connection to a
//! production host, so a directory another local user made (or could write to) is refused
//! before anything is created, opened or connected through it.

use cutover_exec::{ExecError, Executor, Redactor, SshTarget, Target};
use std::collections::HashMap;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

/// `nobody`: the owner of directories another user made.
const OTHER_UID: u32 = 65534;

/// A host whose connection is refused at once (nothing listens on port 9 here).
fn target(control_dir: PathBuf) -> SshTarget {
    SshTarget {
        name: "old".into(),
        destination: "127.0.0.1".into(),
        port: Some(9),
        user: None,
        identity: None,
        jump: None,
        known_hosts: None,
        config: Some("/dev/null".into()),
        connect_timeout: 2,
        control_dir,
    }
}

async fn connect(control_dir: PathBuf) -> Result<(), ExecError> {
    let ex = Executor::new(
        HashMap::from([("old".to_string(), Target::Ssh(target(control_dir)))]),
        Redactor::default(),
    );
    ex.connect("old").await
}

/// A file of the operator's that a hostile symlink points at.
fn victim(dir: &Path) -> PathBuf {
    let p = dir.join("operator-file");
    std::fs::write(&p, "precious\n").unwrap();
    p
}

fn mkdir(path: &Path, mode: u32, uid: u32) {
    std::fs::create_dir(path).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    std::os::unix::fs::chown(path, Some(uid), None).unwrap();
}

fn refusal(result: Result<(), ExecError>) -> String {
    match result {
        Err(e @ ExecError::ControlDir { .. }) => e.to_string(),
        other => panic!("expected the control directory to be refused, got {other:?}"),
    }
}

#[tokio::test]
async fn a_control_dir_made_by_another_user_is_refused_and_its_symlink_not_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let victim = victim(tmp.path());
    let root = tmp.path().join("cutover-ssh-0");
    mkdir(&root, 0o777, OTHER_UID);
    let leaf = root.join("0123456789");
    mkdir(&leaf, 0o777, OTHER_UID);
    symlink(&victim, leaf.join("old.log")).unwrap();
    let message = refusal(connect(leaf.clone()).await);
    assert_eq!(
        message,
        format!(
            "the SSH control directory {root} cannot be trusted: it belongs to uid {OTHER_UID}, not to you (uid 0), so another user may have made it to take over cutover's SSH connections\n\
             hint: check what is in it, remove it (rm -r {root}), and run again: cutover creates it with mode 0700 (or set XDG_RUNTIME_DIR to a private directory of yours)",
            root = root.display()
        )
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    // Nothing was tightened or created on the way: the hostile tree is as it was.
    let mode = std::fs::metadata(&root).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o777);
}

#[tokio::test]
async fn a_control_dir_others_can_write_to_is_refused_even_when_it_is_ours() {
    let tmp = tempfile::tempdir().unwrap();
    let victim = victim(tmp.path());
    let root = tmp.path().join("cutover-ssh-0");
    mkdir(&root, 0o700, 0);
    let leaf = root.join("0123456789");
    mkdir(&leaf, 0o777, 0);
    symlink(&victim, leaf.join("old.log")).unwrap();
    let message = refusal(connect(leaf.clone()).await);
    assert_eq!(
        message,
        format!(
            "the SSH control directory {leaf} cannot be trusted: its mode is 0777, so other users can write to it and may have planted files there\n\
             hint: check what is in it, remove it (rm -r {leaf}), and run again: cutover creates it with mode 0700",
            leaf = leaf.display()
        )
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
}

#[tokio::test]
async fn a_control_dir_that_is_a_symlink_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let elsewhere = tmp.path().join("elsewhere");
    mkdir(&elsewhere, 0o700, 0);
    let root = tmp.path().join("cutover-ssh-0");
    mkdir(&root, 0o700, 0);
    let leaf = root.join("0123456789");
    symlink(&elsewhere, &leaf).unwrap();
    let message = refusal(connect(leaf.clone()).await);
    assert!(
        message.starts_with(&format!(
            "the SSH control directory {} cannot be trusted: it is a symbolic link",
            leaf.display()
        )),
        "{message}"
    );
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
}

#[tokio::test]
async fn the_master_log_is_never_opened_through_a_symlink() {
    let tmp = tempfile::tempdir().unwrap();
    let victim = victim(tmp.path());
    let root = tmp.path().join("cutover-ssh-0");
    mkdir(&root, 0o700, 0);
    let leaf = root.join("0123456789");
    mkdir(&leaf, 0o700, 0);
    symlink(&victim, leaf.join("old.log")).unwrap();
    let err = connect(leaf.clone()).await.unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains(&format!("{}/old.log", leaf.display()))
            && message.contains("symbolic link"),
        "{message}"
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
}

#[tokio::test]
async fn a_missing_control_dir_is_created_private() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("cutover-ssh-0");
    let leaf = root.join("0123456789");
    // The host is unreachable: the connection fails, but only after the directory is made.
    let err = connect(leaf.clone()).await.unwrap_err();
    assert!(matches!(err, ExecError::Connect { .. }), "{err}");
    for dir in [&root, &leaf] {
        let mode = std::fs::metadata(dir).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o700, "{}", dir.display());
    }
}
