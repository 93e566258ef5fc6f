//! The private directory holding the SSH master connections' control sockets and logs.
//!
//! A socket there is a live, authenticated connection to a production host, and `/tmp` is
//! shared: another local user can create the directory first, or plant a symlink named like
//! a file cutover writes. So the directory and its parent are created with mode 0700 and,
//! created or found, checked before every use: real directories (not symlinks), owned by this
//! user, with no permission for anyone else, in a directory others cannot swap them out of.
//! Anything else is refused, never repaired: files could have been planted while it was open.

use crate::error::ExecError;
use std::fs::{DirBuilder, File, Metadata, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Longest root for which `ROOT/SCOPE/%C` plus the suffix ssh adds while binding (`.` and 16
/// characters) fits in a socket address (107 bytes and a NUL): 107 - 1 - 10 - 1 - 40 - 17.
const MAX_ROOT_LEN: usize = 38;

/// The control-socket directory for one scope (e.g. one plan's journal), named by a hash of
/// `scope` under [`root_for`]'s root. Kept stable across cutover processes so that a resumed
/// run reuses the connections; short, because socket paths are limited to about 100 bytes.
pub fn control_dir_for(scope: &str) -> PathBuf {
    let xdg = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from);
    // FNV-1a: stable across builds, unlike std's hasher.
    let hash = scope.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    });
    root_for(xdg.as_deref(), effective_uid()).join(format!("{:010x}", hash & 0xff_ffff_ffff))
}

/// Where control directories live: `$XDG_RUNTIME_DIR/cutover-ssh` when that variable names
/// a directory private to `uid` (per-user, never shared, emptied at logout) and short enough
/// for socket paths; otherwise `/tmp/cutover-ssh-UID`. Under `sudo` the variable often still
/// names the invoking user's directory, which is then not ours and is skipped.
pub fn root_for(xdg_runtime_dir: Option<&Path>, uid: u32) -> PathBuf {
    if let Some(xdg) = xdg_runtime_dir {
        let root = xdg.join("cutover-ssh");
        let usable = xdg.is_absolute()
            && root.as_os_str().len() <= MAX_ROOT_LEN
            && std::fs::symlink_metadata(xdg).is_ok_and(|m| private_problem(&m, uid).is_none());
        if usable {
            return root;
        }
    }
    PathBuf::from(format!("/tmp/cutover-ssh-{uid}"))
}

/// Creates `dir` and its parent (mode 0700) where missing and checks that both, and the
/// directory holding them, can be trusted; nothing is created inside an untrusted one.
pub(crate) fn prepare(dir: &Path) -> Result<(), ExecError> {
    let uid = effective_uid();
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(parent) = parent {
        if let Some(holder) = parent.parent().filter(|p| !p.as_os_str().is_empty()) {
            check_holder(holder, parent, uid)?;
        }
        create_private(parent, uid)?;
    }
    create_private(dir, uid)
}

/// Checks `dir` (and its parent) again without creating anything: for uses after
/// [`prepare`], such as closing a connection.
pub(crate) fn is_trusted(dir: &Path) -> bool {
    let uid = effective_uid();
    let ok = |p: &Path| std::fs::symlink_metadata(p).is_ok_and(|m| problem(&m, uid).is_none());
    ok(dir) && dir.parent().is_none_or(ok)
}

/// Opens (truncating) the log file `name` in the checked directory `dir`, never through a
/// symlink, private to this user.
pub(crate) fn open_log(dir: &Path, name: &str) -> Result<File, ExecError> {
    let path = dir.join(name);
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .map_err(|e| {
            let problem = if e.raw_os_error() == Some(libc::ELOOP) {
                format!(
                    "{} is a symbolic link, which cutover never makes",
                    path.display()
                )
            } else {
                format!("cannot open {}: {e}", path.display())
            };
            untrusted(dir, problem, remove_hint(dir))
        })
}

fn create_private(dir: &Path, uid: u32) -> Result<(), ExecError> {
    match DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(untrusted(
                dir,
                format!("it cannot be created: {e}"),
                "make its parent directory exist and writable by you".into(),
            ))
        }
    }
    let meta = std::fs::symlink_metadata(dir)
        .map_err(|e| untrusted(dir, format!("it cannot be read: {e}"), remove_hint(dir)))?;
    match problem(&meta, uid) {
        None => Ok(()),
        Some(Problem::Symlink) => Err(untrusted(
            dir,
            "it is a symbolic link".into(),
            format!(
                "check where it points, remove the link (rm {}), and run again: cutover creates a directory with mode 0700",
                dir.display()
            ),
        )),
        Some(Problem::NotADirectory) => Err(untrusted(
            dir,
            "it is not a directory".into(),
            format!("check what it is, remove it (rm {}), and run again", dir.display()),
        )),
        Some(Problem::Owner(owner)) => Err(untrusted(
            dir,
            format!("it belongs to uid {owner}, not to you (uid {uid}), so another user may have made it to take over cutover's SSH connections"),
            format!("{} (or set XDG_RUNTIME_DIR to a private directory of yours)", remove_hint(dir)),
        )),
        Some(Problem::Mode(mode)) => {
            let why = if mode & 0o022 != 0 {
                "other users can write to it and may have planted files there"
            } else {
                "other users can reach the connections in it"
            };
            Err(untrusted(
                dir,
                format!("its mode is {mode:04o}, so {why}"),
                remove_hint(dir),
            ))
        }
    }
}

