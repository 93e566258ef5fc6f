//! Checks made before touching anything, so a lab that cannot work here fails at once with
//! the fix instead of halfway through with a puzzling command error.

use crate::build::DEFAULT_LAB_ROOT;
use crate::error::LabError;
use crate::sshd::SSHD;
use std::path::{Path, PathBuf};

/// Fails early, with the fix, when the lab cannot work here at all.
pub(crate) fn preflight() -> Result<(), LabError> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| LabError::io("read", "/proc/self/status", e))?;
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1));
    if euid != Some("0") {
        return Err(LabError::NotRoot);
    }
    if !Path::new(SSHD).exists() {
        return Err(LabError::MissingProgram {
            program: SSHD.into(),
            why: "each host runs one".into(),
        });
    }
    for (program, why) in [
        ("ip", "network namespaces"),
        ("ssh", "readiness checks"),
        ("ssh-keygen", "keys"),
        ("nsenter", "exec in hosts"),
        ("unshare", "mount namespaces"),
    ] {
        if !on_path(program) {
            return Err(LabError::MissingProgram {
                program: program.into(),
                why: why.into(),
            });
        }
    }
    Ok(())
}

fn on_path(program: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).any(|dir| dir.join(program).is_file())
}

/// The lab directory must stay visible inside the hosts (sshd reads its config, keys and
/// authorized_keys there), so it may not lie under a directory the hosts mount privately; and
/// sshd_config cannot take paths with spaces or quotes unescaped.
pub(crate) fn check_dir_visible(dir: &Path, private: &[PathBuf]) -> Result<(), LabError> {
    if let Some(p) = private.iter().find(|p| dir.starts_with(p)) {
        return Err(LabError::Invalid(format!(
            "lab directory {} is under {}, which every lab host mounts privately; use a directory elsewhere, e.g. {DEFAULT_LAB_ROOT}/demo",
            dir.display(),
            p.display()
        )));
    }
    if dir
        .to_string_lossy()
        .contains(|c: char| c.is_whitespace() || c == '"' || c == '\'')
    {
        return Err(LabError::Invalid(format!(
            "lab directory {:?} must not contain spaces or quotes",
            dir
        )));
    }
    Ok(())
}
