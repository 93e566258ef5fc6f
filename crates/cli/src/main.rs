//! The `cutover` binary: parses the command line, runs the engine, prints results, and maps
//! every error class to its exit code (see the README's table).

#[macro_use]
mod output;
mod commands;

use clap::{Parser, Subcommand};
use cutover_engine::ExitCode;
use std::path::PathBuf;

/// Move a running production application from one server to another: copy and prove the
/// data, gate every traffic move on health, roll back by itself, resume after a crash.
#[derive(Parser)]
#[command(name = "cutover", version, about, long_about = None, after_help = AFTER_HELP)]
struct Cli {
    /// The plan file.
    #[arg(
        short = 'f',
        long = "file",
        global = true,
        env = "CUTOVER_PLAN",
        default_value = "cutover.toml"
    )]
    file: PathBuf,
    /// Run the plan in one of its `[environments.NAME]` (its vars and hosts, its own
    /// journal).
    #[arg(
        short = 'e',
        long = "environment",
        global = true,
        env = "CUTOVER_ENVIRONMENT",
        value_name = "NAME"
    )]
    environment: Option<String>,
    /// Keep the run in a shared PostgreSQL journal instead of the plan's:
    /// `postgres://USER:{{ secrets.NAME }}@HOST:PORT/DB?sslmode=verify-full` (the password
    /// only as a reference to one of the plan's secrets).
    #[arg(
        long = "journal",
        global = true,
        env = "CUTOVER_JOURNAL",
        value_name = "URL"
    )]
    journal: Option<String>,
    #[command(subcommand)]
    command: Cmd,
}

const AFTER_HELP: &str = "Plan strings: {{ vars.NAME }}, {{ hosts.NAME.address }}, {{ plan.dir }}, {{ run.id }}; {{ secrets.NAME }} only in env and stdin. A literal {{ is written {{{{ and }} is written }}}} (docker inspect -f '{{{{ .State.Health.Status }}}}').\n\nExit codes: 0 ok, 1 internal error, 2 usage, 3 plan invalid, 4 host/secret unreachable, 5 step failed, 6 locked, 7 stopped at a gate, 8 rollback failed, 9 verification failed, 10 interrupted.";

#[derive(Subcommand)]
enum Cmd {
    /// Write a commented starter plan.
    Init(commands::init::Args),
    /// Validate the plan (every problem at once), then check secrets and hosts.
    Check(commands::check::Args),
    /// Show the exact changes `apply` would make.
    Plan(commands::plan::Args),
    /// Run the plan, resuming where the journal left off.
    Apply(commands::apply::Args),
    /// Show where the run stands and what it waits for.
    Status(commands::status::Args),
    /// Approve a gate of the current run.
    Approve(commands::approve::Args),
    /// Undo every applied step, newest first.
    Rollback(commands::rollback::Args),
    /// Render the run's journal as a report (Markdown, JSON or a self-contained HTML page).
    Report(commands::report::Args),
    /// Watch the run live in a browser, approve its gate or roll it back (loopback by default).
    Dashboard(commands::dashboard::Args),
    /// Move runs between journals (`journal copy FROM TO`: SQLite file <-> PostgreSQL).
    Journal(commands::journal::Args),
    /// Prove a copy on its own, without a plan (`verify files SRC DST`, `verify postgres SRC_URL DST_URL`).
    Verify(commands::verify::Args),
    /// Probe a URL on its own, pinned to an address like curl --resolve (status, JSON, TLS).
    Probe(commands::probe::Args),
    /// Print the plan file's JSON Schema (for editors).
    Schema,
    /// The agent cutover runs on remote hosts (started by cutover itself over SSH).
    #[command(hide = true)]
    Agent(commands::agent::Args),
}

fn main() {
    let cli = Cli::parse();
    if let Some(name) = &cli.environment {
        cutover_plan::environment::select(name);
    }
    if let Some(url) = &cli.journal {
        cutover_plan::journal_url::select(url);
    }
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            std::process::exit(ExitCode::Internal as i32);
        }
    };
    let code = runtime.block_on(run(cli));
    std::process::exit(code as i32);
}

async fn run(cli: Cli) -> ExitCode {
    // `cutover check plan.toml` names the plan as `-f plan.toml` does.
    let file = match &cli.command {
        Cmd::Check(commands::check::Args {
            plan_file: Some(f), ..
        })
        | Cmd::Plan(commands::plan::Args {
            plan_file: Some(f), ..
        }) => f.clone(),
        _ => cli.file,
    };
    if matches!(
        cli.command,
        Cmd::Check(_) | Cmd::Plan(_) | Cmd::Apply(_) | Cmd::Rollback(_)
    ) {
        output::print_plan_warnings(&file);
    }
    match cli.command {
        Cmd::Init(a) => commands::init::run(&file, a),
        Cmd::Check(a) => commands::check::run(&file, a).await,
        Cmd::Plan(a) => commands::plan::run(&file, a),
        Cmd::Apply(a) => commands::apply::run(&file, a).await,
        Cmd::Status(a) => commands::status::run(&file, a).await,
        Cmd::Approve(a) => commands::approve::run(&file, a),
        Cmd::Rollback(a) => commands::rollback::run(&file, a).await,
        Cmd::Report(a) => commands::report::run(&file, a),
        Cmd::Dashboard(a) => commands::dashboard::run(&file, a).await,
        Cmd::Probe(a) => commands::probe::run(a).await,
        Cmd::Journal(a) => commands::journal::run(&file, a),
        Cmd::Verify(a) => commands::verify::run(&file, a).await,
        Cmd::Agent(a) => commands::agent::run(a),
        Cmd::Schema => {
            outln!("{}", cutover_plan::schema::json_schema());
            ExitCode::Ok
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CUTOVER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(output::color_enabled())
        .without_time()
        .init();
}
