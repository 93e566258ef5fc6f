//! How the connection to a host gets there, resolved once per connection.
//!
//! Jump hosts (the plan's `jump`, or `ProxyJump` in the SSH config) are reached through a
//! `ProxyCommand` cutover builds itself: OpenSSH's own `-J` starts the hop's `ssh` with the
//! config file and nothing else, so each hop's key would be checked however the config says
//! (`StrictHostKeyChecking no`, a `KnownHostsCommand` that accepts any key). Here every hop
//! gets cutover's host-key options. A `ProxyCommand` written in the config is arbitrary: it
//! is left as it is, and the route says that the hosts it goes through are not checked.

use crate::error::ExecError;
use crate::quote;

/// Jump hosts at most on one route (a loop in the SSH config stops here).
const MAX_HOPS: usize = 8;

/// The options that make OpenSSH trust a host key only when a known_hosts file has it,
/// whatever the config says: `StrictHostKeyChecking` refuses unknown keys,
/// `KnownHostsCommand=none` drops a command that could vouch for any key, and
/// `VerifyHostKeyDNS=no` drops SSHFP records (trusted on the resolver's word).
pub(crate) fn host_key_options() -> &'static [&'static str] {
    static OPTIONS: std::sync::OnceLock<&'static [&'static str]> = std::sync::OnceLock::new();
    OPTIONS.get_or_init(|| {
        if knows_known_hosts_command() {
            &[
                "StrictHostKeyChecking=yes",
                "KnownHostsCommand=none",
                "VerifyHostKeyDNS=no",
            ]
        } else {
            &["StrictHostKeyChecking=yes", "VerifyHostKeyDNS=no"]
        }
    })
}

