//! Readiness: a lab is ready when a real `ssh -F LAB/ssh_config HOST true` succeeds for every
//! host, which proves the network, the keys, the known_hosts pinning and sshd at once. Cheap
//! checks first (sshd alive, listening) so the costly ssh runs once per host in the common case.

use crate::error::LabError;
use crate::host::LabHost;
use crate::logs;
use crate::run::{self, status_text};
use crate::sshd::listening_on_22;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// How long a lab may take to come up before `start` gives up. A lab comes up in well under
/// a second on a quiet machine, but an sshd has taken over 10 s to listen with the whole
/// suite running beside four builds on two cores (load average 25): the deadline is for a
/// lab that will never come up, not for a slow one.
pub(crate) const DEADLINE: Duration = Duration::from_secs(30);

/// Waits until every host answers `ssh true`; `sshd[i]` is the sshd process of `hosts[i]`.
pub(crate) fn wait(hosts: &[LabHost], sshd: &mut [Child]) -> Result<(), LabError> {
    let started = Instant::now();
    for (host, child) in hosts.iter().zip(sshd.iter_mut()) {
        while !listening_on_22(host.sshd_pid) {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(not_ready(
                    host,
                    started,
                    format!("sshd {}", status_text(&status)),
                    String::new(),
                ));
            }
            if started.elapsed() > DEADLINE {
                return Err(not_ready(
                    host,
                    started,
                    "sshd is not listening on port 22".into(),
                    String::new(),
                ));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let mut waiting: Vec<&LabHost> = hosts.iter().collect();
    loop {
        let attempts = waiting
            .iter()
            .map(|h| run::start(ssh_true(h), &format!("ssh to host {}", h.name)))
            .collect::<Result<Vec<_>, _>>()?;
        let mut failed = Vec::new();
        for (host, attempt) in waiting.into_iter().zip(attempts) {
            if let Err(e) = attempt.finish() {
                failed.push((host, e));
            }
        }
        let Some((host, last_error)) = failed.first() else {
            return Ok(());
        };
        if started.elapsed() > DEADLINE {
            let stderr = match last_error {
                LabError::Command { stderr, .. } => stderr.clone(),
                other => other.to_string(),
            };
            return Err(not_ready(
                host,
                started,
                "`ssh true` keeps failing".into(),
                stderr,
            ));
        }
        waiting = failed.into_iter().map(|(h, _)| h).collect();
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn ssh_true(host: &LabHost) -> Command {
    let argv = host.ssh_argv("true");
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]);
    cmd
}

fn not_ready(host: &LabHost, started: Instant, reason: String, ssh_stderr: String) -> LabError {
    LabError::NotReady {
        host: host.name.clone(),
        waited: started.elapsed(),
        reason,
        ssh_stderr,
        sshd_log: logs::tail(&host.sshd_log()),
    }
}