/// The directory holding our root must not let others swap the root out after it was
/// checked: owned by root or us, and either not writable by others or sticky (like `/tmp`).
fn check_holder(holder: &Path, root: &Path, uid: u32) -> Result<(), ExecError> {
    let Ok(meta) = std::fs::metadata(holder) else {
        return Ok(()); // creating the root will fail with the reason
    };
    let mode = meta.mode() & 0o7777;
    let owner_ok = meta.uid() == 0 || meta.uid() == uid;
    let swappable = mode & 0o022 != 0 && mode & 0o1000 == 0;
    if owner_ok && !swappable {
        return Ok(());
    }
    Err(untrusted(
        root,
        format!(
            "it is inside {} (owner uid {}, mode {mode:04o}), where other users can replace it",
            holder.display(),
            meta.uid()
        ),
        "set XDG_RUNTIME_DIR to a private directory of yours".into(),
    ))
}

enum Problem {
    Symlink,
    NotADirectory,
    Owner(u32),
    Mode(u32),
}

fn problem(meta: &Metadata, uid: u32) -> Option<Problem> {
    let kind = meta.file_type();
    if kind.is_symlink() {
        Some(Problem::Symlink)
    } else if !kind.is_dir() {
        Some(Problem::NotADirectory)
    } else {
        private_problem(meta, uid)
    }
}

fn private_problem(meta: &Metadata, uid: u32) -> Option<Problem> {
    let mode = meta.mode() & 0o7777;
    if !meta.is_dir() {
        Some(Problem::NotADirectory)
    } else if meta.uid() != uid {
        Some(Problem::Owner(meta.uid()))
    } else if mode & 0o077 != 0 {
        Some(Problem::Mode(mode))
    } else {
        None
    }
}

fn remove_hint(dir: &Path) -> String {
    format!(
        "check what is in it, remove it (rm -r {}), and run again: cutover creates it with mode 0700",
        dir.display()
    )
}

fn untrusted(dir: &Path, problem: String, hint: String) -> ExecError {
    ExecError::ControlDir {
        path: dir.to_path_buf(),
        problem,
        hint,
    }
}

fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn prefers_a_private_xdg_runtime_dir() {
        let tmp = tempfile::tempdir().unwrap();
        let xdg = tmp.path().join("run");
        DirBuilder::new().mode(0o700).create(&xdg).unwrap();
        let me = effective_uid();
        if xdg.join("cutover-ssh").as_os_str().len() <= MAX_ROOT_LEN {
            assert_eq!(root_for(Some(&xdg), me), xdg.join("cutover-ssh"));
        }
        assert_eq!(
            root_for(Some(Path::new("/run/user/4242")), me),
            PathBuf::from(format!("/tmp/cutover-ssh-{me}")),
            "missing"
        );
        std::fs::set_permissions(&xdg, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(
            root_for(Some(&xdg), me),
            PathBuf::from(format!("/tmp/cutover-ssh-{me}")),
            "readable by others"
        );
        std::fs::set_permissions(&xdg, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(
            root_for(Some(&xdg), me + 1),
            PathBuf::from(format!("/tmp/cutover-ssh-{}", me + 1)),
            "another user's (sudo keeps the caller's XDG_RUNTIME_DIR)"
        );
        assert_eq!(
            root_for(Some(Path::new("run/user")), me),
            PathBuf::from(format!("/tmp/cutover-ssh-{me}")),
            "relative"
        );
    }

    #[test]
    fn a_long_xdg_runtime_dir_is_skipped_for_socket_paths() {
        let long = Path::new("/run/user/1000/a-directory-name-far-too-long");
        assert_eq!(
            root_for(Some(long), 1000),
            PathBuf::from("/tmp/cutover-ssh-1000")
        );
    }

    #[test]
    fn control_dirs_fit_socket_paths() {
        let dir = control_dir_for("/a/plan/somewhere/with/a/long/path/cutover.journal.db");
        // ssh binds `DIR/%C` (40 hex) plus a 17-character suffix first.
        assert!(
            dir.as_os_str().len() + 1 + 40 + 17 <= 107,
            "{}",
            dir.display()
        );
    }
}
