//! The DNS answer probe: one query to a chosen server (no resolver, no cache, so the answer
//! is that server's own), over UDP with a TCP retry when truncated. Messages are built and
//! read with hickory-proto, the same crate and version the traffic crate uses.

use crate::outcome::{short, Outcome};
use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A question for one server and what its answer must be.
#[derive(Debug, Clone)]
pub struct DnsProbe {
    /// The name asked.
    pub name: String,
    /// The record type.
    pub record: RecordType,
    /// The server asked.
    pub server: SocketAddr,
    /// The answer must be exactly these values (any order); empty: any non-empty answer.
    pub expect: Vec<String>,
    /// Highest acceptable TTL.
    pub max_ttl: Option<u32>,
}

/// One answer: its values and their smallest TTL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The response code.
    pub code: String,
    /// Record values of the asked type, normalized (no trailing dot).
    pub values: Vec<String>,
    /// The smallest TTL among them.
    pub ttl: Option<u32>,
}

impl DnsProbe {
    /// Builds a probe; `server` is "ADDRESS" or "ADDRESS:PORT", `record` a type name.
    pub fn new(
        name: &str,
        record: &str,
        server: &str,
        expect: Vec<String>,
        max_ttl: Option<u32>,
    ) -> Result<Self, String> {
        let record = RecordType::from_str(&record.to_ascii_uppercase()).map_err(|_| {
            format!("`{record}` is not a DNS record type (A, AAAA, CNAME, TXT, MX, NS...)")
        })?;
        let server = parse_server(server)?;
        Ok(DnsProbe {
            name: name.to_string(),
            record,
            server,
            expect,
            max_ttl,
        })
    }

    /// Asks the server and judges the answer.
    pub async fn run(&self) -> Outcome {
        let started = Instant::now();
        let answer = match query(&self.name, self.record, self.server).await {
            Ok(a) => a,
            Err(e) => return Outcome::fail(started.elapsed(), "", e),
        };
        let latency = started.elapsed();
        let ttl = answer.ttl.map_or(String::new(), |t| format!(" TTL {t}"));
        let summary = format!(
            "{} {} at {}: {} [{}]{ttl} in {}",
            self.name,
            self.record,
            self.server,
            answer.code,
            answer.values.join(", "),
            short(latency)
        );
        let mut failures = Vec::new();
        if answer.code != "NOERROR" {
            failures.push(format!("the server answered {}", answer.code));
        } else if self.expect.is_empty() && answer.values.is_empty() {
            failures.push(format!("no {} record", self.record));
        }
        if !self.expect.is_empty() {
            let mut want: Vec<String> = self.expect.iter().map(|v| normalize(v)).collect();
            let mut got = answer.values.clone();
            want.sort();
            got.sort();
            if want != got {
                failures.push(format!(
                    "expected [{}], got [{}]",
                    want.join(", "),
                    got.join(", ")
                ));
            }
        }
        if let (Some(max), Some(ttl)) = (self.max_ttl, answer.ttl) {
            if ttl > max {
                failures.push(format!("TTL {ttl} s is above {max} s"));
            }
        }
        Outcome::judged(latency, summary, failures)
    }
}

fn parse_server(server: &str) -> Result<SocketAddr, String> {
    let s = server.trim();
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    if let Ok(ip) = s
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
    {
        return Ok(SocketAddr::new(ip, 53));
    }
    Err(format!(
        "DNS server `{server}` must be an IP address, optionally with a port (`198.51.100.53:53`)"
    ))
}

fn normalize(v: &str) -> String {
    v.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// Asks `server` for `name`/`record` once: UDP, then TCP if the answer was truncated.
pub async fn query(name: &str, record: RecordType, server: SocketAddr) -> Result<Answer, String> {
    let qname = Name::from_str(name).map_err(|e| format!("`{name}` is not a DNS name: {e}"))?;
    let mut msg = Message::new();
    let id = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
        & 0xffff) as u16;
    msg.set_id(id)
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(true)
        .add_query(Query::query(qname, record));
    let bytes = msg
        .to_vec()
        .map_err(|e| format!("cannot encode the query: {e}"))?;
    let reply = udp(&bytes, server, id).await?;
    let reply = if reply.truncated() {
        tcp(&bytes, server).await?
    } else {
        reply
    };
    let mut values = Vec::new();
    let mut ttl: Option<u32> = None;
    for r in reply.answers().iter().filter(|r| r.record_type() == record) {
        values.push(normalize(&r.data().to_string()));
        ttl = Some(ttl.map_or(r.ttl(), |t| t.min(r.ttl())));
    }
    let code = match u16::from(reply.response_code()) {
        0 => "NOERROR".to_string(),
        1 => "FORMERR".to_string(),
        2 => "SERVFAIL".to_string(),
        3 => "NXDOMAIN".to_string(),
        4 => "NOTIMP".to_string(),
        5 => "REFUSED".to_string(),
        9 => "NOTAUTH".to_string(),
        n => format!("RCODE {n} ({})", reply.response_code()),
    };
    Ok(Answer { code, values, ttl })
}

async fn udp(query: &[u8], server: SocketAddr, id: u16) -> Result<Message, String> {
    let bind: SocketAddr = if server.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let sock = tokio::net::UdpSocket::bind(bind)
        .await
        .map_err(|e| format!("cannot open a UDP socket: {e}"))?;
    sock.connect(server)
        .await
        .map_err(|e| format!("DNS server {server}: {e}"))?;
    sock.send(query)
        .await
        .map_err(|e| format!("DNS server {server}: {e}"))?;
    let mut buf = vec![0u8; 4096];
    loop {
        let n = sock
            .recv(&mut buf)
            .await
            .map_err(|e| format!("DNS server {server}: {e}"))?;
        let msg = Message::from_vec(&buf[..n])
            .map_err(|e| format!("DNS server {server} sent a malformed answer: {e}"))?;
        // A stray datagram for another query is ignored.
        if msg.id() == id {
            return Ok(msg);
        }
    }
}

async fn tcp(query: &[u8], server: SocketAddr) -> Result<Message, String> {
    let err = |e: std::io::Error| format!("DNS server {server} over TCP: {e}");
    let mut s = tokio::net::TcpStream::connect(server).await.map_err(err)?;
    let len = u16::try_from(query.len()).map_err(|_| "query too long".to_string())?;
    s.write_all(&len.to_be_bytes()).await.map_err(err)?;
    s.write_all(query).await.map_err(err)?;
    let mut len = [0u8; 2];
    s.read_exact(&mut len).await.map_err(err)?;
    let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
    s.read_exact(&mut buf).await.map_err(err)?;
    Message::from_vec(&buf).map_err(|e| format!("DNS server {server} sent a malformed answer: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_and_types() {
        assert_eq!(parse_server("198.51.100.53").unwrap().port(), 53);
        assert_eq!(parse_server("127.0.0.1:5353").unwrap().port(), 5353);
        assert!(parse_server("ns1.example.com").is_err());
        assert!(DnsProbe::new("a.example.", "AAAA", "127.0.0.1", vec![], None).is_ok());
        assert!(DnsProbe::new("a.example.", "BOGUS", "127.0.0.1", vec![], None).is_err());
        assert_eq!(normalize("App.Example.COM."), "app.example.com");
    }
}
