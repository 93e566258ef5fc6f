//! The RFC 2136 provider: dynamic updates signed with TSIG, sent to the zone's primary. Works
//! with BIND, Knot, PowerDNS and most self-hosted DNS. Every change of a zone is one update
//! message (one serial), guarded by prerequisites that the record sets are still what was
//! read, so a concurrent edit makes the update fail instead of being overwritten.

use super::tsig::{self, TsigKey};
use super::wire::{self, fqdn, htype};
use super::{Correction, DnsError, DnsProvider, RecordKey, RecordSet, RecordType};
use async_trait::async_trait;
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode, UpdateMessage};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, MX, NS, TXT};
use hickory_proto::rr::{DNSClass, RData, Record, RecordType as HRecordType};
use std::net::SocketAddr;
use std::time::Duration;

/// Configuration of an RFC 2136 provider.
#[derive(Debug, Clone)]
pub struct Rfc2136Config {
    /// The primary that takes updates (`address:port`).
    pub server: SocketAddr,
    /// The zones it serves that the plan changes.
    pub zones: Vec<String>,
    /// The TSIG key; `None` sends unsigned updates (servers normally refuse them).
    pub key: Option<TsigKey>,
    /// How long to wait for an answer.
    pub timeout: Duration,
}

/// The provider.
pub struct Rfc2136 {
    cfg: Rfc2136Config,
}

impl Rfc2136 {
    /// A provider for `cfg`.
    pub fn new(cfg: Rfc2136Config) -> Self {
        Rfc2136 { cfg }
    }

    fn server_name(&self) -> String {
        format!("DNS server {}", self.cfg.server)
    }

    /// The update message for `changes` of `zone`.
    fn message(&self, zone: &str, changes: &[Correction]) -> Result<Message, DnsError> {
        let mut msg = Message::new();
        msg.set_id(wire::rand_id())
            .set_message_type(MessageType::Query)
            .set_op_code(OpCode::Update)
            .set_recursion_desired(false);
        let mut z = Query::new();
        z.set_name(fqdn(zone)?)
            .set_query_class(DNSClass::IN)
            .set_query_type(HRecordType::SOA);
        msg.add_zone(z);
        for c in changes {
            let name = fqdn(&c.before.key.name)?;
            let rtype = htype(c.before.key.rtype);
            if c.before.values.is_empty() {
                // A creation: the RRset does not exist (RFC 2136 2.4.3), and for a CNAME the
                // name holds nothing else (2.4.5), which a server would otherwise answer by
                // silently ignoring the CNAME (3.4.2.2).
                let mut absent = Record::update0(name.clone(), 0, rtype);
                absent.set_dns_class(DNSClass::NONE);
                msg.add_pre_requisite(absent);
                if c.before.key.rtype == RecordType::Cname {
                    let mut unused = Record::update0(name.clone(), 0, HRecordType::ANY);
                    unused.set_dns_class(DNSClass::NONE);
                    msg.add_pre_requisite(unused);
                }
            }
            // Prerequisite (RFC 2136 2.4.2): the RRset is exactly what we read.
            for r in records(&c.before, 0, DNSClass::IN)? {
                msg.add_pre_requisite(r);
            }
            // Delete the RRset (class ANY, empty rdata), then add the new one.
            let mut delete = Record::update0(name, 0, rtype);
            delete.set_dns_class(DNSClass::ANY);
            msg.add_update(delete);
            for r in records(&c.after, c.after.ttl, DNSClass::IN)? {
                msg.add_update(r);
            }
        }
        Ok(msg)
    }
}

/// A TXT value as the character-strings of one record: at most 255 bytes each, cut between
/// characters (RFC 1035 3.3.14).
fn txt_strings(v: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    for c in v.chars() {
        if out.last().is_some_and(|s| s.len() + c.len_utf8() > 255) {
            out.push(String::new());
        }
        if let Some(last) = out.last_mut() {
            last.push(c);
        }
    }
    out
}

/// The records of `set` with `ttl` and `class`.
fn records(set: &RecordSet, ttl: u32, class: DNSClass) -> Result<Vec<Record>, DnsError> {
    let name = fqdn(&set.key.name)?;
    set.values
        .iter()
        .map(|v| {
            let bad = |e: String| {
                DnsError::Invalid(format!("{}: value `{v}` is not valid: {e}", set.key))
            };
            let data = match set.key.rtype {
                RecordType::A => RData::A(A(v.parse().map_err(|e| bad(format!("{e}")))?)),
                RecordType::Aaaa => RData::AAAA(AAAA(v.parse().map_err(|e| bad(format!("{e}")))?)),
                RecordType::Cname => RData::CNAME(CNAME(fqdn(v)?)),
                RecordType::Ns => RData::NS(NS(fqdn(v)?)),
                RecordType::Mx => {
                    let (pref, host) = super::mx_parts(v).ok_or_else(|| {
                        bad("an MX value is `PREFERENCE HOST` (`10 mx.example.com`)".into())
                    })?;
                    RData::MX(MX::new(pref, fqdn(&host)?))
                }
                RecordType::Txt => RData::TXT(TXT::new(txt_strings(v))),
            };
            let mut r = Record::from_rdata(name.clone(), ttl, data);
            r.set_dns_class(class);
            Ok(r)
        })
        .collect()
}

