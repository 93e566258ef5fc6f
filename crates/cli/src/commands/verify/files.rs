//! `cutover verify files SRC DST`: the file proof on its own. Each side is a local path or
//! `HOST:path`, where HOST is a host of the plan file (`-f`, if there is one) or any SSH
//! destination (an alias of your SSH config, `user@host`). Each host builds its manifest
//! with cutover's agent (uploaded once to `~/.cache/cutover/bin`, checksum-cached), and only
//! digests and differences come back.

use crate::output::{paint, print_json, safe, Style};
use cutover_data::agent::AgentBinary;
use cutover_data::files::{
    verify, Algorithm, Compare, ManifestOptions, OwnerCheck, Side, VerifyOptions,
};
use cutover_engine::ExitCode;
use cutover_exec::{control_dir_for, Executor, Redactor, SshTarget, Target};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// Options of `cutover verify files`.
#[derive(clap::Args)]
#[command(
    after_help = "Exit codes: 0 the trees match, 9 they differ (every difference is named), 4 a host cannot be reached, 5 the proof could not be made (a missing path, a privilege, an agent that cannot start), 2 usage, 1 internal error."
)]
pub struct Args {
    /// The source tree: PATH (this machine) or HOST:PATH.
    pub source: String,
    /// The target tree: PATH or HOST:PATH.
    pub target: String,
    /// Content hash: blake3 (multi-threaded) or sha256.
    #[arg(long, default_value = "blake3")]
    pub algorithm: String,
    /// Leave out paths matching this glob (repeatable; rsync's meaning).
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Rehash every file instead of reusing the hashes cached on each host.
    #[arg(long)]
    pub no_cache: bool,
    /// Do not compare permission bits.
    #[arg(long)]
    pub no_mode: bool,
    /// How owners are compared: names, numeric or ignore.
    #[arg(long, default_value = "names")]
    pub owner: String,
    /// Also compare modification times.
    #[arg(long)]
    pub mtime: bool,
    /// Run the agents through `sudo -n` (to read files only root may read).
    #[arg(long)]
    pub sudo: bool,
    /// SSH config file for hosts that are not in the plan.
    #[arg(long, value_name = "FILE")]
    pub ssh_config: Option<PathBuf>,
    /// How many differences to list (all are counted).
    #[arg(long, default_value_t = 100)]
    pub max_listed: usize,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

fn usage(message: String) -> ExitCode {
    eprintln!("{} {}", paint(Style::Red, "error:"), safe(&message));
    ExitCode::Usage
}

/// The targets of the plan's hosts, when there is a plan file.
fn plan_targets(file: &Path) -> HashMap<String, Target> {
    if !file.exists() {
        return HashMap::new();
    }
    match cutover_plan::load(file) {
        Ok((plan, _)) => cutover_engine::hosts::targets(&plan, &plan.journal_path(file)),
        Err(_) => {
            eprintln!(
                "note: {} does not load, so hosts are taken as SSH destinations (see `cutover check`)",
                file.display()
            );
            HashMap::new()
        }
    }
}

pub async fn run(file: &Path, a: Args) -> ExitCode {
    let (source, target) = match (Side::parse(&a.source), Side::parse(&a.target)) {
        (Ok(s), Ok(t)) => (s, t),
        (Err(e), _) | (_, Err(e)) => return usage(e),
    };
    let Some(algorithm) = Algorithm::parse(&a.algorithm) else {
        return usage(format!(
            "--algorithm {} is not known: use blake3 or sha256",
            a.algorithm
        ));
    };
    let owner = match a.owner.as_str() {
        "names" => OwnerCheck::Names,
        "numeric" => OwnerCheck::Numeric,
        "ignore" => OwnerCheck::Ignore,
        other => {
            return usage(format!(
                "--owner {other} is not known: use names, numeric or ignore"
            ))
        }
    };
    let agent = match AgentBinary::current() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{} {e}", paint(Style::Red, "error:"));
            return ExitCode::Internal;
        }
    };
    let mut known = plan_targets(file);
    let mut targets = HashMap::new();
    for host in [&source.host, &target.host] {
        let t = match known.remove(host) {
            Some(t) => t,
            None if host == cutover_data::files::side::LOCAL => Target::Local,
            None => Target::Ssh(SshTarget {
                name: host.clone(),
                destination: host.clone(),
                port: None,
                user: None,
                identity: None,
                jump: None,
                known_hosts: None,
                config: a.ssh_config.clone(),
                connect_timeout: 10,
                control_dir: control_dir_for("cutover-verify-files"),
            }),
        };
        targets.insert(host.clone(), t);
    }
    let exec = Executor::new(targets, Redactor::default());
    let opts = VerifyOptions {
        manifest: ManifestOptions {
            algorithm,
            exclude: a.exclude.clone(),
            cache: !a.no_cache,
            compare: Compare {
                mode: !a.no_mode,
                owner,
                mtime: a.mtime,
            },
        },
        source_sudo: a.sudo,
        target_sudo: a.sudo,
        agent,
    };
    let show = !a.json && std::io::stderr().is_terminal();
    let mut progress = |host: &str, entries: u64, bytes: u64| {
        if show {
            eprint!(
                "\r{}: {entries} entries, {} hashed      ",
                safe(host),
                cutover_data::files::verify::human_bytes(bytes)
            );
        }
    };
    let result = verify(&exec, &source, &target, &opts, &mut progress).await;
    if show {
        eprint!("\r\x1b[K");
    }
    let code = match result {
        Ok(report) => {
            if a.json {
                print_json(&report);
            } else {
                let text = report.text(a.max_listed);
                let (head, rest) = text.split_once('\n').unwrap_or((&text, ""));
                let style = if report.matches() {
                    Style::Green
                } else {
                    Style::Red
                };
                outln!("{}\n{}", paint(style, head), safe(rest));
            }
            if report.matches() {
                ExitCode::Ok
            } else {
                ExitCode::VerifyFailed
            }
        }
        Err(e) => {
            eprintln!("{} {}", paint(Style::Red, "error:"), safe(&e.to_string()));
            ExitCode::of_step(e.class())
        }
    };
    exec.disconnect_all().await;
    code
}
