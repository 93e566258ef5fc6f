//! One file per subcommand.

pub mod agent;
pub mod apply;
pub mod approve;
pub mod check;
pub mod dashboard;
pub mod init;
pub mod journal;
pub mod plan;
pub mod probe;
pub mod report;
pub mod rollback;
pub mod status;
pub mod verify;

/// Asks `question` on the terminal; off a terminal (without `--yes`) it refuses with a usage
/// error instead of guessing. `Ok(false)` when the answer is not yes.
pub fn confirm(question: &str, action: &str) -> Result<bool, cutover_engine::ExitCode> {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        eprintln!(
            "error: refusing to {action} without confirmation: pass --yes when not on a terminal"
        );
        return Err(cutover_engine::ExitCode::Usage);
    }
    out!("{question} [y/N] ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// A watch that turns true on the first Ctrl-C or SIGTERM; a second Ctrl-C exits at once.
pub fn interrupt_signal() -> tokio::sync::watch::Receiver<bool> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let term_recv = async {
            match term.as_mut() {
                Some(t) => {
                    t.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term_recv => {}
        }
        eprintln!("\ninterrupted: stopping after recording where the run stands (Ctrl-C again to quit at once)");
        let _ = tx.send(true);
        if tokio::signal::ctrl_c().await.is_ok() {
            std::process::exit(cutover_engine::ExitCode::Interrupted as i32);
        }
    });
    rx
}
