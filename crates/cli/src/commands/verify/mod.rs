//! `cutover verify ...`: the data proofs as standalone tools, useful without a plan.
//! `files` proves file trees, `postgres` and `mysql` databases, `redis` Redis/Valkey
//! servers.

use crate::output::{paint, print_json, safe, Style};
use cutover_data::proof::DataProof;
use cutover_engine::ExitCode;
use cutover_exec::SecretValue;

pub mod files;
pub mod mysql;
pub mod postgres;
pub mod redis;

/// Options of `cutover verify`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(clap::Subcommand)]
enum What {
    /// Prove that TARGET holds what SOURCE holds, byte for byte: each side is PATH or
    /// HOST:PATH; manifests are built on each host by cutover's agent, in parallel.
    Files(files::Args),
    /// Prove that TARGET_URL holds what SOURCE_URL holds: per-table row counts and content
    /// checksums computed on each server, sequences, schema objects.
    Postgres(postgres::Args),
    /// Prove that TARGET_URL's databases hold what SOURCE_URL's hold: row counts and row
    /// digests hashed next to each server, narrowed to rows; definitions; counters.
    Mysql(mysql::Args),
    /// Prove that TARGET_URL holds every key SOURCE_URL holds: type, value and TTL of every
    /// key of every database, digested next to the data by cutover's agent.
    Redis(redis::Args),
}

pub async fn run(file: &std::path::Path, a: Args) -> cutover_engine::ExitCode {
    match a.what {
        What::Files(f) => files::run(file, f).await,
        What::Postgres(p) => postgres::run(p).await,
        What::Mysql(m) => mysql::run(m).await,
        What::Redis(r) => redis::run(r).await,
    }
}

/// The executor host for one side of a `verify` command: `name`, reached over SSH at `ssh`
/// (connections scoped to `scope`), or `local` when no SSH destination is given. Registers
/// the target in `targets`.
pub(crate) fn host_for<'a>(
    name: &'a str,
    ssh: &Option<String>,
    ssh_config: &Option<std::path::PathBuf>,
    scope: &str,
    targets: &mut std::collections::HashMap<String, cutover_exec::Target>,
) -> &'a str {
    match ssh {
        Some(dest) => {
            targets.insert(
                name.to_string(),
                cutover_exec::Target::Ssh(cutover_exec::SshTarget {
                    name: name.into(),
                    destination: dest.clone(),
                    port: None,
                    user: None,
                    identity: None,
                    jump: None,
                    known_hosts: None,
                    config: ssh_config.clone(),
                    connect_timeout: 10,
                    control_dir: cutover_exec::control_dir_for(scope),
                }),
            );
            name
        }
        None => {
            targets.insert("local".into(), cutover_exec::Target::Local);
            "local"
        }
    }
}

/// The executor of a store's `verify`: both sides' hosts, with their passwords redacted
/// from anything it reports.
pub(crate) fn executor(
    targets: std::collections::HashMap<String, cutover_exec::Target>,
    source: &Option<SecretValue>,
    target: &Option<SecretValue>,
) -> cutover_exec::Executor {
    let secrets: Vec<(&str, &SecretValue)> =
        [("source password", source), ("target password", target)]
            .into_iter()
            .filter_map(|(n, p)| p.as_ref().map(|p| (n, p)))
            .collect();
    cutover_exec::Executor::new(targets, cutover_exec::Redactor::new(secrets))
}

/// A verifier's progress lines on standard error, dimmed; none when the output is JSON.
pub(crate) fn progress(json: bool) -> impl Fn(String) + Send + Sync {
    move |line: String| {
        if !json {
            eprintln!("{}", paint(Style::Dim, &line));
        }
    }
}

/// The end of every store's `cutover verify`: the proof printed (as JSON, or its text made
/// printable, quietly dropped when the reader went away), then exit 0 when it matches and 9
/// when it does not.
pub(crate) fn conclude<P: DataProof>(proof: &P, json: bool) -> ExitCode {
    if json {
        let code = print_json(proof);
        if code != ExitCode::Ok {
            return code;
        }
    } else {
        let text = proof.render();
        let end = if text.ends_with('\n') { "" } else { "\n" };
        out!("{}{end}", safe(&text));
    }
    if proof.matches() {
        ExitCode::Ok
    } else {
        ExitCode::VerifyFailed
    }
}

/// Both sides' endpoints for `command` ("cutover verify redis"), each side given as (URL,
/// SSH destination, password variable) and made by `make(url, host, password)`, the password
/// read from the side's variable or else from
/// `fallback_env` (the store's own: `PGPASSWORD`, `REDISCLI_AUTH`, `MYSQL_PWD`), and the hosts
/// they run on. A side that does not parse is said, and is a usage error.
pub(crate) fn endpoints<E>(
    command: &str,
    ssh_config: &Option<std::path::PathBuf>,
    sides: [(&str, &Option<String>, &str); 2],
    fallback_env: &str,
    make: impl Fn(&str, &str, Option<SecretValue>) -> Result<E, String>,
) -> Result<
    (
        E,
        E,
        std::collections::HashMap<String, cutover_exec::Target>,
    ),
    ExitCode,
> {
    let mut targets = std::collections::HashMap::new();
    let mut made = Vec::with_capacity(2);
    for ((url, ssh, password_env), name) in sides.into_iter().zip(["source", "target"]) {
        let host = host_for(name, ssh, ssh_config, command, &mut targets);
        let password = std::env::var(password_env)
            .ok()
            .or_else(|| std::env::var(fallback_env).ok())
            .filter(|p| !p.is_empty())
            .map(SecretValue::new);
        match make(url, host, password) {
            Ok(e) => made.push(e),
            Err(e) => {
                eprintln!("error: {}", safe(&e));
                return Err(ExitCode::Usage);
            }
        }
    }
    let target = made.pop();
    match (made.pop(), target) {
        (Some(source), Some(target)) => Ok((source, target, targets)),
        _ => Err(ExitCode::Internal),
    }
}
