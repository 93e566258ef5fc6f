//! One side of a PostgreSQL operation: which host runs the client tools, how that host reaches
//! the server, and the credentials, which travel only through the environment (sent over the
//! SSH channel's standard input) or a pgpass file, never on a command line.

use super::error::PgError;
use cutover_exec::{Command, EnvValue, SecretValue};

/// A database and where its client commands run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The executor's host on which this side's client tools run (`psql`, `pg_dump`...).
    pub host: String,
    /// How that host reaches the server: a host name, an address, or a Unix socket directory
    /// (libpq's `PGHOST`).
    pub address: String,
    /// The server's port.
    pub port: u16,
    /// The database.
    pub db: String,
    /// The role to connect as.
    pub user: String,
    /// The role's password (sent as `PGPASSWORD` through standard input), if any.
    pub password: Option<SecretValue>,
    /// A pgpass file on `host` (`PGPASSFILE`), instead of a password.
    pub passfile: Option<String>,
    /// libpq `sslmode` (`disable`, `require`, `verify-full`...), if set.
    pub sslmode: Option<String>,
    /// Directory of the client tools on `host`; found automatically when `None`.
    pub bin: Option<String>,
    /// Run the tools through `sudo -n`.
    pub sudo: bool,
    /// A container on `host` the tools run in (`docker exec`), the server's own.
    pub container: Option<String>,
}

impl Endpoint {
    /// An endpoint with defaults: port 5432, user `postgres`, no password, tools found.
    pub fn new(host: impl Into<String>, address: impl Into<String>, db: impl Into<String>) -> Self {
        Endpoint {
            host: host.into(),
            address: address.into(),
            port: 5432,
            db: db.into(),
            user: "postgres".into(),
            password: None,
            passfile: None,
            sslmode: None,
            bin: None,
            sudo: false,
            container: None,
        }
    }

    /// The same server, another database (e.g. `postgres` to create the target database).
    pub fn with_db(&self, db: &str) -> Self {
        Endpoint {
            db: db.into(),
            ..self.clone()
        }
    }

    /// `user@address:port/db on host`, for messages (never a password).
    pub fn describe(&self) -> String {
        match &self.container {
            Some(c) => format!(
                "{}@{}:{}/{} (from container `{c}` on host `{}`)",
                self.user, self.address, self.port, self.db, self.host
            ),
            None => format!(
                "{}@{}:{}/{} (from host `{}`)",
                self.user, self.address, self.port, self.db, self.host
            ),
        }
    }

    /// `cmd` run where the tools are: in the container when there is one.
    pub fn place(&self, cmd: Command) -> Command {
        match &self.container {
            Some(c) => cmd.in_container(c),
            None => cmd,
        }
    }

    /// The path of client tool `tool` (`psql`, `pg_dump`...) on the host.
    pub fn tool(&self, tool: &str) -> String {
        match &self.bin {
            Some(bin) => format!("{}/{tool}", bin.trim_end_matches('/')),
            None => tool.to_string(),
        }
    }

    /// The libpq environment reaching the server; the password stays secret.
    pub fn env(&self) -> Vec<(String, EnvValue)> {
        let plain = |v: &str| EnvValue::Plain(v.to_string());
        let mut env = vec![
            ("PGHOST".to_string(), plain(&self.address)),
            ("PGPORT".to_string(), plain(&self.port.to_string())),
            ("PGDATABASE".to_string(), plain(&self.db)),
            ("PGUSER".to_string(), plain(&self.user)),
            ("PGAPPNAME".to_string(), plain("cutover")),
            ("PGCONNECT_TIMEOUT".to_string(), plain("10")),
        ];
        if let Some(pw) = &self.password {
            env.push(("PGPASSWORD".into(), EnvValue::Secret(pw.clone())));
        }
        if let Some(file) = &self.passfile {
            env.push(("PGPASSFILE".into(), plain(file)));
        }
        if let Some(mode) = &self.sslmode {
            env.push(("PGSSLMODE".into(), plain(mode)));
        }
        env
    }

