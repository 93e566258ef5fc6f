//! Where and when a run was made: the machine, the date, the commit and the command, printed
//! at the head of every results file so that a figure can be traced to the run behind it.

use crate::Options;
use std::process::Command;

/// The provenance of one bench run.
pub struct Machine {
    /// One line: CPU, cores, memory, kernel, date, commit, command, scale and rounds.
    pub line: String,
    /// The run was at the published size (its results may go into the README).
    pub full_size: bool,
}

fn output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// The value of the first `key: value` line of a /proc file.
fn proc_field(file: &str, key: &str) -> Option<String> {
    std::fs::read_to_string(file).ok()?.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then(|| v.trim().to_string())
    })
}

/// Describes this machine and run.
pub fn describe(options: &Options) -> anyhow::Result<Machine> {
    let cpu = proc_field("/proc/cpuinfo", "model name").unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_gb = proc_field("/proc/meminfo", "MemTotal")
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    let commit = output("git", &["rev-parse", "--short=12", "HEAD"]);
    let dirty = !output("git", &["status", "--porcelain", "--untracked-files=no"]).is_empty();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let line = format!(
        "Measured {date} on {cpu}, {cores} cores, {mem_gb:.0} GB RAM, Linux {kernel}; commit {commit}{dirty}; `scripts/bench.sh{args}` at scale {scale}, {rounds} rounds.",
        date = output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        kernel = output("uname", &["-r"]),
        dirty = if dirty { " (with uncommitted changes)" } else { "" },
        args = args.iter().map(|a| format!(" {a}")).collect::<String>(),
        scale = options.scale,
        rounds = options.rounds,
    );
    Ok(Machine {
        line,
        full_size: options.full_size(),
    })
}
