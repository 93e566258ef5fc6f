//! A server's state read from its facts (`INFO` and `CONFIG GET`): version, role, the
//! replication ids and offsets that say who follows whom and whether anyone took writes
//! since a promotion, full-sync progress, memory and keyspace.

use super::protocol::Facts;
use super::version::Version;

/// Whom a server follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// A primary (`role:master`).
    Primary,
    /// A replica of `host:port`.
    Replica {
        /// `master_host` as the replica was told it.
        host: String,
        /// `master_port`.
        port: u16,
        /// `master_link_status:up`.
        link_up: bool,
    },
}

/// What cutover reads of a server.
#[derive(Debug, Clone)]
pub struct State {
    /// The server's facts as the agent read them.
    pub facts: Facts,
    /// Its version (`None`: not understood).
    pub version: Option<Version>,
    /// Its role.
    pub role: Role,
}

impl State {
    /// Reads a state from facts.
    pub fn new(facts: Facts) -> Self {
        let version = Version::from_info(
            facts.info.get("redis_version").map(String::as_str),
            facts.info.get("valkey_version").map(String::as_str),
        );
        let role = match facts.info.get("role").map(String::as_str) {
            Some("slave") | Some("replica") => Role::Replica {
                host: facts.info.get("master_host").cloned().unwrap_or_default(),
                port: facts
                    .info
                    .get("master_port")
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(0),
                link_up: facts.info.get("master_link_status").map(String::as_str) == Some("up"),
            },
            _ => Role::Primary,
        };
        State {
            facts,
            version,
            role,
        }
    }

    /// A field of `INFO`.
    pub fn info(&self, name: &str) -> Option<&str> {
        self.facts.info.get(name).map(String::as_str)
    }

    /// A number field of `INFO` (0 when absent).
    pub fn number(&self, name: &str) -> u64 {
        self.info(name).and_then(|v| v.parse().ok()).unwrap_or(0)
    }

    /// A `CONFIG GET` value.
    pub fn config(&self, name: &str) -> Option<&str> {
        self.facts.config.get(name).map(String::as_str)
    }

    /// `master_replid`.
    pub fn replid(&self) -> &str {
        self.info("master_replid").unwrap_or_default()
    }

    /// `master_replid2`: the id of the primary it followed before its promotion.
    pub fn replid2(&self) -> &str {
        self.info("master_replid2").unwrap_or_default()
    }

    /// `master_repl_offset`: its own replication offset.
    pub fn offset(&self) -> u64 {
        self.number("master_repl_offset")
    }

    /// The offset at which it was promoted (`second_repl_offset` - 1), when it was.
    pub fn promoted_at(&self) -> Option<u64> {
        self.info("second_repl_offset")
            .and_then(|v| v.parse::<i64>().ok())
            .filter(|&v| v > 0)
            .map(|v| v as u64 - 1)
    }

    /// Keys in every database.
    pub fn keys(&self) -> u64 {
        self.keyspace().iter().map(|(_, keys, _)| keys).sum()
    }

    /// `(db, keys, expires)` of every database holding keys.
    pub fn keyspace(&self) -> Vec<(u32, u64, u64)> {
        self.facts
            .info
            .iter()
            .filter_map(|(k, v)| {
                let db = k.strip_prefix("db")?.parse().ok()?;
                let field = |name: &str| {
                    v.split(',')
                        .find_map(|p| p.strip_prefix(name)?.strip_prefix('='))
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(0)
                };
                Some((db, field("keys"), field("expires")))
            })
            .collect()
    }

    /// True when this server follows `address:port` (as it was told it).
    pub fn follows(&self, address: &str, port: u16) -> bool {
        matches!(&self.role, Role::Replica { host, port: p, .. } if host == address && *p == port)
    }

    /// The version for messages.
    pub fn version_text(&self) -> String {
        match &self.version {
            Some(v) => v.to_string(),
            None => format!(
                "an unknown server (redis_version {})",
                self.info("redis_version").unwrap_or("?")
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(lines: &str) -> State {
        let info = lines
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        State::new(Facts {
            info,
            ..Facts::default()
        })
    }

    #[test]
    fn reads_roles_offsets_and_keyspace() {
        let s = state("redis_version:7.0.15\nrole:slave\nmaster_host:10.0.0.1\nmaster_port:6379\nmaster_link_status:up\ndb0:keys=10,expires=3,avg_ttl=0\ndb2:keys=5,expires=0,avg_ttl=0");
        assert!(s.follows("10.0.0.1", 6379) && !s.follows("10.0.0.1", 6380));
        assert_eq!(s.keys(), 15);
        assert_eq!(s.keyspace(), vec![(0, 10, 3), (2, 5, 0)]);
        let p = state("redis_version:7.2.4\nvalkey_version:9.1.2\nrole:master\nmaster_repl_offset:120\nsecond_repl_offset:101\nmaster_replid2:abc");
        assert_eq!(p.role, Role::Primary);
        assert_eq!(p.promoted_at(), Some(100));
        assert_eq!(p.version_text(), "Valkey 9.1.2");
        assert_eq!(
            state("role:master\nsecond_repl_offset:-1").promoted_at(),
            None
        );
    }
}
