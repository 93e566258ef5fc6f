//! Where a server that runs in a container is reached: by cutover's agent on the container's
//! host, and by another server (the other side of a replication). Read from `docker
//! inspect` of the container: the port it publishes for the server's port first (what
//! other hosts can use too), else the container's own address on its network (only its
//! host reaches that), else, with the host's network, the host's own loopback.
//!
//! The agent does not run inside the container: it is cutover's own binary, which an
//! image (Alpine's musl, a distroless image) need not be able to run.

use cutover_exec::Command;
use serde::Deserialize;
use std::collections::BTreeMap;

/// How the server in a container is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reach {
    /// The address the agent on the container's host connects to.
    pub address: String,
    /// The port it connects to (the published port, else the server's own).
    pub port: u16,
    /// How servers on other hosts reach it at `port`.
    pub from_other_hosts: FromOtherHosts,
}

/// How servers on other hosts reach a server in a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FromOtherHosts {
    /// At the host's own address (a port published on every address, or the host's
    /// network).
    HostAddress,
    /// At this address of the host (a port published on one address).
    Address(String),
    /// Not at all: the port is published on loopback only, or not at all.
    Unreachable {
        /// Why, for messages (`publishes no port for 6379/tcp`).
        why: String,
    },
}

/// Why a server in a container cannot be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoReach {
    /// No container of that name on the host.
    Missing {
        /// The host.
        host: String,
        /// The container's name.
        container: String,
    },
    /// The container is not running, or has no way in; the message says what to do.
    Closed(String),
}

impl NoReach {
    /// What kind of failure this is (it chooses the exit code).
    pub fn class(&self) -> cutover_exec::FailureClass {
        match self {
            NoReach::Missing { .. } => cutover_exec::FailureClass::MissingObject,
            NoReach::Closed(_) => cutover_exec::FailureClass::Precondition,
        }
    }
}

impl std::fmt::Display for NoReach {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoReach::Missing { host, container } => write!(
                f,
                "container `{container}` does not exist on {host}: check its name with `docker ps` (compose names containers PROJECT-SERVICE-1)"
            ),
            NoReach::Closed(why) => f.write_str(why),
        }
    }
}

/// True when Docker's message `detail` (of a failed [`inspect`]) says the container does
/// not exist.
pub fn is_missing(detail: &str) -> bool {
    detail.contains("No such container") || detail.contains("no such container")
}

/// `docker inspect` of one container (its JSON on stdout).
pub fn inspect(host: &str, container: &str) -> Command {
    Command::new(
        host,
        vec![
            "docker".into(),
            "inspect".into(),
            "--type".into(),
            "container".into(),
            "--".into(),
            container.into(),
        ],
    )
}

/// Where the server listening on `port` inside `container` (on `host`) is reached, from
/// `json`, the output of [`inspect`]. A container that is not running, or that has no way
/// in, is an error saying what to do.
pub fn reach(json: &str, host: &str, container: &str, port: u16) -> Result<Reach, NoReach> {
    let raw: Vec<Raw> = serde_json::from_str(json).map_err(|e| {
        NoReach::Closed(format!(
            "unexpected `docker inspect` output for container `{container}` on {host}: {e}"
        ))
    })?;
    let Some(c) = raw.into_iter().next() else {
        return Err(NoReach::Missing {
            host: host.into(),
            container: container.into(),
        });
    };
    if c.state.status != "running" {
        return Err(NoReach::Closed(format!(
            "container `{container}` on {host} is {}, not running: start it (`docker start {container}` or `docker compose up -d`) and run the step again",
            c.state.status
        )));
    }
    if c.host_config.and_then(|h| h.network_mode).as_deref() == Some("host") {
        return Ok(Reach {
            address: "127.0.0.1".into(),
            port,
            from_other_hosts: FromOtherHosts::HostAddress,
        });
    }
    let net = c.network_settings.unwrap_or_default();
    let key = format!("{port}/tcp");
    let bindings: Vec<RawBinding> = net
        .ports
        .unwrap_or_default()
        .remove(&key)
        .flatten()
        .unwrap_or_default();
    if let Some(r) = published(&bindings) {
        return Ok(r);
    }
    let loopback_only = !bindings.is_empty();
    let own = net
        .networks
        .unwrap_or_default()
        .into_values()
        .map(|n| n.ip_address)
        .find(|a| !a.is_empty());
    let Some(address) = own else {
        return Err(NoReach::Closed(format!(
            "container `{container}` on {host} publishes no port for {key} and has no network address: publish the port (compose `ports: [\"{port}:{port}\"]`) or attach it to a network"
        )));
    };
    let why = if loopback_only {
        format!("publishes {key} on loopback only")
    } else {
        format!("publishes no port for {key}")
    };
    Ok(Reach {
        address,
        port,
        from_other_hosts: FromOtherHosts::Unreachable { why },
    })
}

