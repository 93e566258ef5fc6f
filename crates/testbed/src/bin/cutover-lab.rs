//! `cutover-lab`: the canonical demo lab (slot 0) from the command line. `up` builds hosts `old`
//! (198.51.100.10) and `new` (198.51.100.20) that outlive the command, `status` checks them,
//! `pg` starts a PostgreSQL server in one, `exec` runs a command inside one, `load` writes
//! through the test app's API on a schedule and summarises, `down` removes them.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use cutover_testbed::load::{LoadOptions, WriteLoad};
use cutover_testbed::{Lab, LabBuilder, PgOptions, PgServer};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The exit status of `load` when some writes were not acknowledged.
const EXIT_WRITES_FAILED: i32 = 3;

#[derive(Parser)]
#[command(
    name = "cutover-lab",
    about = "SSH hosts in network namespaces for cutover's demo (needs root)"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build the canonical lab (namespaces old, new) unless it is already up and healthy.
    Up {
        /// Directory for ssh_config, known_hosts, id_ed25519, lab.json and the hosts' files.
        #[arg(long)]
        dir: PathBuf,
        /// Host names (default: old, new); a third one gets .30.
        #[arg(long = "host", value_name = "NAME")]
        hosts: Vec<String>,
    },
    /// Tear the canonical lab down and remove the files it wrote in DIR.
    Down {
        /// The directory given to `up`.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Check every host: namespace, sshd, and `ssh true` with the lab's client files.
    Status {
        /// The directory given to `up`.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Start a fresh PostgreSQL server inside a host (any previous one at that major and port
    /// is removed first); it keeps running until `down`. The superuser `postgres` gets the
    /// password in the environment variable named by --password-env (read here, passed to
    /// psql on stdin: never on a command line).
    Pg {
        /// The directory given to `up`.
        #[arg(long)]
        dir: PathBuf,
        /// The host (old, new, ...).
        host: String,
        /// The major version (a toolset in /opt/cutover/pg/MAJOR).
        #[arg(long)]
        major: u32,
        #[arg(long, default_value_t = 5432)]
        port: u16,
        /// wal_level = logical, with replication slots and senders (publisher side).
        #[arg(long)]
        logical: bool,
        /// The environment variable holding the superuser's password.
        #[arg(long, value_name = "VAR")]
        password_env: Option<String>,
    },
    /// Run a shell command inside a host (its network and mount namespaces), like ssh would.
    Exec {
        /// The directory given to `up`.
        #[arg(long)]
        dir: PathBuf,
        /// The host (old, new, ...).
        host: String,
        /// The command; its words are joined with spaces and run by `sh -c`, as ssh does.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// POST /api/orders to the test app (in database mode) at URL on a fixed schedule, then
    /// print every failed request and the totals. Exits 3 if any write was not acknowledged.
    Load {
        /// The app or the proxy in front of it: http://HOST:PORT.
        url: String,
        /// Time between two requests.
        #[arg(long, default_value = "20ms", value_parser = humantime::parse_duration)]
        every: Duration,
        /// How long to send.
        #[arg(long = "for", default_value = "10s", value_parser = humantime::parse_duration)]
        duration: Duration,
        /// How long one request may take before it counts as failed.
        #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
        deadline: Duration,
        /// Print the summary and every request as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn main() {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("cutover-lab: error: {e:#}");
            std::process::exit(1);
        }
    }
}

fn run(command: Cmd) -> Result<i32> {
    match command {
        Cmd::Up { dir, hosts } => up(&dir, hosts),
        Cmd::Down { dir } => {
            let lab = Lab::attach(&dir)?;
            lab.teardown().context("tearing the lab down")?;
            println!("lab in {} is down", dir.display());
            Ok(0)
        }
        Cmd::Status { dir } => status(&dir),
        Cmd::Pg {
            dir,
            host,
            major,
            port,
            logical,
            password_env,
        } => {
            let lab = Lab::attach(&dir)?;
            let target = lab.try_host(&host)?;
            PgServer::remove(target, major, port)?;
            let options = PgOptions {
                logical,
                ..PgOptions::default()
            };
            let server = PgServer::start(target, major, port, options)?;
            if let Some(var) = password_env {
                let password = std::env::var(&var)
                    .with_context(|| format!("--password-env {var}: the variable is not set"))?;
                let literal = password.replace('\'', "''");
                server.psql(
                    "postgres",
                    &format!("ALTER ROLE postgres PASSWORD '{literal}'"),
                )?;
            }
            println!(
                "PostgreSQL {major} on {host} at {}:{port} (data {})",
                target.address(),
                server.data_dir()
            );
            server.keep_running();
            Ok(0)
        }
        Cmd::Exec { dir, host, command } => {
            let lab = Lab::attach(&dir)?;
            let target = lab.try_host(&host)?;
            if !target.is_running() {
                bail!(
                    "host {host} is not running; rerun `cutover-lab up --dir {}`",
                    dir.display()
                );
            }
            let status = target
                .command(&command.join(" "))
                .status()
                .with_context(|| format!("running a command on host {host}"))?;
            Ok(status.code().unwrap_or(128))
        }
        Cmd::Load {
            url,
            every,
            duration,
            deadline,
            json,
        } => {
            let options = LoadOptions {
                interval: every,
                deadline,
            };
            let load = WriteLoad::start(&url, options)?;
            std::thread::sleep(duration);
            let summary = load.stop();
            if json {
                println!("{}", summary.to_json());
            } else {
                print!("{summary}");
            }
            Ok(if summary.failures().is_empty() {
                0
            } else {
                EXIT_WRITES_FAILED
            })
        }
    }
}

fn up(dir: &Path, hosts: Vec<String>) -> Result<i32> {
    if let Ok(lab) = Lab::attach(dir) {
        let wanted_default =
            hosts.is_empty() && lab.hosts().iter().map(|h| h.name()).eq(["old", "new"]);
        let same_hosts = wanted_default
            || lab
                .hosts()
                .iter()
                .map(|h| h.name())
                .eq(hosts.iter().map(String::as_str));
        if same_hosts && lab.hosts().iter().all(|h| h.check().is_ok()) {
            println!("lab already up and healthy in {}", lab.dir().display());
            print_hosts(&lab);
            return Ok(0);
        }
        println!(
            "replacing the lab in {} (not healthy or other hosts)",
            dir.display()
        );
    }
    let started = Instant::now();
    let builder = hosts.iter().fold(LabBuilder::default(), |b, h| b.host(h));
    let lab = builder.start_canonical(dir)?;
    println!(
        "lab up in {} ({} ms)",
        lab.dir().display(),
        started.elapsed().as_millis()
    );
    print_hosts(&lab);
    println!("try: ssh -F {} old hostname", lab.ssh_config().display());
    Ok(0)
}

fn status(dir: &Path) -> Result<i32> {
    let lab = Lab::attach(dir)?;
    let mut healthy = true;
    println!(
        "lab in {} (slot {}, controller {})",
        lab.dir().display(),
        lab.slot(),
        lab.controller_address()
    );
    for host in lab.hosts() {
        match host.check() {
            Ok(()) => println!(
                "  {:<8} {:<15} up    {}",
                host.name(),
                host.address(),
                host.host_key_fingerprint()
            ),
            Err(e) => {
                healthy = false;
                println!("  {:<8} {:<15} DOWN  {e}", host.name(), host.address());
            }
        }
    }
    if !healthy {
        bail!(
            "some hosts are down; rerun `cutover-lab up --dir {}`",
            dir.display()
        );
    }
    Ok(0)
}

fn print_hosts(lab: &Lab) {
    for host in lab.hosts() {
        println!(
            "  {:<8} {:<15} netns {:<10} {}",
            host.name(),
            host.address(),
            host.netns(),
            host.host_key_fingerprint()
        );
    }
}
