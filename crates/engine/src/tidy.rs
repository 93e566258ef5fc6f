//! What tracked commands leave on the hosts (`~/.cache/cutover/runs/RUN`), removed when an
//! `apply` or a `rollback` ends, whatever the outcome: everything once the run has ended,
//! else the output of every command that has ended (exit statuses stay, for a resumed run to
//! find; a command still running keeps its own until it ends).

use cutover_exec::{tracked, Command, Executor};
use cutover_plan::{Plan, StepKind};
use futures_util::future::join_all;
use std::collections::BTreeSet;
use std::time::Duration;

/// Removes what run `run_id` left on the hosts: all of it when `ended`, else the finished
/// commands' output, and only on the hosts this invocation reached.
pub(crate) async fn tidy_hosts(exec: &Executor, plan: &Plan, run_id: &str, ended: bool) {
    let line = if ended {
        tracked::cleanup_line(run_id)
    } else {
        tracked::tidy_line(run_id)
    };
    let commands: Vec<Command> = plan
        .hosts
        .iter()
        .map(|h| h.name.value.as_str())
        .filter(|h| ended || exec.contacted(h))
        .flat_map(|host| {
            sudo_settings(plan, host).into_iter().map({
                let line = line.clone();
                move |sudo| {
                    Command::shell(host, line.clone())
                        .sudo(sudo)
                        .timeout(Some(Duration::from_secs(30)))
                }
            })
        })
        .collect();
    for (cmd, result) in commands
        .iter()
        .zip(join_all(commands.iter().map(|c| exec.run(c))).await)
    {
        match result {
            Ok(out) if out.success() => {}
            Ok(out) => tracing::warn!("could not clean up on {}: {}", cmd.host, out.stderr.trim()),
            Err(e) => tracing::warn!("could not clean up on {}: {e}", cmd.host),
        }
    }
}

/// Each `sudo` setting tracked commands run with on `host` (the host's, and any `run` step's
/// own): `~` differs between them, and so does where their files are.
fn sudo_settings(plan: &Plan, host: &str) -> BTreeSet<bool> {
    let mut settings: BTreeSet<bool> = plan.host(host).map(|h| h.sudo).into_iter().collect();
    for (_, step) in plan.steps() {
        if let StepKind::Run(run) = &step.kind {
            if let Some(sudo) = run.sudo {
                if run.hosts.iter().any(|h| h.value == host) {
                    settings.insert(sudo);
                }
            }
        }
    }
    settings
}
