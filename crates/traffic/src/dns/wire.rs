//! DNS on the wire: non-recursive queries to one server (UDP, TCP when truncated) and TCP
//! exchanges for updates. Built on hickory-proto's message types only: the transport is a few
//! lines of tokio, so every timeout and error says which server and what happened.

use super::{normalize, DnsError, RecordType};
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType as HRecordType};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// The answer of one server to one query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The response code.
    pub rcode: ResponseCode,
    /// Whether the server answered authoritatively (AA bit).
    pub authoritative: bool,
    /// Matching answer records: (type, ttl, value). CNAME targets and names normalised.
    pub records: Vec<(HRecordType, u32, String)>,
}

impl Answer {
    /// The values and smallest TTL of records of type `rtype`, values sorted.
    pub fn values(&self, rtype: HRecordType) -> (Vec<String>, Option<u32>) {
        let mut v: Vec<String> = self
            .records
            .iter()
            .filter(|r| r.0 == rtype)
            .map(|r| r.2.clone())
            .collect();
        v.sort();
        v.dedup();
        let ttl = self
            .records
            .iter()
            .filter(|r| r.0 == rtype)
            .map(|r| r.1)
            .min();
        (v, ttl)
    }
}

/// hickory's type for ours.
pub fn htype(t: RecordType) -> HRecordType {
    match t {
        RecordType::A => HRecordType::A,
        RecordType::Aaaa => HRecordType::AAAA,
        RecordType::Cname => HRecordType::CNAME,
        RecordType::Txt => HRecordType::TXT,
        RecordType::Mx => HRecordType::MX,
        RecordType::Ns => HRecordType::NS,
    }
}

/// A fully qualified hickory name for `name`.
pub fn fqdn(name: &str) -> Result<Name, DnsError> {
    Name::from_ascii(format!("{}.", normalize(name)))
        .map_err(|e| DnsError::Invalid(format!("`{name}` is not a valid DNS name: {e}")))
}

/// Asks `server` for `name`/`rtype` without recursion.
pub async fn query(
    server: SocketAddr,
    name: &str,
    rtype: HRecordType,
    timeout: Duration,
) -> Result<Answer, DnsError> {
    let mut msg = Message::new();
    msg.set_id(rand_id())
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(false);
    msg.add_query(Query::query(fqdn(name)?, rtype));
    let bytes = msg.to_vec().map_err(|e| DnsError::Invalid(e.to_string()))?;
    let reply = udp(server, &bytes, msg.id(), timeout).await?;
    let reply = if reply.truncated() {
        Message::from_vec(&tcp(server, &bytes, timeout).await?).map_err(|e| bad_reply(server, e))?
    } else {
        reply
    };
    // The NS records of a delegation inside the zone come back as a referral (in the
    // authority section, not authoritative): they are what the zone holds for that name.
    let asked = fqdn(name)?;
    let referral = rtype == HRecordType::NS
        && reply.answers().is_empty()
        && reply
            .name_servers()
            .iter()
            .any(|r| r.record_type() == HRecordType::NS && r.name() == &asked);
    let records = if referral {
        reply.name_servers()
    } else {
        reply.answers()
    };
    Ok(Answer {
        rcode: reply.response_code(),
        authoritative: reply.authoritative() || referral,
        records: records
            .iter()
            .filter(|r| !referral || r.name() == &asked)
            .filter_map(|r| {
                let value = match r.data() {
                    RData::A(a) => a.0.to_string(),
                    RData::AAAA(a) => a.0.to_string(),
                    RData::CNAME(c) => normalize(&c.0.to_ascii()),
                    RData::NS(n) => normalize(&n.0.to_ascii()),
                    RData::MX(m) => {
                        format!("{} {}", m.preference(), normalize(&m.exchange().to_ascii()))
                    }
                    // A value is one string; a TXT record longer than 255 bytes travels as
                    // several, which are one value again here.
                    RData::TXT(t) => t
                        .txt_data()
                        .iter()
                        .map(|b| String::from_utf8_lossy(b))
                        .collect::<String>(),
                    _ => return None,
                };
                Some((r.record_type(), r.ttl(), value))
            })
            .collect(),
    })
}

async fn udp(
    server: SocketAddr,
    bytes: &[u8],
    id: u16,
    timeout: Duration,
) -> Result<Message, DnsError> {
    let bind: SocketAddr = if server.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let io = |e: std::io::Error| unreachable_err(server, e.to_string());
    let sock = UdpSocket::bind(bind).await.map_err(io)?;
    sock.connect(server).await.map_err(io)?;
    sock.send(bytes).await.map_err(io)?;
    let mut buf = vec![0u8; 4096];
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let n = tokio::time::timeout_at(deadline, sock.recv(&mut buf))
            .await
            .map_err(|_| unreachable_err(server, format!("no answer within {timeout:?}")))?
            .map_err(io)?;
        let reply = Message::from_vec(&buf[..n]).map_err(|e| bad_reply(server, e))?;
        // A late answer to an earlier query on a reused port is not ours.
        if reply.id() == id {
            return Ok(reply);
        }
    }
}

/// Sends `bytes` over TCP (length-prefixed) and returns the raw reply.
pub async fn tcp(server: SocketAddr, bytes: &[u8], timeout: Duration) -> Result<Vec<u8>, DnsError> {
    let work = async {
        let mut s = TcpStream::connect(server).await?;
        let len = u16::try_from(bytes.len()).map_err(std::io::Error::other)?;
        let mut framed = len.to_be_bytes().to_vec();
        framed.extend_from_slice(bytes);
        s.write_all(&framed).await?;
        let mut len = [0u8; 2];
        s.read_exact(&mut len).await?;
        let mut reply = vec![0u8; u16::from_be_bytes(len) as usize];
        s.read_exact(&mut reply).await?;
        Ok::<_, std::io::Error>(reply)
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(Ok(reply)) => Ok(reply),
        Ok(Err(e)) => Err(unreachable_err(server, format!("TCP: {e}"))),
        Err(_) => Err(unreachable_err(
            server,
            format!("no answer over TCP within {timeout:?}"),
        )),
    }
}

fn unreachable_err(server: SocketAddr, message: String) -> DnsError {
    DnsError::Unreachable {
        server: format!("DNS server {server}"),
        message: format!("{message}; check that it runs and that this machine may reach it"),
    }
}

fn bad_reply(server: SocketAddr, e: impl std::fmt::Display) -> DnsError {
    DnsError::Unreachable {
        server: format!("DNS server {server}"),
        message: format!("answered something that is not a DNS message: {e}"),
    }
}

/// A message id; not security-relevant here (TSIG protects updates), only distinct.
pub(crate) fn rand_id() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish() as u16
}
