//! One file per subcommand.

pub mod apply;
pub mod approve;
pub mod check;
pub mod init;
pub mod plan;
pub mod report;
pub mod rollback;
pub mod status;

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
