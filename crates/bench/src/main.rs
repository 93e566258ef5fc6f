//! Benchmarks, separate from the tests: each measures cutover against the tools a runbook
//! would use (rsync, sha256sum, pg_dump | pg_restore, pgcopydb...) and the strongest
//! practitioner's version of them, in the same run on the lab hosts, like for like: every
//! contender runs the same number of rounds, the order rotates round by round, and the page
//! cache is treated the same before every run. What users see is measured by the bench's own
//! clock and client, with cutover's own figures beside it. Each section writes a Markdown
//! file (`docs/bench/NAME.md`) that `scripts/bench.sh` splices into the README.

mod checks;
mod compose;
mod dashboard;
mod files;
mod journal;
mod machine;
mod moves;
mod mysql;
mod peak;
mod postgres;
mod redis;
mod report;
mod rounds;
mod splice;
mod traffic;
mod verdict;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// One benchmark section: its name, what it measures, and the function running it.
type Bench = fn(&Options) -> anyhow::Result<report::Section>;

/// The registry.
const BENCHES: &[(&str, &str, Bench)] = &[
    (
        "checks",
        "probe engine vs curl, prober/soak CPU at 10 probes/s, soak detection + automatic proxy rollback as users see it",
        checks::run,
    ),
    (
        "files",
        "sync (vs rsync -a over ssh, tar | ssh) and verification (vs sha256sum lists, parallel b3sum) of 20k files + 1 GiB; controller memory for 1M files",
        files::run,
    ),
    (
        "traffic",
        "DNS switch until every authoritative server answers (vs nsupdate); proxy switch + back x10 under load",
        traffic::run,
    ),
    (
        "moves",
        "10 coordinated moves (proxy.switch with data = [postgres.switch]) vs the two-step switch, under the pooled app's write load",
        moves::run,
    ),
    (
        "postgres",
        "PG16 -> PG18, 1.2 GB: copy (vs pg_dump | pg_restore, -Z0, -Fd -j2, pgcopydb), verify (vs pg_dump | sha256sum), switches under pgbench load as a client sees them",
        postgres::run,
    ),
    (
        "mysql",
        "MariaDB 10.11, ~1 GB: copy (vs mariadb-dump | mariadb over SSH, mydumper + myloader), verify (vs mariadb-dump | sha256sum), 10 switches under a write load",
        mysql::run,
    ),
    (
        "redis",
        "Redis 7.0 -> 7.0, 1M mixed keys: sync-ready (vs REPLICAOF and --rdb + copy + restart), verify (vs --scan + DUMP + sha256sum), 10 switches under writes, mutation suite",
        redis::run,
    ),
    (
        "journal",
        "PostgreSQL journal vs the SQLite file: append latency, a demo-like apply, failover after SIGKILL to another host",
        journal::run,
    ),
    (
        "compose",
        "blue/green Compose releases x10 under load through HAProxy and Caddy; a release failing /readyz after the switch; images.copy of 500 MB (vs docker save | ssh docker load)",
        compose::run,
    ),
    (
        "dashboard",
        "cutover dashboard's memory and CPU while a lab run soaks, 20 viewers on its event stream",
        dashboard::run,
    ),
];

/// How a run is sized and where its results go.
#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// Size of the data sets relative to the published figures (1 = 20,000 files + 1 GiB,
    /// 2 x 4 M rows...). Smaller runs are for development: their results are never spliced
    /// into the README.
    #[arg(long, env = "CUTOVER_BENCH_SCALE", default_value_t = 1.0)]
    pub scale: f64,
    /// Rounds of every comparison (each contender runs this many times).
    #[arg(long, env = "CUTOVER_BENCH_ROUNDS", default_value_t = 3)]
    pub rounds: usize,
    /// Directory for the sections' Markdown (default: docs/bench at scale 1, else
    /// target/bench-quick).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

impl Options {
    /// `full` scaled, never below `min`.
    pub fn scaled(&self, full: u64, min: u64) -> u64 {
        ((full as f64 * self.scale).round() as u64).max(min)
    }

    /// True for a run at the published size.
    pub fn full_size(&self) -> bool {
        (self.scale - 1.0).abs() < 1e-9
    }
}

#[derive(Parser)]
#[command(about = "cutover's benchmarks (run them with scripts/bench.sh)")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    options: Options,
    /// Sections to run (default: all): checks, files, traffic, moves, postgres, mysql, redis, journal, compose, dashboard.
    sections: Vec<String>,
}

#[derive(Subcommand)]
enum Command {
    /// List the sections.
    List,
    /// Replace each `<!-- bench:NAME -->` ... `<!-- /bench:NAME -->` block of FILE with
    /// DIR/NAME.md (full-size results only).
    Splice {
        /// The Markdown file to update (README.md).
        file: PathBuf,
        /// Where the sections' results are.
        #[arg(long, default_value = "docs/bench")]
        from: PathBuf,
    },
    /// Run COMMAND and write its own peak resident set (KiB) to REPORT; exits with its code.
    #[command(hide = true)]
    PeakRss {
        /// Where the figure goes.
        report: PathBuf,
        /// The command and its arguments.
        #[arg(last = true, required = true)]
        command: Vec<std::ffi::OsString>,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::List) => {
            for (name, what, _) in BENCHES {
                println!("{name:<10} {what}");
            }
            Ok(())
        }
        Some(Command::Splice { file, from }) => splice::splice_file(&file, &from),
        Some(Command::PeakRss { report, command }) => {
            std::process::exit(peak::serve(&report, &command)?)
        }
        None => run(&cli.sections, &cli.options),
    }
}

fn run(wanted: &[String], options: &Options) -> anyhow::Result<()> {
    anyhow::ensure!(options.rounds >= 1, "--rounds must be at least 1");
    anyhow::ensure!(
        options.scale > 0.0 && options.scale <= 1.0,
        "--scale must be in (0, 1]"
    );
    for w in wanted {
        anyhow::ensure!(
            BENCHES.iter().any(|(name, _, _)| name == w),
            "no benchmark section `{w}`: run `cutover-bench list`"
        );
    }
    let out = options.out.clone().unwrap_or_else(|| {
        PathBuf::from(if options.full_size() {
            "docs/bench"
        } else {
            "target/bench-quick"
        })
    });
    std::fs::create_dir_all(&out)?;
    let machine = machine::describe(options)?;
    for (name, what, bench) in BENCHES {
        if wanted.is_empty() || wanted.iter().any(|w| w == name) {
            eprintln!("== {name}: {what}");
            let section = bench(options)?;
            let text = report::render(&section, &machine);
            let path = out.join(format!("{name}.md"));
            std::fs::write(&path, &text)?;
            println!("{text}");
            eprintln!("== {name}: written to {}", path.display());
        }
    }
    Ok(())
}
