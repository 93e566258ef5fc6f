//! The plan's hosts as executor targets.

use cutover_exec::{control_dir_for, SshTarget, Target};
use cutover_plan::Plan;
use std::collections::HashMap;
use std::path::Path;

/// Targets for every host of `plan`; SSH control sockets are scoped to the journal so that a
/// resumed run reuses its connections and two plans never share them.
pub fn targets(plan: &Plan, journal_path: &Path) -> HashMap<String, Target> {
    targets_in(plan, control_dir_for(&journal_path.display().to_string()))
}

/// Targets for a command that only looks (`status`) while an `apply` may run: its SSH
/// connections are its own, so closing them when it is done never cuts the master
/// connection a running `apply` multiplexes its commands (and an agent upload) over.
pub fn observer_targets(plan: &Plan, journal_path: &Path) -> HashMap<String, Target> {
    let key = format!("{}#observer-{}", journal_path.display(), std::process::id());
    targets_in(plan, control_dir_for(&key))
}

fn targets_in(plan: &Plan, control_dir: std::path::PathBuf) -> HashMap<String, Target> {
    plan.hosts
        .iter()
        .map(|h| {
            let target = match (&h.ssh, h.local) {
                (Some(dest), false) => Target::Ssh(SshTarget {
                    name: h.name.value.clone(),
                    destination: dest.clone(),
                    port: h.port,
                    user: h.user.clone(),
                    identity: h.identity.as_ref().map(|p| plan.resolve_path(p)),
                    jump: h.jump.clone(),
                    known_hosts: h.known_hosts.as_ref().map(|p| plan.resolve_path(p)),
                    config: plan
                        .ssh
                        .config
                        .as_ref()
                        .map(|p| plan.resolve_path(Path::new(p))),
                    connect_timeout: plan.ssh.connect_timeout.unwrap_or(10),
                    control_dir: control_dir.clone(),
                }),
                _ => Target::Local,
            };
            (h.name.value.clone(), target)
        })
        .collect()
}