/// OpenSSH before 8.5 has no `KnownHostsCommand` (so nothing to override) and refuses the
/// option: asked once, by parsing it without connecting anywhere.
fn knows_known_hosts_command() -> bool {
    std::process::Command::new("ssh")
        .args([
            "-F",
            "/dev/null",
            "-o",
            "KnownHostsCommand=none",
            "-G",
            "localhost",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The way to a host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Route {
    /// The jump hosts, in the order they are reached (as written: `user@host:port` or an alias).
    pub hops: Vec<String>,
    /// A `ProxyCommand` from the SSH config on the way (the host's own, or its first jump
    /// host's): cutover cannot check the keys of the hosts that command goes through.
    pub unchecked_proxy: Option<String>,
    /// The `ProxyCommand` cutover passes to go through `hops`.
    pub(crate) proxy_command: Option<String>,
}

/// One jump host as `ProxyJump` writes it: `[ssh://][user@]host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hop {
    pub(crate) spec: String,
    pub(crate) user: Option<String>,
    pub(crate) host: String,
    pub(crate) port: Option<u16>,
}

/// Reads a `ProxyJump` value: hops separated by commas, first reached first.
pub(crate) fn parse_jumps(value: &str) -> Result<Vec<Hop>, String> {
    value.split(',').map(|s| parse_hop(s.trim())).collect()
}

fn parse_hop(spec: &str) -> Result<Hop, String> {
    let bad = |why: &str| format!("jump host `{spec}`: {why} (expected [user@]host[:port])");
    let rest = spec.strip_prefix("ssh://").unwrap_or(spec);
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (user, hostport) = match rest.rsplit_once('@') {
        Some((u, h)) if !u.is_empty() => (Some(u.to_string()), h),
        Some(_) => return Err(bad("empty user")),
        None => (None, rest),
    };
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or_else(|| bad("no closing `]`"))?;
        match after {
            "" => (host, None),
            p => (
                host,
                Some(p.strip_prefix(':').ok_or_else(|| bad("text after `]`"))?),
            ),
        }
    } else {
        match hostport.split_once(':') {
            // More than one colon: a bare IPv6 address, no port.
            Some((h, p)) if !p.contains(':') => (h, Some(p)),
            _ => (hostport, None),
        }
    };
    if host.is_empty() || host.starts_with('-') || host.contains(char::is_whitespace) {
        return Err(bad("not a host name"));
    }
    let port = match port {
        Some(p) => Some(
            p.parse::<u16>()
                .map_err(|_| bad("the port is not a number"))?,
        ),
        None => None,
    };
    Ok(Hop {
        spec: spec.to_string(),
        user,
        host: host.to_string(),
        port,
    })
}

/// Where the SSH config sends a connection before it reaches its host.
pub(crate) enum ConfiguredProxy {
    /// Straight there.
    None,
    /// Through these jump hosts (`ProxyJump`).
    Jumps(String),
    /// Through an arbitrary command (`ProxyCommand`).
    Command(String),
}

/// Reads `ssh -G` output's proxy settings.
pub(crate) fn configured_proxy(resolved: &[(String, String)]) -> ConfiguredProxy {
    let get = |k: &str| {
        resolved
            .iter()
            .find(|(key, v)| key == k && v != "none")
            .map(|(_, v)| v.clone())
    };
    match (get("proxyjump"), get("proxycommand")) {
        (Some(j), _) => ConfiguredProxy::Jumps(j),
        (None, Some(c)) => ConfiguredProxy::Command(c),
        (None, None) => ConfiguredProxy::None,
    }
}

/// Prepends `more` (the way to the current first hop) to `chain`, refusing loops.
pub(crate) fn extend_chain(chain: Vec<Hop>, more: Vec<Hop>) -> Result<Vec<Hop>, String> {
    if chain.len() + more.len() > MAX_HOPS {
        let names: Vec<&str> = more.iter().chain(&chain).map(|h| h.spec.as_str()).collect();
        return Err(format!(
            "more than {MAX_HOPS} jump hosts ({}): is there a loop of ProxyJump in the SSH config?",
            names.join(" -> ")
        ));
    }
    Ok(more.into_iter().chain(chain).collect())
}

/// The route through `chain` (first reached first). `base` are the options every hop's
/// `ssh` gets (config file, timeouts), besides its user, port and the host-key options.
pub(crate) fn route_through(
    chain: &[Hop],
    base: &[String],
    unchecked_proxy: Option<String>,
) -> Route {
    let mut proxy: Option<String> = None;
    for hop in chain {
        proxy = Some(hop_command(hop, base, proxy.as_deref()));
    }
    Route {
        hops: chain.iter().map(|h| h.spec.clone()).collect(),
        unchecked_proxy,
        proxy_command: proxy,
    }
}

/// A `ProxyCommand` value that connects to the next host (`%h`, `%p`, filled in by the
/// `ssh` that runs it) through `hop`, itself reached through `via`.
fn hop_command(hop: &Hop, base: &[String], via: Option<&str>) -> String {
    let mut argv: Vec<String> = vec!["ssh".into()];
    argv.extend(base.iter().cloned());
    if let Some(user) = &hop.user {
        argv.extend(["-l".into(), user.clone()]);
    }
    if let Some(port) = hop.port {
        argv.extend(["-p".into(), port.to_string()]);
    }
    for opt in host_key_options() {
        argv.extend(["-o".into(), (*opt).into()]);
    }
    // Never through a multiplexed connection to the hop that someone else (the user's own
    // `ssh`, with laxer options) may have opened.
    argv.extend(["-o".into(), "ControlMaster=no".into()]);
    argv.extend(["-o".into(), "ControlPath=none".into()]);
    if let Some(via) = via {
        argv.extend(["-o".into(), format!("ProxyCommand={via}")]);
    }
    // `ssh` expands %-tokens in a ProxyCommand: every literal `%` is doubled, so that only
    // the forward's own tokens are filled in (by the `ssh` one level up).
    let mut words: Vec<String> = argv.iter().map(|w| w.replace('%', "%%")).collect();
    words.extend(["-W".into(), "[%h]:%p".into(), "--".into()]);
    words.push(hop.host.replace('%', "%%"));
    quote::join(&words)
}

/// `ExecError` for a route that cannot be worked out.
pub(crate) fn route_error(host: &str, problem: String) -> ExecError {
    ExecError::Route {
        host: host.to_string(),
        problem,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hop(spec: &str) -> Hop {
        parse_hop(spec).unwrap()
    }

    #[test]
    fn reads_proxyjump_values() {
        let h = hop("deploy@bastion.example.com:2222");
        assert_eq!(
            (h.user.as_deref(), h.host.as_str(), h.port),
            (Some("deploy"), "bastion.example.com", Some(2222))
        );
        let h = hop("ssh://[2001:db8::1]:22");
        assert_eq!((h.host.as_str(), h.port), ("2001:db8::1", Some(22)));
        assert_eq!(hop("2001:db8::1").host, "2001:db8::1");
        assert_eq!(hop("gw").port, None);
        let chain = parse_jumps("a, b@c:1").unwrap();
        assert_eq!(chain.len(), 2);
        assert!(parse_jumps("-oProxyCommand=x").is_err());
        assert!(parse_jumps("a:port").is_err());
        assert!(parse_jumps("@a").is_err());
    }

    #[test]
    fn every_hop_gets_the_host_key_options_and_tokens_stay_for_the_right_ssh() {
        let base = vec!["-F".to_string(), "/etc/cut%over.conf".to_string()];
        let route = route_through(&[hop("first"), hop("u@second:2200")], &base, None);
        let outer = route.proxy_command.unwrap();
        assert!(outer.starts_with("ssh -F /etc/cut%%over.conf -l u -p 2200 -o StrictHostKeyChecking=yes -o KnownHostsCommand=none -o VerifyHostKeyDNS=no -o ControlMaster=no -o ControlPath=none -o 'ProxyCommand=ssh -F /etc/cut%%%%over.conf -o StrictHostKeyChecking=yes"), "{outer}");
        // The inner forward's tokens survive one expansion; the outer ones are for the final ssh.
        assert!(
            outer.ends_with(r"-W '\''[%%h]:%%p'\'' -- first' -W '[%h]:%p' -- second"),
            "{outer}"
        );
        assert_eq!(route.hops, ["first", "u@second:2200"]);
    }

    #[test]
    fn this_machines_ssh_gets_every_host_key_option() {
        // Debian 12's OpenSSH 9.2 knows KnownHostsCommand.
        assert!(host_key_options().contains(&"KnownHostsCommand=none"));
    }

    #[test]
    fn a_proxyjump_loop_is_refused() {
        let mut chain = vec![hop("a")];
        let mut err = None;
        for _ in 0..10 {
            match extend_chain(chain.clone(), vec![hop("a")]) {
                Ok(c) => chain = c,
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
        }
        assert!(err.unwrap().contains("loop of ProxyJump"));
    }
}