#[async_trait]
impl DnsProvider for Rfc2136 {
    fn kind(&self) -> &'static str {
        "rfc2136"
    }

    fn zone_of(&self, name: &str) -> Option<String> {
        super::zone_containing(&self.cfg.zones, name)
    }

    fn bootstrap(&self) -> Option<SocketAddr> {
        Some(self.cfg.server)
    }

    async fn read(
        &self,
        zone: &str,
        keys: &[RecordKey],
    ) -> Result<Vec<Option<RecordSet>>, DnsError> {
        let mut out = Vec::new();
        for key in keys {
            let a = wire::query(
                self.cfg.server,
                &key.name,
                htype(key.rtype),
                self.cfg.timeout,
            )
            .await?;
            if !a.authoritative || matches!(a.rcode, ResponseCode::Refused | ResponseCode::NotAuth)
            {
                return Err(not_served(&self.server_name(), zone, a.rcode));
            }
            let (values, ttl) = a.values(htype(key.rtype));
            out.push(ttl.map(|ttl| RecordSet {
                key: key.clone(),
                ttl,
                values,
                proxied: None,
            }));
        }
        Ok(out)
    }

    async fn apply(&self, zone: &str, changes: &[Correction]) -> Result<(), DnsError> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut msg = self.message(zone, changes)?;
        let verifier = match &self.cfg.key {
            Some(key) => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs() as u32)
                    .unwrap_or(0);
                msg.finalize(&key.signer()?, now)
                    .map_err(|e| DnsError::Invalid(format!("cannot sign the update: {e}")))?
            }
            None => None,
        };
        let bytes = msg
            .to_vec()
            .map_err(|e| DnsError::Invalid(format!("cannot encode the update: {e}")))?;
        let raw = wire::tcp(self.cfg.server, &bytes, self.cfg.timeout)
            .await
            .map_err(|e| DnsError::Unknown {
                server: self.server_name(),
                zone: zone.to_string(),
                message: e.to_string(),
            })?;
        let reply = Message::from_vec(&raw).map_err(|e| DnsError::Unknown {
            server: self.server_name(),
            zone: zone.to_string(),
            message: format!("unreadable answer: {e}"),
        })?;
        if let (Some(key), Some(code)) = (&self.cfg.key, tsig::reply_error(&reply)) {
            if code != 0 {
                return Err(tsig::rejection(&self.server_name(), key, code));
            }
        }
        match reply.response_code() {
            ResponseCode::NoError => {}
            code => return Err(self.update_refused(zone, code)),
        }
        if let Some(mut verify) = verifier {
            verify(&raw).map_err(|e| DnsError::Refused {
                server: self.server_name(),
                message: format!(
                    "the answer to the update of zone {zone} failed TSIG verification ({e}); the update was probably applied: re-read the records"
                ),
            })?;
        }
        Ok(())
    }
}

impl Rfc2136 {
    fn update_refused(&self, zone: &str, code: ResponseCode) -> DnsError {
        let server = self.server_name();
        let message = match code {
            ResponseCode::NotAuth if self.cfg.key.is_none() => format!(
                "refused the unsigned update of zone {zone} (NOTAUTH): configure a TSIG key (`tsig_key`, `tsig_secret`)"
            ),
            ResponseCode::NotAuth | ResponseCode::NotZone => format!(
                "is not authoritative for zone {zone} ({code}): point `server` at the zone's primary, or fix `zones`"
            ),
            ResponseCode::Refused => format!(
                "refused the update of zone {zone} (REFUSED): the zone is not served there, or its update-policy does not grant this key, or (BIND) an MX or SRV record names a host without an address record in the zone: check the server's log"
            ),
            ResponseCode::NXRRSet | ResponseCode::YXRRSet => format!(
                "refused the update of zone {zone} ({code}): the records changed since they were read (someone else edited the zone); nothing was changed, run the step again"
            ),
            ResponseCode::YXDomain => format!(
                "refused the update of zone {zone} (YXDOMAIN): a CNAME cannot be created at a name that holds other records; delete those first, or create the CNAME elsewhere"
            ),
            other => format!("refused the update of zone {zone} ({other}); nothing was changed"),
        };
        DnsError::Refused { server, message }
    }
}

fn not_served(server: &str, zone: &str, code: ResponseCode) -> DnsError {
    DnsError::Refused {
        server: server.to_string(),
        message: format!(
            "does not serve zone {zone} (answer {code}, not authoritative): point `server` at the zone's primary, or fix `zones`"
        ),
    }
}

/// Reads the SOA serial of `zone` from `server`, for tests and reports.
pub async fn serial(server: SocketAddr, zone: &str, timeout: Duration) -> Result<u32, DnsError> {
    let mut msg = Message::new();
    msg.set_id(wire::rand_id())
        .set_message_type(MessageType::Query)
        .set_recursion_desired(false);
    msg.add_query(Query::query(fqdn(zone)?, HRecordType::SOA));
    let bytes = msg.to_vec().map_err(|e| DnsError::Invalid(e.to_string()))?;
    let raw = wire::tcp(server, &bytes, timeout).await?;
    let reply = Message::from_vec(&raw).map_err(|e| DnsError::Invalid(e.to_string()))?;
    reply
        .answers()
        .iter()
        .find_map(|r| match r.data() {
            RData::SOA(soa) => Some(soa.serial()),
            _ => None,
        })
        .ok_or_else(|| not_served(&format!("DNS server {server}"), zone, reply.response_code()))
}
