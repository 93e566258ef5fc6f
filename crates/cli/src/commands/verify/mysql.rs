//! `cutover verify mysql SOURCE_URL TARGET_URL --databases shop`: the MariaDB/MySQL proof on
//! its own, outside any plan. cutover's agent hashes each server's rows next to it (here, or
//! on a host reached over SSH with `--source-ssh`/`--target-ssh`: then the URL's host is as
//! that machine sees it); only digests travel, and rows only where they differ.
//!
//! Passwords never go on the command line: they are read from the environment
//! (`CUTOVER_SOURCE_MYSQL_PWD`, `CUTOVER_TARGET_MYSQL_PWD`, else `MYSQL_PWD`) and reach
//! remote agents over the SSH channel's standard input.

use crate::output::{paint, safe, Style};
use cutover_data::agent::AgentBinary;
use cutover_data::mysql::verify::{verify, VerifyOptions};
use cutover_data::mysql::Endpoint;
use cutover_engine::ExitCode;
use std::path::PathBuf;

/// Options of `cutover verify mysql`.
#[derive(clap::Args)]
#[command(
    after_help = "Exit codes: 0 the databases match, 9 they differ (every difference is listed), 4 a server or host cannot be reached or refused the credentials, 5 the proof could not be made (a missing database or table, a privilege, a server setting), 2 usage, 1 internal error."
)]
pub struct Args {
    /// The source server: `mysql://[user@]host[:port]` (no password).
    pub source: String,
    /// The target server, same form.
    pub target: String,
    /// The databases to compare (comma-separated, or the flag repeated).
    #[arg(long, value_name = "DB", required = true, value_delimiter = ',')]
    pub databases: Vec<String>,
    /// Run the source's agent on this SSH host (an ssh destination or config alias).
    #[arg(long, value_name = "DEST")]
    pub source_ssh: Option<String>,
    /// Run the target's agent on this SSH host.
    #[arg(long, value_name = "DEST")]
    pub target_ssh: Option<String>,
    /// SSH config file for --source-ssh/--target-ssh.
    #[arg(long, value_name = "FILE")]
    pub ssh_config: Option<PathBuf>,
    /// Environment variable holding the source's password.
    #[arg(long, value_name = "VAR", default_value = "CUTOVER_SOURCE_MYSQL_PWD")]
    pub source_password_env: String,
    /// Environment variable holding the target's password.
    #[arg(long, value_name = "VAR", default_value = "CUTOVER_TARGET_MYSQL_PWD")]
    pub target_password_env: String,
    /// Parallel sessions per server.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=32))]
    pub workers: u16,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(a: Args) -> ExitCode {
    let sides = [
        (&*a.source, &a.source_ssh, &*a.source_password_env),
        (&*a.target, &a.target_ssh, &*a.target_password_env),
    ];
    let endpoints = super::endpoints(
        "cutover verify mysql",
        &a.ssh_config,
        sides,
        "MYSQL_PWD",
        |url, host, password| {
            let mut ep = Endpoint::from_url(url, host)?;
            ep.password = password;
            Ok(ep)
        },
    );
    let (source, target, targets) = match endpoints {
        Ok(e) => e,
        Err(code) => return code,
    };
    let databases: Vec<String> = a
        .databases
        .iter()
        .map(|d| d.trim().to_string())
        .filter(|d| !d.is_empty())
        .collect();
    if databases.is_empty() {
        eprintln!("error: --databases names no database");
        return ExitCode::Usage;
    }
    let agent = match AgentBinary::current() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {}", safe(&e.to_string()));
            return ExitCode::Internal;
        }
    };
    let exec = super::executor(targets, &source.password, &target.password);
    let mut options = VerifyOptions::new(databases, agent);
    options.workers = a.workers as usize;
    let progress = super::progress(a.json);
    let result = verify(&exec, &source, &target, &options, &progress).await;
    exec.disconnect_all().await;
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{} {}", paint(Style::Red, "error:"), safe(&e.to_string()));
            return ExitCode::of_step(e.class());
        }
    };
    super::conclude(&report, a.json)
}
