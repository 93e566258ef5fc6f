//! One Redis or Valkey server as the `redis.*` steps name it: the host whose agent talks to
//! it, how that host reaches it, and the credentials, which travel only over the agent's
//! SSH channel (never a command line, a log or the journal).

use super::error::RedisError;
use super::protocol::Conn;
use cutover_exec::SecretValue;

/// A server and where its agent runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The executor's host on which the agent runs (next to the server, usually).
    pub host: String,
    /// How that host reaches the server: a host name, an address, or a Unix socket path.
    pub address: String,
    /// The server's port.
    pub port: u16,
    /// The ACL user (`None`: the default user).
    pub user: Option<String>,
    /// The user's password.
    pub password: Option<SecretValue>,
    /// Run the agent through `sudo -n`.
    pub sudo: bool,
    /// The container on `host` the server runs in (`address` and `port` then say where
    /// the agent reaches it), for messages.
    pub container: Option<String>,
}

impl Endpoint {
    /// A server at `address:6379` seen from `host`, default user, no password.
    pub fn new(host: impl Into<String>, address: impl Into<String>) -> Self {
        Endpoint {
            host: host.into(),
            address: address.into(),
            port: 6379,
            user: None,
            password: None,
            sudo: false,
            container: None,
        }
    }

    /// `[user@]address:port (from host `h`)`, for messages (never a password).
    pub fn describe(&self) -> String {
        let at = self
            .user
            .as_deref()
            .map(|u| format!("{u}@"))
            .unwrap_or_default();
        let place = if self.address.starts_with('/') {
            self.address.clone()
        } else {
            format!("{}:{}", self.address, self.port)
        };
        match &self.container {
            Some(c) => format!("{at}{place} (container `{c}`, from host `{}`)", self.host),
            None => format!("{at}{place} (from host `{}`)", self.host),
        }
    }

    /// What the agent needs to reach the server (the password included: it travels over
    /// the agent's channel).
    pub fn conn(&self) -> Conn {
        Conn {
            address: self.address.clone(),
            port: self.port,
            user: self.user.clone(),
            password: self.password.as_ref().map(|p| p.expose().to_string()),
        }
    }

    /// Parses `redis://[user@]host[:port]` for an agent on `host`. A password in the URL is
    /// refused: it would be visible in the process list.
    pub fn from_url(url: &str, host: &str) -> Result<Self, RedisError> {
        let bad = |reason: &str| {
            RedisError::Usage(format!("bad Redis URL `{}`: {reason}", strip_password(url)))
        };
        let rest = url
            .strip_prefix("redis://")
            .or_else(|| url.strip_prefix("valkey://"))
            .ok_or_else(|| bad("it must start with redis:// (or valkey://)"))?;
        let rest = rest.trim_end_matches('/');
        if rest.contains('/') {
            return Err(bad(
                "cutover compares every database: leave the database number out",
            ));
        }
        let (user, hostport) = match rest.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, rest),
        };
        if user.is_some_and(|u| u.contains(':')) {
            return Err(bad("it contains a password, which `ps` would show; remove it and set the password variable (--source-password-env / --target-password-env, or REDISCLI_AUTH)"));
        }
        let (address, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') || h.starts_with('[') => {
                (h, p.parse().map_err(|_| bad("its port is not a number"))?)
            }
            _ => (hostport, 6379),
        };
        let address = address.trim_start_matches('[').trim_end_matches(']');
        if address.is_empty() {
            return Err(bad("it names no host (redis://HOST:PORT)"));
        }
        let mut e = Endpoint::new(host, address);
        e.port = port;
        e.user = user.filter(|u| !u.is_empty()).map(str::to_string);
        Ok(e)
    }
}

fn strip_password(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if url[s + 3..at].contains(':') => {
            let user_end = s + 3 + url[s + 3..at].find(':').unwrap_or(0);
            format!("{}:***{}", &url[..user_end], &url[at..])
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls_and_refuses_passwords() {
        let e = Endpoint::from_url("redis://app@10.0.0.1:6380", "local").unwrap();
        assert_eq!(
            (e.address.as_str(), e.port, e.user.as_deref()),
            ("10.0.0.1", 6380, Some("app"))
        );
        let e = Endpoint::from_url("redis://cache.internal", "local").unwrap();
        assert_eq!((e.port, e.user), (6379, None));
        let err = Endpoint::from_url("redis://app:hunter2@db:6379", "local")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("password") && !err.contains("hunter2"),
            "{err}"
        );
        assert!(Endpoint::from_url("http://x", "local").is_err());
        assert!(Endpoint::from_url("redis://x/3", "local").is_err());
        assert!(Endpoint::from_url("redis://x:port", "local").is_err());
    }

    #[test]
    fn the_password_is_never_described() {
        let mut e = Endpoint::new("old", "127.0.0.1");
        e.password = Some(SecretValue::new("s3cret".into()));
        e.user = Some("app".into());
        assert_eq!(e.describe(), "app@127.0.0.1:6379 (from host `old`)");
        assert!(!format!("{:?}", e.conn()).contains("s3cret"));
    }
}
