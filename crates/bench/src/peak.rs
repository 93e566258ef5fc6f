//! A command's own peak resident set.
//!
//! `ru_maxrss` from `wait4` on a child spawned by this process is not the child's alone:
//! Linux records the old address space's high-water mark at `execve`, and a child made by
//! `vfork` or `fork` starts in (a copy of) ours. A child of a bench that holds 80 MB would
//! be reported at 80 MB whatever it used. So the command runs under this binary's small
//! `peak-rss` subcommand, freshly exec'd, which spawns it and reports the figure its own
//! `wait4` returns: the floor is the helper's few MB, not the bench's size.

use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, Stdio};

/// Runs `cmd` (its program, arguments and environment; its output is discarded) and
/// returns its exit code and peak resident set in MB.
pub fn run(cmd: &Command) -> anyhow::Result<(i32, f64)> {
    let report = tempfile::NamedTempFile::new()?;
    let mut wrapped = Command::new(std::env::current_exe()?);
    wrapped
        .arg("peak-rss")
        .arg(report.path())
        .arg("--")
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (key, value) in cmd.get_envs() {
        match value {
            Some(v) => wrapped.env(key, v),
            None => wrapped.env_remove(key),
        };
    }
    let status = wrapped.status()?;
    let text = std::fs::read_to_string(report.path())?;
    let kib: i64 = text
        .trim()
        .parse()
        .map_err(|_| anyhow::anyhow!("peak-rss reported no figure (exit {status}): {text:?}"))?;
    Ok((status.code().unwrap_or(-1), kib as f64 / 1024.0))
}

/// The `peak-rss` subcommand: runs `argv`, writes its peak resident set (KiB) to
/// `report`, and exits with its code.
pub fn serve(report: &Path, argv: &[OsString]) -> anyhow::Result<i32> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| anyhow::anyhow!("peak-rss: no command given"))?;
    // Reaped by the wait4 below, which std's wait() would not let us call.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(program).args(args).spawn()?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is a plain struct filled by the kernel; pid is our child, not reaped.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    anyhow::ensure!(
        r == pid,
        "wait4 failed: {}",
        std::io::Error::last_os_error()
    );
    std::fs::write(report, usage.ru_maxrss.to_string())?;
    Ok(if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    })
}
