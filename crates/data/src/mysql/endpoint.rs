//! One side of a MariaDB/MySQL operation: which host runs cutover's agent for it, how that
//! host reaches the server, and the account. The password travels only inside the agent's
//! requests, over the SSH channel's standard input: never on a command line, in a file or in
//! the environment of a process.

use super::protocol::Conn;
use cutover_exec::SecretValue;

/// A server and where its agent runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The executor's host on which the agent runs (usually the server's own).
    pub host: String,
    /// How that host reaches the server (default `127.0.0.1`).
    pub address: String,
    /// The server's port (default 3306).
    pub port: u16,
    /// A Unix socket on the host, instead of TCP.
    pub socket: Option<String>,
    /// The account (default `root`).
    pub user: String,
    /// Its password.
    pub password: Option<SecretValue>,
    /// Run the agent through `sudo -n`.
    pub sudo: bool,
    /// The container on `host` the server runs in (`address` and `port` then say where
    /// the agent reaches it), for messages.
    pub container: Option<String>,
}

impl Endpoint {
    /// An endpoint with defaults: port 3306, user `root`, no password.
    pub fn new(host: impl Into<String>, address: impl Into<String>) -> Self {
        Endpoint {
            host: host.into(),
            address: address.into(),
            port: 3306,
            socket: None,
            user: "root".into(),
            password: None,
            sudo: false,
            container: None,
        }
    }

    /// `user@address:port (agent on host `H`)`, for messages (never a password).
    pub fn describe(&self) -> String {
        let conn = self.conn_without_password().describe();
        match &self.container {
            Some(c) => format!("{conn} (container `{c}`, agent on host `{}`)", self.host),
            None => format!("{conn} (agent on host `{}`)", self.host),
        }
    }

    /// How the agent connects, with the password.
    pub fn conn(&self) -> Conn {
        Conn {
            password: self.password.as_ref().map(|p| p.expose().to_string()),
            ..self.conn_without_password()
        }
    }

    fn conn_without_password(&self) -> Conn {
        Conn {
            address: self.address.clone(),
            port: self.port,
            socket: self.socket.clone(),
            user: self.user.clone(),
            password: None,
        }
    }

    /// Parses `mysql://[user@]host[:port]` (or `mariadb://`) for an agent on `host`. A
    /// password in the URL is refused: it would be visible in the process list.
    pub fn from_url(url: &str, host: &str) -> Result<Self, String> {
        let rest = url
            .strip_prefix("mysql://")
            .or_else(|| url.strip_prefix("mariadb://"))
            .ok_or_else(|| format!("`{url}` must start with mysql:// or mariadb://"))?;
        let authority = rest.split(['/', '?']).next().unwrap_or_default();
        if rest.len() > authority.len() && !rest[authority.len()..].trim_matches('/').is_empty() {
            return Err(format!(
                "`{url}` has a path or parameters; name the databases with --databases"
            ));
        }
        let (user, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        if user.is_some_and(|u| u.contains(':')) {
            return Err(format!(
                "`{}` contains a password, which `ps` would show; remove it and set the password's environment variable",
                strip_password(url)
            ));
        }
        let bad_port = || format!("the port of `{url}` is not a number");
        let (address, port) = if let Some(rest) = hostport.strip_prefix('[') {
            let (a, after) = rest
                .split_once(']')
                .ok_or_else(|| format!("`{url}` has an unclosed `[`"))?;
            match after.strip_prefix(':') {
                Some(p) => (a, p.parse().map_err(|_| bad_port())?),
                None if after.is_empty() => (a, 3306),
                None => return Err(bad_port()),
            }
        } else {
            match hostport.split_once(':') {
                Some((h, p)) if !p.contains(':') => (h, p.parse().map_err(|_| bad_port())?),
                _ => (hostport, 3306),
            }
        };
        if address.is_empty() {
            return Err(format!("`{url}` names no server"));
        }
        let mut e = Endpoint::new(host, address);
        e.port = port;
        if let Some(u) = user {
            e.user = u.to_string();
        }
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
        let e = Endpoint::from_url("mysql://app@db.internal:3307", "old").unwrap();
        assert_eq!(
            (e.address.as_str(), e.port, e.user.as_str()),
            ("db.internal", 3307, "app")
        );
        let e = Endpoint::from_url("mariadb://[::1]", "local").unwrap();
        assert_eq!(
            (e.address.as_str(), e.port, e.user.as_str()),
            ("::1", 3306, "root")
        );
        let err = Endpoint::from_url("mysql://app:hunter2@db", "local").unwrap_err();
        assert!(
            err.contains("password") && !err.contains("hunter2"),
            "{err}"
        );
        assert!(Endpoint::from_url("postgres://x", "local").is_err());
        assert!(Endpoint::from_url("mysql://x/shop", "local").is_err());
    }

    #[test]
    fn the_password_stays_out_of_descriptions() {
        let mut e = Endpoint::new("old", "127.0.0.1");
        e.password = Some(SecretValue::new("s3cret".into()));
        assert_eq!(e.describe(), "root@127.0.0.1:3306 (agent on host `old`)");
        assert_eq!(e.conn().password.as_deref(), Some("s3cret"));
    }
}
