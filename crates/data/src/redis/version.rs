//! Server versions and what they imply: the RDB format a primary sends to a replica and the
//! formats a replica can load (a full sync fails for ever, retried every second, when the
//! replica cannot load what it is sent), and the commands cutover relies on.
//!
//! | server | sends to a replica | loads |
//! | --- | --- | --- |
//! | Redis 6.0-6.2 | 9 | up to 9 |
//! | Redis 7.0 | 10 | up to 10 |
//! | Redis 7.2, Valkey 7.2-8.x | 11 | up to 11 |
//! | Redis 7.4+ (8.x) | 12 | up to 12 |
//! | Valkey 9 | 11 to other servers, 80 to Valkey 9 | up to 11, and 80 |
//!
//! (Valkey 9 writes `VALKEY080` files but sends a Redis 7.0 replica format 11, measured.)

use std::fmt;

/// Redis or Valkey.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// Redis.
    Redis,
    /// Valkey.
    Valkey,
}

/// A server's product and version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version {
    /// Redis or Valkey.
    pub flavor: Flavor,
    /// Major.
    pub major: u32,
    /// Minor.
    pub minor: u32,
    /// Patch.
    pub patch: u32,
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.flavor {
            Flavor::Redis => "Redis",
            Flavor::Valkey => "Valkey",
        };
        write!(f, "{name} {}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl Version {
    /// From `INFO server`'s `redis_version` and `valkey_version` (Valkey also reports a
    /// `redis_version` of the Redis it is compatible with).
    pub fn from_info(redis_version: Option<&str>, valkey_version: Option<&str>) -> Option<Self> {
        let (flavor, text) = match valkey_version {
            Some(v) => (Flavor::Valkey, v),
            None => (Flavor::Redis, redis_version?),
        };
        let mut parts = text.trim().split('.').map(|p| p.parse::<u32>().ok());
        Some(Version {
            flavor,
            major: parts.next()??,
            minor: parts.next().flatten().unwrap_or(0),
            patch: parts.next().flatten().unwrap_or(0),
        })
    }

    fn at_least(&self, major: u32, minor: u32) -> bool {
        (self.major, self.minor) >= (major, minor)
    }

    /// The RDB format this primary sends to `replica` in a full sync.
    pub fn rdb_sent_to(&self, replica: &Version) -> u32 {
        match self.flavor {
            Flavor::Valkey
                if self.major >= 9 && replica.flavor == Flavor::Valkey && replica.major >= 9 =>
            {
                80
            }
            Flavor::Valkey => 11,
            Flavor::Redis if self.at_least(7, 4) => 12,
            Flavor::Redis if self.at_least(7, 2) => 11,
            Flavor::Redis if self.at_least(7, 0) => 10,
            Flavor::Redis if self.major >= 5 => 9,
            Flavor::Redis => 8,
        }
    }

    /// True when this server can load an RDB of format `format`.
    pub fn loads(&self, format: u32) -> bool {
        match self.flavor {
            Flavor::Valkey => format <= 11 || (self.major >= 9 && format == 80),
            Flavor::Redis => {
                let own = match (self.major, self.minor) {
                    (m, _) if m >= 8 => 12,
                    (7, n) if n >= 4 => 12,
                    (7, n) if n >= 2 => 11,
                    (7, _) => 10,
                    (m, _) if m >= 5 => 9,
                    _ => 8,
                };
                format <= own
            }
        }
    }

    /// `CLIENT PAUSE ... WRITE` and `CLIENT UNPAUSE` (the switch's pause): 6.2 and later.
    pub fn pauses_writes(&self) -> bool {
        self.flavor == Flavor::Valkey || self.at_least(6, 2)
    }

    /// `PEXPIRETIME` (the stored absolute expiry): 7.0 and later.
    pub fn has_expire_time(&self) -> bool {
        self.flavor == Flavor::Valkey || self.major >= 7
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(redis: &str, valkey: Option<&str>) -> Version {
        Version::from_info(Some(redis), valkey).unwrap()
    }

    #[test]
    fn formats_follow_the_table() {
        let (r62, r70, r74, k9) = (
            v("6.2.14", None),
            v("7.0.15", None),
            v("7.4.1", None),
            v("7.2.4", Some("9.1.2")),
        );
        assert_eq!(k9.to_string(), "Valkey 9.1.2");
        assert_eq!(r62.to_string(), "Redis 6.2.14");
        assert!(r70.loads(r62.rdb_sent_to(&r70)));
        assert!(
            !r62.loads(r70.rdb_sent_to(&r62)),
            "6.2 cannot load 7.0's RDB"
        );
        assert!(k9.loads(r70.rdb_sent_to(&k9)));
        assert!(
            !r70.loads(k9.rdb_sent_to(&r70)),
            "7.0 cannot load Valkey 9's format 11"
        );
        assert!(k9.loads(k9.rdb_sent_to(&k9)));
        assert!(!k9.loads(r74.rdb_sent_to(&k9)), "Valkey refuses format 12");
        assert!(r62.pauses_writes() && !v("6.0.9", None).pauses_writes());
        assert!(!r62.has_expire_time() && r70.has_expire_time() && k9.has_expire_time());
    }
}
