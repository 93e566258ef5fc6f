//! The zone's authoritative servers, found from its NS records, and what each of them answers:
//! the TTLs `dns.lower_ttl` must wait out, and the propagation `dns.verify` waits for.

use super::wire::{self, htype};
use super::{DnsError, RecordKey};
use futures_util::future::join_all;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType as HRecordType;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// One server to ask: its name (NS target or as configured) and address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// `ns1.example.com`, or the address for servers listed by address.
    pub name: String,
    /// Where it answers.
    pub addr: SocketAddr,
}

impl std::fmt::Display for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.name == self.addr.ip().to_string() {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{} ({})", self.name, self.addr)
        }
    }
}

/// The authoritative servers of `zone`: its NS records asked of `bootstrap` (the provider's
/// primary; else the first resolver of /etc/resolv.conf), each name's address asked of the
/// same server (glue) or the system resolver. Servers answer on `bootstrap`'s port.
pub async fn servers(
    zone: &str,
    bootstrap: Option<SocketAddr>,
    timeout: Duration,
) -> Result<Vec<Server>, DnsError> {
    let boot = match bootstrap {
        Some(b) => b,
        None => system_resolver()?,
    };
    let ns = wire::query(boot, zone, HRecordType::NS, timeout).await?;
    if ns.rcode != ResponseCode::NoError {
        return Err(DnsError::Refused {
            server: format!("DNS server {boot}"),
            message: format!("has no NS records for zone {zone} ({})", ns.rcode),
        });
    }
    let (names, _) = ns.values(HRecordType::NS);
    if names.is_empty() {
        return Err(DnsError::Refused {
            server: format!("DNS server {boot}"),
            message: format!("answered no NS records for zone {zone}: is the zone served there?"),
        });
    }
    let mut out = Vec::new();
    for name in names {
        let glue = wire::query(boot, &name, HRecordType::A, timeout).await?;
        let (addrs, _) = glue.values(HRecordType::A);
        let addrs: Vec<SocketAddr> = if addrs.is_empty() {
            tokio::net::lookup_host((name.as_str(), boot.port()))
                .await
                .map_err(|e| DnsError::Unreachable {
                    server: format!("name server {name}"),
                    message: format!("its address cannot be found ({e})"),
                })?
                .collect()
        } else {
            addrs
                .iter()
                .filter_map(|a| a.parse().ok())
                .map(|ip: std::net::IpAddr| SocketAddr::new(ip, boot.port()))
                .collect()
        };
        for addr in addrs {
            out.push(Server {
                name: name.clone(),
                addr,
            });
        }
    }
    Ok(out)
}

/// The first `nameserver` of /etc/resolv.conf, port 53.
pub fn system_resolver() -> Result<SocketAddr, DnsError> {
    let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|a| a.trim().parse::<std::net::IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .next()
        .ok_or_else(|| {
            DnsError::Invalid(
                "no resolver in /etc/resolv.conf to find the zone's name servers; list them in the provider's `nameservers`".into(),
            )
        })
}

/// What one server answers for one record set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The values, sorted.
    pub values: Vec<String>,
    /// The TTL it hands out (`None`: no such record).
    pub ttl: Option<u32>,
}

/// Asks `server` for `key`.
pub async fn ask(server: &Server, key: &RecordKey, timeout: Duration) -> Result<Seen, DnsError> {
    let a = wire::query(server.addr, &key.name, htype(key.rtype), timeout).await?;
    let (values, ttl) = a.values(htype(key.rtype));
    Ok(Seen { values, ttl })
}

/// When each server first answered `want` for every key: the time since `since`.
#[derive(Debug, Clone)]
pub struct Consistency {
    /// The server.
    pub server: Server,
    /// Time from `since` to its first consistent answer; `None`: not consistent by the
    /// deadline (with what it answered last).
    pub after: Result<Duration, String>,
}

/// Polls every server every `interval` until each answers `want` for every key, or until
/// `deadline`. Servers are polled in parallel, each on its own clock, so each server's time
/// to consistency is measured to within one interval.
pub async fn wait_consistent(
    servers: &[Server],
    want: &[(RecordKey, Vec<String>)],
    since: Instant,
    interval: Duration,
    deadline: Instant,
) -> Vec<Consistency> {
    let polls = servers.iter().map(|s| async move {
        let mut last = String::from("no answer yet");
        loop {
            let mut all = true;
            for (key, values) in want {
                match ask(
                    s,
                    key,
                    (interval * 5).clamp(Duration::from_millis(50), Duration::from_millis(500)),
                )
                .await
                {
                    Ok(seen) if &seen.values == values => {}
                    Ok(seen) => {
                        all = false;
                        last = format!("{key}: {}", show(&seen.values));
                    }
                    Err(e) => {
                        all = false;
                        last = e.to_string();
                    }
                }
            }
            if all {
                return Consistency {
                    server: s.clone(),
                    after: Ok(since.elapsed()),
                };
            }
            if Instant::now() >= deadline {
                return Consistency {
                    server: s.clone(),
                    after: Err(last),
                };
            }
            tokio::time::sleep(interval).await;
        }
    });
    join_all(polls).await
}

fn show(values: &[String]) -> String {
    if values.is_empty() {
        "(no record)".into()
    } else {
        values.join(",")
    }
}
