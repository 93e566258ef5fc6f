//! What `ssh -G` says about a host: its settings, and the way to it (jump hosts, followed
//! through the first hop's own config, or a ProxyCommand) that [`Route`] is built from.

use super::route::{self, ConfiguredProxy, Route};
use super::{frame, ssh, SshTarget};
use crate::error::{ConnectFailure, ExecError};
use std::ffi::OsString;
use std::process::Stdio;

impl SshTarget {
    /// The configuration `ssh -G` resolves for this host (hostname, port, known_hosts files).
    pub async fn resolved_config(&self) -> Result<Vec<(String, String)>, ExecError> {
        let mut args = self.common_args();
        args.extend(["-G".into(), "--".into(), self.destination.clone().into()]);
        self.ssh_g(args).await
    }

    /// The way to the host: through the plan's jump hosts, else through what the SSH config
    /// says; the first hop's own config is followed too (a jump host behind a jump host).
    pub async fn route(&self) -> Result<Route, ExecError> {
        let fail = |problem: String| route::route_error(&self.name, problem);
        let (mut chain, mut unchecked) = match &self.jump {
            Some(jump) => (route::parse_jumps(jump).map_err(fail)?, None),
            None => match route::configured_proxy(&self.resolved_config().await?) {
                ConfiguredProxy::None => (Vec::new(), None),
                ConfiguredProxy::Jumps(j) => (route::parse_jumps(&j).map_err(fail)?, None),
                ConfiguredProxy::Command(c) => (Vec::new(), Some(c)),
            },
        };
        while let Some(first) = chain.first() {
            let mut args = self.hop_base_args();
            if let Some(user) = &first.user {
                args.extend(["-l".into(), user.into()]);
            }
            if let Some(port) = first.port {
                args.extend(["-p".into(), port.to_string().into()]);
            }
            args.extend(["-G".into(), "--".into(), first.host.clone().into()]);
            match route::configured_proxy(&self.ssh_g(args).await?) {
                ConfiguredProxy::None => break,
                ConfiguredProxy::Command(c) => {
                    unchecked = Some(c);
                    break;
                }
                ConfiguredProxy::Jumps(j) => {
                    let more = route::parse_jumps(&j).map_err(fail)?;
                    chain = route::extend_chain(chain, more).map_err(fail)?;
                }
            }
        }
        let hops_log = self.control_dir.join(self.log_name("hops.log"));
        let base: Vec<String> = self
            .hop_base_args()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .chain([
                "-E".into(),
                hops_log.display().to_string(),
                "-o".into(),
                "BatchMode=yes".into(),
                "-o".into(),
                format!("ConnectTimeout={}", self.connect_timeout),
                "-o".into(),
                "LogLevel=ERROR".into(),
            ])
            .collect();
        Ok(route::route_through(&chain, &base, unchecked))
    }

    /// What a jump host's `ssh` is given besides its own user and port: the same config file
    /// (so aliases resolve as for the host), as OpenSSH's `-J` does.
    fn hop_base_args(&self) -> Vec<OsString> {
        match &self.config {
            Some(cfg) => vec!["-F".into(), cfg.into()],
            None => Vec::new(),
        }
    }

    async fn ssh_g(&self, args: Vec<OsString>) -> Result<Vec<(String, String)>, ExecError> {
        let out = ssh()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|source| ExecError::Spawn {
                host: self.name.clone(),
                program: "ssh -G".into(),
                source,
            })?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            return Err(ExecError::Connect {
                host: self.name.clone(),
                failure: ConnectFailure::classify(&stderr),
                stderr: frame(&stderr),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect())
    }
}
