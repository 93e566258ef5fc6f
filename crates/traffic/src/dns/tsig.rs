//! TSIG keys (RFC 8945): signing update messages and reading the server's verdict. A server
//! that rejects the key answers NOTAUTH with an unsigned TSIG carrying BADSIG/BADKEY/BADTIME;
//! hickory, asked to verify that answer, reports "truncated HMACs". We read the TSIG error
//! ourselves first so users see which key failed and what to check.

use super::DnsError;
use cutover_exec::SecretValue;
use hickory_proto::dnssec::rdata::tsig::TsigAlgorithm;
use hickory_proto::dnssec::rdata::{DNSSECRData, TSIG};
use hickory_proto::dnssec::tsig::TSigner;
use hickory_proto::op::Message;
use hickory_proto::rr::RData;
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};

/// A TSIG key: name, algorithm and base64 secret (a plan secret; never logged).
#[derive(Clone)]
pub struct TsigKey {
    /// The key's name as the server knows it.
    pub name: String,
    /// `hmac-sha256` (default), `hmac-sha384`, `hmac-sha512`.
    pub algorithm: String,
    /// The base64 secret.
    pub secret: SecretValue,
}

impl std::fmt::Debug for TsigKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TsigKey({} {}, secret ***)", self.name, self.algorithm)
    }
}

/// The algorithms accepted.
pub const ALGORITHMS: &[&str] = &["hmac-sha256", "hmac-sha384", "hmac-sha512"];

impl TsigKey {
    /// The signer for this key.
    pub fn signer(&self) -> Result<TSigner, DnsError> {
        let algorithm = match self.algorithm.to_ascii_lowercase().as_str() {
            "hmac-sha256" => TsigAlgorithm::HmacSha256,
            "hmac-sha384" => TsigAlgorithm::HmacSha384,
            "hmac-sha512" => TsigAlgorithm::HmacSha512,
            other => {
                return Err(DnsError::Invalid(format!(
                    "TSIG algorithm `{other}` is not supported; use one of {}",
                    ALGORITHMS.join(", ")
                )))
            }
        };
        let secret = data_encoding::BASE64
            .decode(self.secret.expose().trim().as_bytes())
            .map_err(|_| {
                DnsError::Invalid(format!(
                    "the secret of TSIG key `{}` is not base64 (copy the `secret \"...\"` value printed by tsig-keygen)",
                    self.name
                ))
            })?;
        let name = super::wire::fqdn(&self.name)?;
        TSigner::new(secret, algorithm, name, 300)
            .map_err(|e| DnsError::Invalid(format!("TSIG key `{}`: {e}", self.name)))
    }
}

/// RFC 8945 error codes in a TSIG record.
const BADSIG: u16 = 16;
const BADKEY: u16 = 17;
const BADTIME: u16 = 18;

/// The TSIG error code of a reply, if it carries a TSIG record.
pub fn reply_error(reply: &Message) -> Option<u16> {
    let record = reply.signature().iter().find_map(|r| match r.data() {
        RData::DNSSEC(DNSSECRData::TSIG(t)) => Some(t.clone()),
        _ => None,
    })?;
    tsig_error(&record)
}

/// Reads the error field from the TSIG rdata's wire form (hickory has no accessor for it):
/// algorithm name, time (6), fudge (2), MAC size (2) + MAC, original id (2), error (2).
fn tsig_error(t: &TSIG) -> Option<u16> {
    let mut buf = Vec::new();
    let mut enc = BinEncoder::new(&mut buf);
    t.emit(&mut enc).ok()?;
    let mut i = 0;
    while *buf.get(i)? != 0 {
        i += 1 + *buf.get(i)? as usize;
    }
    i += 1 + 6 + 2;
    let mac_len = u16::from_be_bytes([*buf.get(i)?, *buf.get(i + 1)?]) as usize;
    i += 2 + mac_len + 2;
    Some(u16::from_be_bytes([*buf.get(i)?, *buf.get(i + 1)?]))
}

/// The message users read for a rejected key.
pub fn rejection(server: &str, key: &TsigKey, code: u16) -> DnsError {
    let why = match code {
        BADSIG => {
            "the signature does not match: the secret differs from the server's key of that name"
        }
        BADKEY => "the server does not know this key name (or not with this algorithm)",
        BADTIME => "the clocks differ by more than 300 s: fix this machine's or the server's time",
        _ => "the server rejected the signature",
    };
    DnsError::Refused {
        server: server.to_string(),
        message: format!(
            "TSIG key `{}` ({}) was rejected: {why} (TSIG error {code}); check the key's name, algorithm and secret against the server's configuration",
            key.name, key.algorithm
        ),
    }
}
