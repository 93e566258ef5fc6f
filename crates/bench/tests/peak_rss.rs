//! `cutover-bench peak-rss` reports a command's own peak resident set, where `wait4` on a
//! direct child reports at least the parent's.

use std::process::Command;

/// Peak resident set (KiB) of a direct child running `/bin/true`, by `wait4`.
fn direct_child_kib() -> i64 {
    // Reaped by the wait4 below, which std's wait() would not let us call.
    #[allow(clippy::zombie_processes)]
    let child = Command::new("/bin/true").spawn().expect("spawn /bin/true");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is a plain struct filled by the kernel; pid is our child, not reaped.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::wait4(pid, &mut status, 0, &mut usage) }, pid);
    usage.ru_maxrss
}

#[test]
fn a_command_is_measured_apart_from_a_large_parent() {
    // 200 MB touched: this process's resident set.
    let ballast = vec![1u8; 200 << 20];
    std::hint::black_box(&ballast);
    assert!(
        direct_child_kib() > 200 << 10,
        "a direct child's figure includes the parent's (the kernel records it at exec)"
    );
    let report = tempfile::NamedTempFile::new().unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_cutover-bench"))
        .arg("peak-rss")
        .arg(report.path())
        .args(["--", "/bin/sh", "-c", "exit 3"])
        .status()
        .unwrap();
    assert_eq!(
        status.code(),
        Some(3),
        "the command's exit code is passed on"
    );
    let kib: i64 = std::fs::read_to_string(report.path())
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // The helper's own few MB count (its figure is a ceiling), the parent's 200 MB do not.
    assert!(kib < 100 << 10, "measured apart from the parent: {kib} KiB");
}
