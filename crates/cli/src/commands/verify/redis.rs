//! `cutover verify redis SOURCE_URL TARGET_URL`: the Redis/Valkey proof on its own, outside
//! any plan. Each server's keys are digested by cutover's agent next to the data: on this
//! machine, or on a host reached over SSH with `--source-ssh`/`--target-ssh` (then the URL's
//! host is as that machine sees it). Only digests, and the keys of buckets that differ, come
//! back.
//!
//! Passwords never go on the command line: they are read from the environment
//! (`CUTOVER_SOURCE_REDIS_PASSWORD`, `CUTOVER_TARGET_REDIS_PASSWORD`, else `REDISCLI_AUTH`)
//! and reach remote hosts over the SSH channel's standard input.

use crate::output::{paint, Style};
use cutover_data::agent::AgentBinary;
use cutover_data::redis::{Endpoint, Pair, RedisError, VerifyOptions};
use cutover_engine::ExitCode;
use std::path::PathBuf;
use std::time::Duration;

/// Options of `cutover verify redis`.
#[derive(clap::Args)]
#[command(
    after_help = "Exit codes: 0 the servers hold the same keys, 9 they differ (every difference is named), 4 a server or host cannot be reached or refused the password, 5 the proof could not be made (a renamed or refused command, a server setting), 2 usage, 1 internal error."
)]
pub struct Args {
    /// The source server: `redis://[user@]host[:port]` (no password; `valkey://` works too).
    pub source: String,
    /// The target server, same form.
    pub target: String,
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
    #[arg(
        long,
        value_name = "VAR",
        default_value = "CUTOVER_SOURCE_REDIS_PASSWORD"
    )]
    pub source_password_env: String,
    /// Environment variable holding the target's password.
    #[arg(
        long,
        value_name = "VAR",
        default_value = "CUTOVER_TARGET_REDIS_PASSWORD"
    )]
    pub target_password_env: String,
    /// TTLs this close are equal (e.g. 1s, 500ms).
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub ttl_tolerance: Duration,
    /// How many differences to list (all are counted).
    #[arg(long, default_value_t = 1000)]
    pub max_listed: usize,
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
        "cutover verify redis",
        &a.ssh_config,
        sides,
        "REDISCLI_AUTH",
        |url, host, password| {
            let mut ep = Endpoint::from_url(url, host).map_err(|e| e.to_string())?;
            ep.password = password;
            Ok(ep)
        },
    );
    let (source, target, targets) = match endpoints {
        Ok(e) => e,
        Err(code) => return code,
    };
    let agent = match AgentBinary::current() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{} {e}", paint(Style::Red, "error:"));
            return ExitCode::Internal;
        }
    };
    let exec = super::executor(targets, &source.password, &target.password);
    let options = VerifyOptions {
        ttl_tolerance: a.ttl_tolerance,
        limit: a.max_listed,
        ..VerifyOptions::default()
    };
    let progress = super::progress(a.json);
    let result = async {
        let mut pair = Pair::open(&exec, &agent, &source, &target).await?;
        let report = pair.verify(&options, &progress).await;
        pair.close().await;
        report
    }
    .await;
    exec.disconnect_all().await;
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{} {e}", paint(Style::Red, "error:"));
            return match e {
                RedisError::Usage(_) => ExitCode::Usage,
                e => ExitCode::of_step(e.class()),
            };
        }
    };
    super::conclude(&report, a.json)
}
