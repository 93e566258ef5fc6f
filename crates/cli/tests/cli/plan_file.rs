//! `cutover check` on plan files broken as files: not UTF-8, or with a thousand problems in a
//! megabyte. No lab is needed: such a plan is refused before any host is contacted.

use std::path::Path;
use std::process::{Command, Stdio};

/// A temp dir holding `cutover.toml` made of `bytes`.
fn plan_dir(bytes: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("cutover.toml"), bytes).expect("write plan");
    dir
}

/// What a finished `cutover` run left.
struct Finished {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    /// The process's peak resident memory, in KiB.
    peak_kib: i64,
}

/// Runs `cutover -f cutover.toml ARGS` in `dir` (so messages name the file as the user did)
/// to its end, measuring its peak memory.
#[expect(
    clippy::zombie_processes,
    reason = "the child is reaped by wait4, which reports its resource usage where std's wait does not"
)]
fn cutover(dir: &Path, args: &[&str]) -> Finished {
    let out = |name: &str| std::fs::File::create(dir.join(name)).expect("output file");
    let child = Command::new(env!("CARGO_BIN_EXE_cutover"))
        .current_dir(dir)
        .args(["-f", "cutover.toml"])
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(out("stdout"))
        .stderr(out("stderr"))
        .spawn()
        .expect("start cutover");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own unreaped child; both pointers are to live locals.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid, "wait4: {}", std::io::Error::last_os_error());
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).expect("read output");
    Finished {
        code: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
        stdout: read("stdout"),
        stderr: read("stderr"),
        peak_kib: usage.ru_maxrss,
    }
}

const LATIN1: &[u8] = b"name = \"caf\xE9\"\n[hosts.old]\nssh = \"old\"\n";

#[test]
fn a_plan_that_is_not_utf8_is_located_with_an_excerpt() {
    let dir = plan_dir(LATIN1);
    let run = cutover(dir.path(), &["check", "--offline"]);
    assert_eq!(run.code, Some(3), "{}", run.stderr);
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "cutover::plan

  × the file is not valid UTF-8: byte 0xE9 at byte offset 11
   ╭─[cutover.toml:1:12]
 1 │ name = \"caf\u{FFFD}\"
   ·            ┬
   ·            ╰── not UTF-8
 2 │ [hosts.old]
   ╰────
  help: save the file as UTF-8 (from Latin-1: `iconv -f LATIN1 -t UTF-8`); the rest of the plan is checked once it reads as text

error: cutover.toml has 1 problem
"
    );
}

#[test]
fn a_plan_that_is_not_utf8_is_reported_as_json() {
    let dir = plan_dir(LATIN1);
    let run = cutover(dir.path(), &["check", "--json"]);
    assert_eq!(run.code, Some(3), "{}", run.stderr);
    assert_eq!(
        run.stdout,
        r#"{
  "plan_ok": false,
  "problems": [
    {
      "column": 12,
      "file": "cutover.toml",
      "help": "save the file as UTF-8 (from Latin-1: `iconv -f LATIN1 -t UTF-8`); the rest of the plan is checked once it reads as text",
      "label": "not UTF-8",
      "line": 1,
      "message": "the file is not valid UTF-8: byte 0xE9 at byte offset 11"
    }
  ]
}
"#
    );
    assert_eq!(run.stderr, "");
}

/// A 1 MB plan with 1,000 unknown fields (1,001 problems with the missing stages). Each
/// problem used to carry its own copy of the plan: 990 MB of peak memory.
fn thousand_problems() -> Vec<u8> {
    let mut plan = String::from("name = \"m\"\n");
    for i in 0..1000 {
        plan.push_str(&format!("unknown_{i} = 1\n# {}\n", "x".repeat(1000)));
    }
    plan.push_str("[hosts.old]\nssh = \"old\"\n");
    assert!(plan.len() > 1_000_000);
    plan.into_bytes()
}

/// Well above what `check` needs here (12 MB), far below what a copy per problem took.
const PEAK_KIB_BOUND: i64 = 100 * 1024;

#[test]
fn a_plan_with_a_thousand_problems_is_checked_in_bounded_memory_and_shows_fifty() {
    let dir = plan_dir(&thousand_problems());
    let run = cutover(dir.path(), &["check", "--offline"]);
    assert_eq!(run.code, Some(3));
    assert!(
        run.peak_kib < PEAK_KIB_BOUND,
        "peak memory {} KiB",
        run.peak_kib
    );
    let shown: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("  × "))
        .collect();
    assert_eq!(shown.len(), 50, "{}", run.stderr);
    assert_eq!(shown[0], "  × the plan has no stages");
    assert_eq!(shown[1], "  × unknown field `unknown_0` in the plan");
    assert_eq!(shown[49], "  × unknown field `unknown_48` in the plan");
    assert!(
        run.stderr.ends_with(
            "\n... and 951 more problems (`cutover check --json` lists every one)\n\
             error: cutover.toml has 1001 problems\n"
        ),
        "{}",
        &run.stderr[run.stderr.len().saturating_sub(300)..]
    );
}

#[test]
fn a_plan_with_a_thousand_problems_lists_all_of_them_as_json_in_bounded_memory() {
    let dir = plan_dir(&thousand_problems());
    let run = cutover(dir.path(), &["check", "--json"]);
    assert_eq!(run.code, Some(3));
    assert!(
        run.peak_kib < PEAK_KIB_BOUND,
        "peak memory {} KiB",
        run.peak_kib
    );
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    let problems = json["problems"].as_array().expect("problems");
    assert_eq!(problems.len(), 1001);
    assert_eq!(
        problems[1000]["message"],
        "unknown field `unknown_999` in the plan"
    );
    assert_eq!(problems[1000]["line"], 2000);
}
