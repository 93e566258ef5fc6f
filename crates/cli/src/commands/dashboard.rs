//! `cutover dashboard`: the run in a browser, live, with Approve and Roll back.

use cutover_engine::ExitCode;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;

/// Options of `cutover dashboard`.
#[derive(clap::Args)]
pub struct Args {
    /// Where to listen. Loopback by default (port 0: any free port); any other address is
    /// served over TLS with a certificate made at start (its fingerprint is printed).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// The run to show (default: the newest, following new runs).
    #[arg(long)]
    run: Option<String>,
}

pub async fn run(file: &Path, a: Args) -> ExitCode {
    if let Err(e) = cutover_plan::load(file) {
        eprintln!("error: cannot load the plan {}: {e}", file.display());
        return ExitCode::PlanInvalid;
    }
    let options = cutover_web::dashboard::Options {
        plan: file.to_path_buf(),
        listen: a.listen,
        run: a.run,
    };
    let served = cutover_web::dashboard::serve(options, |s| {
        println!("dashboard: {}", s.url);
        if let Some(f) = &s.fingerprint {
            println!("TLS certificate SHA-256 fingerprint (check it in your browser): {f}");
        }
        println!(
            "the token in the URL changes at every start; anyone with it can approve and roll back"
        );
        let _ = std::io::stdout().flush();
    })
    .await;
    match served {
        Ok(()) => ExitCode::Ok,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::Usage
        }
    }
}
