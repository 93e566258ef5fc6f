//! Recording a new host's key, only when asked (`cutover check --pin-host-keys`): the key is
//! read with `ssh-keyscan`, checked against the plan's `host_key` fingerprint when given, and
//! appended to the known_hosts file SSH uses for the host.

use cutover_exec::SshTarget;
use std::io::Write;
use tokio::process::Command;

/// Pins the key of `target`; returns its fingerprint.
pub async fn pin_host_key(target: &SshTarget, expected: Option<&str>) -> Result<String, String> {
    // ssh-keyscan connects straight from here: behind a jump host (the plan's or the SSH
    // config's) or a ProxyCommand, whatever answers at that address here is not the host.
    let route = target.route().await.map_err(|e| e.to_string())?;
    if target.jump.is_some() || !route.hops.is_empty() || route.unchecked_proxy.is_some() {
        return Err("cannot scan a host behind a jump host or ProxyCommand: add its key to known_hosts by hand (ssh-keyscan on the jump host)".into());
    }
    let config = target.resolved_config().await.map_err(|e| e.to_string())?;
    let get = |k: &str| {
        config
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    let hostname = get("hostname").ok_or("ssh -G did not name the host")?;
    let port = get("port").unwrap_or_else(|| "22".into());
    let alias = get("hostkeyalias").filter(|a| a != "none");
    let known_hosts = get("userknownhostsfile")
        .and_then(|v| v.split_whitespace().next().map(str::to_string))
        .ok_or("ssh -G did not name a known_hosts file")?;
    let known_hosts = match known_hosts.strip_prefix("~/") {
        Some(rest) => format!("{}/{rest}", std::env::var("HOME").unwrap_or_default()),
        None => known_hosts,
    };
    let scan = Command::new("ssh-keyscan")
        .args(["-T", "5", "-p", &port, &hostname])
        .output()
        .await
        .map_err(|e| format!("cannot run ssh-keyscan: {e}"))?;
    let lines: Vec<String> = String::from_utf8_lossy(&scan.stdout)
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    if lines.is_empty() {
        return Err(format!("ssh-keyscan got no key from {hostname}:{port}"));
    }
    let fingerprints = fingerprints(&lines).await?;
    if let Some(expected) = expected {
        if !fingerprints.iter().any(|f| f == expected) {
            return Err(format!(
                "HOST KEY MISMATCH: {hostname} presents {} but the plan expects {expected}; nothing was recorded",
                fingerprints.join(", ")
            ));
        }
    }
    let name = alias.unwrap_or_else(|| {
        if port == "22" {
            hostname.clone()
        } else {
            format!("[{hostname}]:{port}")
        }
    });
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&known_hosts)
        .map_err(|e| format!("cannot write {known_hosts}: {e}"))?;
    for line in &lines {
        let key = line.split_once(' ').map(|(_, k)| k).unwrap_or(line);
        writeln!(file, "{name} {key}").map_err(|e| format!("cannot write {known_hosts}: {e}"))?;
    }
    Ok(format!(
        "{} recorded in {known_hosts}",
        fingerprints.join(", ")
    ))
}

async fn fingerprints(lines: &[String]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for line in lines {
        let mut child = Command::new("ssh-keygen")
            .args(["-lf", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run ssh-keygen: {e}"))?;
        if let Some(mut stdin) = child.stdin.take() {
            use tokio::io::AsyncWriteExt;
            stdin
                .write_all(format!("{line}\n").as_bytes())
                .await
                .map_err(|e| e.to_string())?;
        }
        let o = child.wait_with_output().await.map_err(|e| e.to_string())?;
        if let Some(fp) = String::from_utf8_lossy(&o.stdout).split_whitespace().nth(1) {
            out.push(fp.to_string());
        }
    }
    Ok(out)
}
