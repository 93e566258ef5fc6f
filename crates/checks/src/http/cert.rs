//! The few facts a probe reports about a server certificate (subject, issuer, expiry), read
//! straight from its DER: rustls has already verified the chain and the name, so a full X.509
//! library would only add compile time.

/// What a probe shows about a certificate.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CertFacts {
    /// The subject's common name (or the whole subject when it has none).
    pub subject: String,
    /// The issuer's common name.
    pub issuer: String,
    /// End of validity, seconds since the Unix epoch.
    pub not_after: i64,
}

impl CertFacts {
    /// Whole days from `now` (unix seconds) until the certificate expires (negative: expired).
    pub fn days_left(&self, now: i64) -> i64 {
        (self.not_after - now).div_euclid(86_400)
    }
}

/// Reads subject, issuer and notAfter from a DER-encoded X.509 certificate.
pub fn parse(der: &[u8]) -> Option<CertFacts> {
    let (cert, _) = tlv(der, 0x30)?;
    let (mut tbs, _) = tlv(cert, 0x30)?;
    // version [0] EXPLICIT is optional.
    if tbs.first() == Some(&0xa0) {
        tbs = skip(tbs)?;
    }
    let tbs = skip(tbs)?; // serialNumber
    let tbs = skip(tbs)?; // signature algorithm
    let (issuer, tbs) = tlv(tbs, 0x30)?;
    let (validity, tbs) = tlv(tbs, 0x30)?;
    let (subject, _) = tlv(tbs, 0x30)?;
    let after_validity = skip(validity)?; // notBefore
    let tag = *after_validity.first()?;
    let (time, _) = tlv(after_validity, tag)?;
    Some(CertFacts {
        subject: common_name(subject).unwrap_or_else(|| "(no common name)".into()),
        issuer: common_name(issuer).unwrap_or_else(|| "(no common name)".into()),
        not_after: parse_time(tag, time)?,
    })
}

/// One TLV with tag `tag` at the start of `data`: (contents, rest).
fn tlv(data: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    if *data.first()? != tag {
        return None;
    }
    let first = *data.get(1)? as usize;
    let (len, header) = if first < 0x80 {
        (first, 2)
    } else {
        let n = first & 0x7f;
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | *data.get(2 + i)? as usize;
        }
        (len, 2 + n)
    };
    let end = header.checked_add(len)?;
    Some((data.get(header..end)?, data.get(end..)?))
}

/// Skips one TLV of any tag.
fn skip(data: &[u8]) -> Option<&[u8]> {
    let tag = *data.first()?;
    tlv(data, tag).map(|(_, rest)| rest)
}

/// The commonName (2.5.4.3) of a Name.
fn common_name(mut name: &[u8]) -> Option<String> {
    const CN: &[u8] = &[0x55, 0x04, 0x03];
    while !name.is_empty() {
        let (set, rest) = tlv(name, 0x31)?;
        name = rest;
        let (attr, _) = tlv(set, 0x30)?;
        let (oid, value) = tlv(attr, 0x06)?;
        if oid == CN {
            let tag = *value.first()?;
            let (text, _) = tlv(value, tag)?;
            return Some(String::from_utf8_lossy(text).into_owned());
        }
    }
    None
}

/// UTCTime (`YYMMDDHHMMSSZ`) or GeneralizedTime (`YYYYMMDDHHMMSSZ`) to unix seconds.
fn parse_time(tag: u8, text: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(text).ok()?.strip_suffix('Z')?;
    let (year, rest) = match tag {
        0x17 => {
            let yy: i64 = s.get(0..2)?.parse().ok()?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, s.get(2..)?)
        }
        0x18 => (s.get(0..4)?.parse().ok()?, s.get(4..)?),
        _ => return None,
    };
    let num = |r: std::ops::Range<usize>| rest.get(r).and_then(|x| x.parse::<i64>().ok());
    let (month, day, hour, min, sec) =
        (num(0..2)?, num(2..4)?, num(4..6)?, num(6..8)?, num(8..10)?);
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + min * 60 + sec)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_days_match_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2038, 1, 19), 24_855);
    }

    #[test]
    fn times_in_both_encodings() {
        assert_eq!(parse_time(0x17, b"700101000000Z"), Some(0));
        assert_eq!(parse_time(0x18, b"20380119031407Z"), Some(2_147_483_647));
        assert_eq!(parse_time(0x17, b"garbage"), None);
    }
}
