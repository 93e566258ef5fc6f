//! `[hosts.NAME]`: the machines a plan touches, reached over SSH or run locally.

use crate::limits;
use crate::problem::{Problem, Problems};
use crate::read::{Fields, Spanned};
use std::path::PathBuf;
use toml_span::value::Value;

/// A machine the plan runs commands on.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Host {
    /// The host's name in the plan (the key of `[hosts.NAME]`).
    #[serde(skip)]
    pub name: Spanned<String>,
    /// SSH destination as you would give it to `ssh`: a `Host` alias from your SSH config,
    /// `host`, `user@host`. Exactly one of `ssh` and `local` must be set.
    pub ssh: Option<String>,
    /// Run this host's commands on the machine running cutover, without SSH.
    #[serde(default)]
    pub local: bool,
    /// SSH port, when not the SSH config's (default 22).
    pub port: Option<u16>,
    /// SSH user, when not in the destination or SSH config.
    pub user: Option<String>,
    /// Private key file for this host (relative to the plan file's directory).
    pub identity: Option<PathBuf>,
    /// A jump host (`ProxyJump`), as `[user@]host[:port]` or an SSH config alias.
    pub jump: Option<String>,
    /// known_hosts file to verify this host's key against (default: your SSH config's).
    /// Host keys are always verified; `cutover check --pin-host-keys` adds a new host's key.
    pub known_hosts: Option<PathBuf>,
    /// The host key fingerprint you expect (`SHA256:...`, from `ssh-keygen -lf`); pinning
    /// refuses a key that does not match it.
    pub host_key: Option<String>,
    /// The address users' traffic reaches this host at (used by `{{ hosts.NAME.address }}`
    /// and by traffic switches); defaults to the SSH destination's host part.
    pub address: Option<String>,
    /// Run this host's commands through `sudo -n` (non-interactive).
    #[serde(default)]
    pub sudo: bool,
}

impl Host {
    /// The fields `[hosts.NAME]` accepts.
    pub const FIELDS: &'static [&'static str] = &[
        "ssh",
        "local",
        "port",
        "user",
        "identity",
        "jump",
        "known_hosts",
        "host_key",
        "address",
        "sudo",
    ];

    /// Reads `[hosts.NAME]`.
    pub fn read(name: Spanned<String>, value: &mut Value<'_>, p: &mut Problems) -> Option<Self> {
        let mut f = Fields::new(value, format!("host `{}`", name.value), Self::FIELDS, p)?;
        let ssh_span = f.value_span("ssh");
        // Judged on what is written: a value of the wrong type is reported by itself.
        let (has_ssh, has_local) = (f.has("ssh"), f.has("local"));
        let host_key_span = f.value_span("host_key");
        let host = Host {
            ssh: f.optional("ssh", p),
            local: f.optional("local", p).unwrap_or(false),
            port: f.int("port", &limits::PORT, p),
            user: f.optional("user", p),
            identity: f.optional::<String>("identity", p).map(PathBuf::from),
            jump: f.optional("jump", p),
            known_hosts: f.optional::<String>("known_hosts", p).map(PathBuf::from),
            host_key: f.optional("host_key", p),
            address: f.optional("address", p),
            sudo: f.optional("sudo", p).unwrap_or(false),
            name,
        };
        match (&host.ssh, host.local) {
            (None, false) if !has_ssh && !has_local => p.push(
                Problem::new(
                    host.name.span,
                    format!("host `{}` has neither `ssh` nor `local = true`", host.name.value),
                    "how is this host reached?",
                )
                .help("add `ssh = \"user@server\"` (or an alias from your SSH config), or `local = true`"),
            ),
            (Some(_), true) => p.push(
                Problem::new(
                    ssh_span.unwrap_or(host.name.span),
                    format!("host `{}` sets both `ssh` and `local = true`", host.name.value),
                    "conflicts with `local = true`",
                )
                .help("keep one: `ssh` for a remote host, `local = true` for this machine"),
            ),
            _ => {}
        }
        if let Some(fp) = &host.host_key {
            if !fp.starts_with("SHA256:") {
                p.push(
                    Problem::new(
                        host_key_span.unwrap_or(f.span()),
                        format!("`host_key` of host `{}` must be a SHA256 fingerprint", host.name.value),
                        "not a SHA256 fingerprint",
                    )
                    .help("copy it from `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on the host: it starts with `SHA256:`"),
                );
            }
        }
        f.finish(p);
        Some(host)
    }

    /// The address traffic reaches this host at.
    pub fn address(&self) -> String {
        if let Some(a) = &self.address {
            return a.clone();
        }
        match &self.ssh {
            Some(dest) => {
                let host = dest.rsplit('@').next().unwrap_or(dest);
                host.to_string()
            }
            None => "127.0.0.1".to_string(),
        }
    }
}
