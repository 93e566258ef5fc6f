//! Pins: requests for a name sent to a chosen address, like `curl --resolve HOST:PORT:ADDRESS`,
//! so that the new host is tested under the real name before DNS moves.

/// Sends the requests for `host:port` to another address, like `curl --resolve`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pin {
    /// Only requests to this host name are pinned; `None`: every request.
    pub host: Option<String>,
    /// Only requests to this port; `None`: any port.
    pub port: Option<u16>,
    /// The address (IP or name) to connect to instead.
    pub addr: String,
}

impl Pin {
    /// Parses `ADDR` (every request) or `HOST:PORT:ADDR` (curl's form); IPv6 addresses in
    /// brackets.
    pub fn parse(text: &str) -> Result<Pin, String> {
        let text = text.trim();
        let unbracket = |a: &str| a.trim_start_matches('[').trim_end_matches(']').to_string();
        let bad = || {
            format!("`{text}` is not a pin: write an address (`198.51.100.20`) or `HOST:PORT:ADDRESS` (`app.example.com:443:198.51.100.20`)")
        };
        if text.is_empty() {
            return Err(bad());
        }
        if text.starts_with('[') || text.parse::<std::net::IpAddr>().is_ok() || !text.contains(':')
        {
            return Ok(Pin {
                host: None,
                port: None,
                addr: unbracket(text),
            });
        }
        let mut parts = text.splitn(3, ':');
        let (Some(host), Some(port), Some(addr)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let port = match port {
            "" | "*" => None,
            p => Some(p.parse::<u16>().map_err(|_| bad())?),
        };
        if addr.is_empty() {
            return Err(bad());
        }
        Ok(Pin {
            host: (!host.is_empty() && host != "*").then(|| host.to_ascii_lowercase()),
            port,
            addr: unbracket(addr),
        })
    }

    pub(crate) fn applies(&self, host: &str, port: u16) -> bool {
        self.host
            .as_deref()
            .is_none_or(|h| h.eq_ignore_ascii_case(host))
            && self.port.is_none_or(|p| p == port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_in_both_forms() {
        let p = Pin::parse("198.51.100.20").unwrap();
        assert_eq!(
            (p.host, p.port, p.addr.as_str()),
            (None, None, "198.51.100.20")
        );
        let p = Pin::parse("App.Example.com:443:198.51.100.20").unwrap();
        assert_eq!(p.host.as_deref(), Some("app.example.com"));
        assert_eq!(p.port, Some(443));
        assert!(p.applies("app.example.com", 443) && !p.applies("app.example.com", 80));
        let p = Pin::parse("app.example.com:443:[2001:db8::1]").unwrap();
        assert_eq!(p.addr, "2001:db8::1");
        assert_eq!(Pin::parse("[::1]").unwrap().addr, "::1");
        assert!(Pin::parse("app:x:1.2.3.4").is_err());
        assert!(Pin::parse("app:443:").is_err());
    }
}