/// The best of the published bindings: on every address first (the agent then uses the
/// loopback), then on one address other hosts reach, then loopback only (the agent reaches
/// it; other hosts do not, so the container's own address is no worse for them).
fn published(bindings: &[RawBinding]) -> Option<Reach> {
    let port = |b: &RawBinding| b.host_port.parse::<u16>().ok();
    let everywhere = |ip: &str| ip.is_empty() || ip == "0.0.0.0" || ip == "::";
    let loopback = |ip: &str| ip.starts_with("127.") || ip == "::1";
    if let Some((b, p)) = bindings
        .iter()
        .find_map(|b| Some((b, port(b)?)).filter(|(b, _)| everywhere(&b.host_ip)))
    {
        let address = if b.host_ip == "::" {
            "::1"
        } else {
            "127.0.0.1"
        };
        return Some(Reach {
            address: address.into(),
            port: p,
            from_other_hosts: FromOtherHosts::HostAddress,
        });
    }
    bindings
        .iter()
        .filter(|b| !loopback(&b.host_ip))
        .find_map(|b| {
            Some(Reach {
                address: b.host_ip.clone(),
                port: port(b)?,
                from_other_hosts: FromOtherHosts::Address(b.host_ip.clone()),
            })
        })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Raw {
    state: RawState,
    #[serde(default)]
    host_config: Option<RawHostConfig>,
    #[serde(default)]
    network_settings: Option<RawNetwork>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawState {
    status: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawHostConfig {
    #[serde(default)]
    network_mode: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct RawNetwork {
    #[serde(default)]
    ports: Option<BTreeMap<String, Option<Vec<RawBinding>>>>,
    #[serde(default)]
    networks: Option<BTreeMap<String, RawAttachment>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawBinding {
    #[serde(default)]
    host_ip: String,
    host_port: String,
}

#[derive(Deserialize)]
struct RawAttachment {
    #[serde(rename = "IPAddress", default)]
    ip_address: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(status: &str, mode: &str, ports: &str, ip: &str) -> String {
        format!(
            r#"[{{"Name":"/shop-redis-1","State":{{"Status":"{status}"}},"HostConfig":{{"NetworkMode":"{mode}"}},"NetworkSettings":{{"Ports":{ports},"Networks":{{"shop_default":{{"IPAddress":"{ip}"}}}}}}}}]"#
        )
    }

    #[test]
    fn a_port_published_everywhere_is_reached_on_loopback_and_from_other_hosts() {
        let json = container(
            "running",
            "shop_default",
            r#"{"6379/tcp":[{"HostIp":"0.0.0.0","HostPort":"16379"},{"HostIp":"::","HostPort":"16379"}]}"#,
            "172.18.0.2",
        );
        assert_eq!(
            reach(&json, "old", "shop-redis-1", 6379).unwrap(),
            Reach {
                address: "127.0.0.1".into(),
                port: 16379,
                from_other_hosts: FromOtherHosts::HostAddress
            }
        );
    }

    #[test]
    fn a_port_published_on_one_address_is_reached_there() {
        let json = container(
            "running",
            "shop_default",
            r#"{"6379/tcp":[{"HostIp":"127.0.0.1","HostPort":"6380"},{"HostIp":"10.0.0.5","HostPort":"6379"}]}"#,
            "172.18.0.2",
        );
        let r = reach(&json, "old", "shop-redis-1", 6379).unwrap();
        assert_eq!((r.address.as_str(), r.port), ("10.0.0.5", 6379));
        assert_eq!(
            r.from_other_hosts,
            FromOtherHosts::Address("10.0.0.5".into())
        );
    }

    #[test]
    fn without_a_published_port_the_containers_own_address_serves_its_host_only() {
        let json = container(
            "running",
            "shop_default",
            r#"{"6379/tcp":null,"8080/tcp":[{"HostIp":"0.0.0.0","HostPort":"8080"}]}"#,
            "172.18.0.2",
        );
        let r = reach(&json, "old", "shop-redis-1", 6379).unwrap();
        assert_eq!((r.address.as_str(), r.port), ("172.18.0.2", 6379));
        assert_eq!(
            r.from_other_hosts,
            FromOtherHosts::Unreachable {
                why: "publishes no port for 6379/tcp".into()
            }
        );
        let json = container(
            "running",
            "shop_default",
            r#"{"6379/tcp":[{"HostIp":"127.0.0.1","HostPort":"6380"}]}"#,
            "172.18.0.2",
        );
        let r = reach(&json, "old", "shop-redis-1", 6379).unwrap();
        assert_eq!((r.address.as_str(), r.port), ("172.18.0.2", 6379));
        assert_eq!(
            r.from_other_hosts,
            FromOtherHosts::Unreachable {
                why: "publishes 6379/tcp on loopback only".into()
            }
        );
    }

    #[test]
    fn the_hosts_network_is_the_hosts_loopback() {
        let json = container("running", "host", "{}", "");
        let r = reach(&json, "old", "shop-redis-1", 6379).unwrap();
        assert_eq!((r.address.as_str(), r.port), ("127.0.0.1", 6379));
        assert_eq!(r.from_other_hosts, FromOtherHosts::HostAddress);
    }

    #[test]
    fn a_missing_stopped_or_unreachable_container_says_what_to_do() {
        assert_eq!(
            reach("[]", "old", "shop-redis-1", 6379).unwrap_err().to_string(),
            "container `shop-redis-1` does not exist on old: check its name with `docker ps` (compose names containers PROJECT-SERVICE-1)"
        );
        assert_eq!(
            reach(&container("exited", "shop_default", "{}", ""), "old", "shop-redis-1", 6379)
                .unwrap_err()
                .to_string(),
            "container `shop-redis-1` on old is exited, not running: start it (`docker start shop-redis-1` or `docker compose up -d`) and run the step again"
        );
        assert_eq!(
            reach(&container("running", "none", "{}", ""), "old", "shop-redis-1", 6379)
                .unwrap_err()
                .to_string(),
            "container `shop-redis-1` on old publishes no port for 6379/tcp and has no network address: publish the port (compose `ports: [\"6379:6379\"]`) or attach it to a network"
        );
        assert!(reach("not json", "old", "x", 1).is_err());
    }
}