    /// Runs client tool `tool` with `args` on the host, connected through the environment.
    pub fn command(&self, tool: &str, args: &[&str]) -> Command {
        let mut argv = vec![self.tool(tool)];
        argv.extend(args.iter().map(|a| a.to_string()));
        let mut c = Command::new(&self.host, argv).sudo(self.sudo);
        c.env = self.env();
        self.place(c)
    }

    /// A shell pipeline on the host whose `psql`/`pg_dump` words are already full paths; the
    /// environment reaches every program of the pipeline.
    pub fn shell(&self, script: String) -> Command {
        let mut c = Command::shell(&self.host, script).sudo(self.sudo);
        c.env = self.env();
        self.place(c)
    }

    /// Parses `postgres://[user@]host[:port]/db[?sslmode=...]` for commands run on `host`.
    /// A password in the URL is refused: it would be visible in the process list.
    pub fn from_url(url: &str, host: &str) -> Result<Self, PgError> {
        let bad = |reason: &str| PgError::BadUrl {
            url: strip_password(url),
            reason: reason.into(),
        };
        let rest = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))
            .ok_or_else(|| bad("it must start with postgres:// or postgresql://"))?;
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, db) = rest
            .split_once('/')
            .ok_or_else(|| bad("it names no database (postgres://host/DB)"))?;
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        if userinfo.is_some_and(|u| u.contains(':')) {
            return Err(bad("it contains a password, which `ps` would show; remove it and set PGPASSWORD (or the --*-password-env variable) or use a pgpass file"));
        }
        let (address, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || hostport.starts_with('[') => {
                (h, p.parse().map_err(|_| bad("its port is not a number"))?)
            }
            _ => (hostport, 5432),
        };
        let address = address.trim_start_matches('[').trim_end_matches(']');
        let mut e = Endpoint::new(
            host,
            if address.is_empty() {
                "localhost"
            } else {
                address
            },
            percent_decode(db),
        );
        e.port = port;
        if let Some(user) = userinfo {
            e.user = percent_decode(user);
        }
        if db.is_empty() {
            return Err(bad("it names no database (postgres://host/DB)"));
        }
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("sslmode", v)) => e.sslmode = Some(v.to_string()),
                Some(("host", v)) => e.address = percent_decode(v),
                _ => {
                    return Err(bad(&format!(
                        "unsupported parameter `{pair}` (only sslmode and host)"
                    )))
                }
            }
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

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(b) = u8::from_str_radix(hex, 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use cutover_exec::render::render;

    #[test]
    fn parses_urls_and_refuses_passwords() {
        let e = Endpoint::from_url(
            "postgres://app@db.internal:6543/shop?sslmode=require",
            "local",
        )
        .unwrap();
        assert_eq!(
            (e.address.as_str(), e.port, e.db.as_str(), e.user.as_str()),
            ("db.internal", 6543, "shop", "app")
        );
        assert_eq!(e.sslmode.as_deref(), Some("require"));
        let e = Endpoint::from_url("postgresql://localhost/my%20db", "local").unwrap();
        assert_eq!(
            (e.db.as_str(), e.port, e.user.as_str()),
            ("my db", 5432, "postgres")
        );
        let err = Endpoint::from_url("postgres://app:hunter2@db/shop", "local").unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("password") && !text.contains("hunter2"),
            "{text}"
        );
        assert!(Endpoint::from_url("mysql://x/y", "local").is_err());
        assert!(Endpoint::from_url("postgres://x", "local").is_err());
    }

    #[test]
    fn the_password_travels_on_stdin_never_in_argv() {
        let mut e = Endpoint::new("old", "127.0.0.1", "app");
        e.password = Some(SecretValue::new("s3cret-pw".into()));
        e.bin = Some("/opt/pg/18/bin".into());
        let cmd = e.command("psql", &["-c", "select 1"]);
        let r = render(&cmd).unwrap();
        assert!(!r.line.contains("s3cret-pw"), "{}", r.line);
        assert!(r.line.contains("/opt/pg/18/bin/psql"), "{}", r.line);
        assert!(String::from_utf8_lossy(&r.prelude).contains("s3cret-pw"));
        assert!(!cmd.to_string().contains("s3cret-pw"));
    }
}
