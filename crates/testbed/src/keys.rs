//! The lab's SSH trust: a client key authorized on every host, one host key per host, and the
//! client files (`known_hosts`, `ssh_config`) that pin those host keys, so tests exercise strict
//! host key checking exactly as production runs should.

use crate::error::LabError;
use crate::run::{self, Pending};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Starts generating an ed25519 key without passphrase at `path` (and `path.pub`).
pub(crate) fn start_keygen(path: &Path, comment: &str) -> Result<Pending, LabError> {
    let mut cmd = Command::new("ssh-keygen");
    cmd.args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(path);
    run::start(cmd, &format!("generate key {comment}"))
}

/// Starts computing the SHA256 fingerprint of public key `pub_path`; read it with
/// [`parse_fingerprint`].
pub(crate) fn start_fingerprint(pub_path: &Path) -> Result<Pending, LabError> {
    let mut cmd = Command::new("ssh-keygen");
    cmd.arg("-l").arg("-f").arg(pub_path);
    run::start(cmd, "fingerprint host key")
}

/// The `SHA256:...` field of `ssh-keygen -l` output ("256 SHA256:xyz comment (ED25519)").
pub(crate) fn parse_fingerprint(listing: &[u8]) -> Result<String, LabError> {
    let text = String::from_utf8_lossy(listing);
    text.split_whitespace()
        .find(|w| w.starts_with("SHA256:"))
        .map(str::to_string)
        .ok_or_else(|| {
            LabError::Invalid(format!(
                "no SHA256 fingerprint in ssh-keygen output {text:?}"
            ))
        })
}

/// The "TYPE BASE64" part of a public key file, without its comment.
pub(crate) fn public_key_line(pub_path: &Path) -> Result<String, LabError> {
    let text = std::fs::read_to_string(pub_path)
        .map_err(|e| LabError::io("read public key", pub_path, e))?;
    let fields: Vec<&str> = text.split_whitespace().take(2).collect();
    match fields.as_slice() {
        [kind, key] => Ok(format!("{kind} {key}")),
        _ => Err(LabError::Invalid(format!(
            "{} is not an OpenSSH public key",
            pub_path.display()
        ))),
    }
}

/// What the client files need to know about one host.
pub(crate) struct KnownHost<'a> {
    pub(crate) name: &'a str,
    pub(crate) address: Ipv4Addr,
    pub(crate) key_line: String,
}

/// `known_hosts` text: each host key under the host's alias and its address, so `ssh old` and
/// `ssh 198.51.100.10` both verify it (no HostKeyAlias needed).
pub(crate) fn known_hosts_text(hosts: &[KnownHost]) -> String {
    hosts
        .iter()
        .map(|h| format!("{},{} {}\n", h.name, h.address, h.key_line))
        .collect()
}

/// Paths the `ssh_config` points at.
pub(crate) struct ClientFiles {
    pub(crate) identity: PathBuf,
    pub(crate) known_hosts: PathBuf,
}

/// `ssh_config` text: one block per host, matching its alias and its address. Strict and
/// non-interactive: an unknown or changed host key fails at once instead of prompting.
pub(crate) fn ssh_config_text(hosts: &[KnownHost], files: &ClientFiles) -> String {
    let mut out =
        String::from("# Written by cutover-testbed: the lab's hosts, with pinned host keys.\n");
    for h in hosts {
        out.push_str(&format!(
            "\nHost {name} {addr}\n  HostName {addr}\n  Port 22\n  User root\n  IdentityFile {id}\n  \
             IdentitiesOnly yes\n  UserKnownHostsFile {kh}\n  GlobalKnownHostsFile /dev/null\n  \
             StrictHostKeyChecking yes\n  BatchMode yes\n  ConnectTimeout 5\n",
            name = h.name,
            addr = h.address,
            id = files.identity.display(),
            kh = files.known_hosts.display(),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_taken_from_ssh_keygen_listing() {
        let fp = parse_fingerprint(b"256 SHA256:abc+/def lab-old (ED25519)\n").expect("parses");
        assert_eq!(fp, "SHA256:abc+/def");
        assert!(parse_fingerprint(b"garbage").is_err());
    }

    #[test]
    fn client_files_pin_each_host_under_alias_and_address() {
        let hosts = [KnownHost {
            name: "old",
            address: Ipv4Addr::new(198, 51, 100, 10),
            key_line: "ssh-ed25519 AAAA".into(),
        }];
        assert_eq!(
            known_hosts_text(&hosts),
            "old,198.51.100.10 ssh-ed25519 AAAA\n"
        );
        let files = ClientFiles {
            identity: "/l/id_ed25519".into(),
            known_hosts: "/l/known_hosts".into(),
        };
        let cfg = ssh_config_text(&hosts, &files);
        assert!(
            cfg.contains("Host old 198.51.100.10\n  HostName 198.51.100.10\n"),
            "{cfg}"
        );
        assert!(
            cfg.contains("StrictHostKeyChecking yes") && cfg.contains("BatchMode yes"),
            "{cfg}"
        );
        assert!(!cfg.contains("HostKeyAlias"), "{cfg}");
    }
}
