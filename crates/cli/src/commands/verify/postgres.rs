//! `cutover verify postgres SOURCE_URL TARGET_URL`: the data proof on its own, outside any
//! plan. Each server computes its row counts and checksums; only the results travel. The
//! queries run here (psql on this machine), or on a host reached over SSH with
//! `--source-ssh`/`--target-ssh` (then the URL's host is as that machine sees it).
//!
//! Passwords never go on the command line: they are read from the environment
//! (`CUTOVER_SOURCE_PGPASSWORD`, `CUTOVER_TARGET_PGPASSWORD`, else `PGPASSWORD`) or a pgpass
//! file, and reach remote hosts over the SSH channel's standard input.

use crate::output::{paint, safe, Style};
use cutover_data::postgres::{verify, Endpoint, VerifyOptions};
use cutover_engine::ExitCode;
use std::path::PathBuf;

/// Options of `cutover verify postgres`.
#[derive(clap::Args)]
#[command(
    after_help = "Exit codes: 0 the databases match, 9 they differ (every difference is listed), 4 a server or host cannot be reached or refused the credentials, 5 the proof could not be made (a missing database or table, a privilege, a server setting), 2 usage, 1 internal error."
)]
pub struct Args {
    /// The source database: `postgres://[user@]host[:port]/db[?sslmode=...]` (no password).
    pub source: String,
    /// The target database, same form.
    pub target: String,
    /// Run the source's queries on this SSH host (an ssh destination or config alias).
    #[arg(long, value_name = "DEST")]
    pub source_ssh: Option<String>,
    /// Run the target's queries on this SSH host.
    #[arg(long, value_name = "DEST")]
    pub target_ssh: Option<String>,
    /// SSH config file for --source-ssh/--target-ssh.
    #[arg(long, value_name = "FILE")]
    pub ssh_config: Option<PathBuf>,
    /// Environment variable holding the source's password.
    #[arg(long, value_name = "VAR", default_value = "CUTOVER_SOURCE_PGPASSWORD")]
    pub source_password_env: String,
    /// Environment variable holding the target's password.
    #[arg(long, value_name = "VAR", default_value = "CUTOVER_TARGET_PGPASSWORD")]
    pub target_password_env: String,
    /// Directory of the PostgreSQL client tools (default: found on each host).
    #[arg(long, value_name = "DIR")]
    pub bin: Option<String>,
    /// Parallel sessions per server.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=8))]
    pub jobs: u16,
    /// Do not share one snapshot between a server's sessions.
    #[arg(long)]
    pub no_snapshot: bool,
    /// Compare owners and privileges (grants) too.
    #[arg(long)]
    pub privileges: bool,
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
        "cutover verify postgres",
        &a.ssh_config,
        sides,
        "PGPASSWORD",
        |url, host, password| {
            let mut ep = Endpoint::from_url(url, host).map_err(|e| e.to_string())?;
            // Locally psql inherits the environment anyway; remote hosts get it over stdin.
            ep.password = password;
            ep.bin = a.bin.clone();
            Ok(ep)
        },
    );
    let (source, target, targets) = match endpoints {
        Ok(e) => e,
        Err(code) => return code,
    };
    let exec = super::executor(targets, &source.password, &target.password);
    let options = VerifyOptions {
        jobs: a.jobs as usize,
        consistent: !a.no_snapshot,
        privileges: a.privileges,
        ..VerifyOptions::default()
    };
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
