//! A shared journal's address: `journal = "postgres://USER:{{ secrets.NAME }}@HOST:PORT/DB?sslmode=verify-full"`
//! at the top of the plan (or `[journal] url = ...`), `--journal URL`, or `CUTOVER_JOURNAL`.
//!
//! The password is never written in the URL: the password position holds a reference to a
//! `[secrets.NAME]`, so the plan file, the command line and every message show only its name.

use std::sync::OnceLock;

/// How the connection to the journal's server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    /// Plain TCP: only on a network you trust.
    Disable,
    /// TLS, the server's certificate checked against `sslrootcert` (or the system's CAs) and
    /// its name against the host.
    VerifyFull,
}

/// A PostgreSQL journal's address, password left out.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct JournalUrl {
    /// Role to log in as.
    pub user: String,
    /// Server host name or address.
    pub host: String,
    /// Server port (default 5432).
    pub port: u16,
    /// Database.
    pub dbname: String,
    /// The secret holding the role's password (`{{ secrets.NAME }}` in the URL), if any.
    pub password_secret: Option<String>,
    /// `sslmode`: `verify-full` (default) or `disable`.
    pub sslmode: SslMode,
    /// `sslrootcert`: a CA bundle (PEM) to check the server's certificate against, relative
    /// to the plan's directory; the system's CAs when absent.
    pub sslrootcert: Option<String>,
}

impl std::fmt::Display for JournalUrl {
    /// The URL with its password reference left out: what messages show.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = match self.host.contains(':') {
            true => format!("[{}]", self.host),
            false => self.host.clone(),
        };
        let mode = match self.sslmode {
            SslMode::Disable => "disable",
            SslMode::VerifyFull => "verify-full",
        };
        write!(
            f,
            "postgres://{}@{host}:{}/{}?sslmode={mode}",
            self.user, self.port, self.dbname
        )
    }
}

/// The forms the URL may take, for help texts.
pub const URL_FORM: &str =
    "postgres://USER:{{ secrets.NAME }}@HOST:PORT/DATABASE?sslmode=verify-full&sslrootcert=ca.pem";

impl JournalUrl {
    /// Reads `text`; the error says what is wrong (never repeating a password) and how to
    /// write it.
    pub fn parse(text: &str) -> Result<JournalUrl, String> {
        let rest = text
            .strip_prefix("postgres://")
            .or_else(|| text.strip_prefix("postgresql://"))
            .ok_or_else(|| {
                "a shared journal's URL starts with `postgres://` (a journal file is `[journal] path = \"FILE\"`)".to_string()
            })?;
        let (main, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, dbname) = main
            .split_once('/')
            .ok_or("the URL names no database: end it with `/DATABASE`")?;
        let dbname = decode(dbname, "database")?;
        if dbname.is_empty() {
            return Err("the URL names no database: end it with `/DATABASE`".into());
        }
        let (userinfo, hostport) = authority
            .rsplit_once('@')
            .ok_or("the URL names no role: write `USER@` before the host")?;
        let (user, password) = match userinfo.split_once(':') {
            Some((user, password)) => (user, Some(password)),
            None => (userinfo, None),
        };
        let user = decode(user, "role")?;
        if user.is_empty() {
            return Err("the URL names no role: write `USER@` before the host".into());
        }
        let password_secret = password.map(secret_reference).transpose()?;
        let (host, port) = host_port(hostport)?;
        let mut url = JournalUrl {
            user,
            host,
            port,
            dbname,
            password_secret,
            sslmode: SslMode::VerifyFull,
            sslrootcert: None,
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "sslmode" => {
                    url.sslmode = match value {
                        "verify-full" => SslMode::VerifyFull,
                        "disable" => SslMode::Disable,
                        other => return Err(format!(
                            "sslmode `{other}` is not supported: use `verify-full` (the server's certificate and name checked) or `disable` (plain TCP, on a network you trust)"
                        )),
                    }
                }
                "sslrootcert" => url.sslrootcert = Some(decode(value, "sslrootcert")?),
                "password" => {
                    return Err("a password is never written in the URL: put it in `[secrets.NAME]` and write `USER:{{ secrets.NAME }}@HOST`".into())
                }
                other => {
                    return Err(format!(
                        "unknown URL parameter `{other}`: cutover reads `sslmode` and `sslrootcert`"
                    ))
                }
            }
        }
        if url.sslmode == SslMode::Disable && url.sslrootcert.is_some() {
            return Err("`sslrootcert` needs `sslmode=verify-full`".into());
        }
        Ok(url)
    }
}

/// The secret a password position names: exactly `{{ secrets.NAME }}`.
fn secret_reference(password: &str) -> Result<String, String> {
    let refused = || {
        "a password is never written in the URL: put it in `[secrets.NAME]` and write `USER:{{ secrets.NAME }}@HOST`".to_string()
    };
    let inner = password
        .strip_prefix("{{")
        .and_then(|p| p.strip_suffix("}}"))
        .ok_or_else(refused)?;
    let name = inner.trim().strip_prefix("secrets.").ok_or_else(refused)?;
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    match valid {
        true => Ok(name.to_string()),
        false => Err(refused()),
    }
}

fn host_port(text: &str) -> Result<(String, u16), String> {
    let (host, port) = match text.strip_prefix('[') {
        Some(v6) => {
            let (host, after) = v6
                .split_once(']')
                .ok_or("an IPv6 host is written `[ADDRESS]`, with its closing `]`")?;
            (host.to_string(), after.strip_prefix(':'))
        }
        None => match text.rsplit_once(':') {
            Some((host, port)) => (host.to_string(), Some(port)),
            None => (text.to_string(), None),
        },
    };
    if host.is_empty() {
        return Err("the URL names no host: write `USER@HOST:PORT`".into());
    }
    let port = match port {
        None => 5432,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("port `{p}` is not a port number (1-65535)"))?,
    };
    Ok((host, port))
}

/// Percent-decodes one part of the URL.
fn decode(text: &str, what: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("the {what} has a `%` not followed by two hex digits"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("the {what} is not UTF-8 once decoded"))
}

impl crate::Plan {
    /// This plan with its journal at `text` (`--journal`, `CUTOVER_JOURNAL`), replacing the
    /// plan's own; the URL's password must name one of the plan's secrets.
    pub fn with_journal_url(mut self, text: &str) -> Result<crate::Plan, String> {
        let url =
            JournalUrl::parse(text).map_err(|e| format!("{e}\nhint: write it as {URL_FORM}"))?;
        if let Some(name) = &url.password_secret {
            if self.secret(name).is_none() {
                return Err(format!(
                    "the journal URL's password is secret `{name}`, which the plan does not declare\nhint: add `[secrets.{name}]` to the plan"
                ));
            }
        }
        self.journal = crate::JournalConfig {
            path: None,
            url: Some(url),
        };
        // An environment's own journal file gives way to the URL given for this invocation.
        self.environment_journal = None;
        Ok(self)
    }
}

static SELECTED: OnceLock<String> = OnceLock::new();

/// Uses the journal at `url` instead of the plan's (`--journal`, `CUTOVER_JOURNAL`): read by
/// every later [`crate::load`].
pub fn select(url: &str) {
    let _ = SELECTED.set(url.to_string());
}

/// The journal URL chosen on the command line or in the environment, if any.
pub fn selected() -> Option<&'static str> {
    SELECTED.get().map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_url_reads_with_its_secret_and_tls() {
        let url = JournalUrl::parse(
            "postgres://cutover:{{ secrets.journal_pw }}@db.example.com:6432/ops?sslmode=verify-full&sslrootcert=ca.pem",
        )
        .unwrap();
        assert_eq!(
            (
                url.user.as_str(),
                url.host.as_str(),
                url.port,
                url.dbname.as_str()
            ),
            ("cutover", "db.example.com", 6432, "ops")
        );
        assert_eq!(url.password_secret.as_deref(), Some("journal_pw"));
        assert_eq!(url.sslrootcert.as_deref(), Some("ca.pem"));
        assert_eq!(
            url.to_string(),
            "postgres://cutover@db.example.com:6432/ops?sslmode=verify-full"
        );
    }

    #[test]
    fn defaults_are_port_5432_and_verify_full() {
        let url = JournalUrl::parse("postgresql://me@[::1]/j").unwrap();
        assert_eq!((url.host.as_str(), url.port), ("::1", 5432));
        assert_eq!(url.sslmode, SslMode::VerifyFull);
        assert_eq!(
            url.to_string(),
            "postgres://me@[::1]:5432/j?sslmode=verify-full"
        );
    }

    #[test]
    fn a_literal_password_is_refused_without_being_repeated() {
        for text in [
            "postgres://me:hunter2@h/db",
            "postgres://me@h/db?password=hunter2",
            "postgres://me:{{ vars.hunter2 }}@h/db",
        ] {
            let err = JournalUrl::parse(text).unwrap_err();
            assert!(
                err.starts_with("a password is never written in the URL"),
                "{err}"
            );
            assert!(!err.contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn each_malformed_part_is_named() {
        let cases = [
            ("mysql://me@h/db", "starts with `postgres://`"),
            ("postgres://me@h", "names no database"),
            ("postgres://h/db", "names no role"),
            (
                "postgres://me@h:99999/db",
                "port `99999` is not a port number",
            ),
            (
                "postgres://me@h/db?sslmode=require",
                "sslmode `require` is not supported",
            ),
            (
                "postgres://me@h/db?timeout=3",
                "unknown URL parameter `timeout`",
            ),
            ("postgres://me@h/d%zz", "the database has a `%`"),
        ];
        for (text, expected) in cases {
            let err = JournalUrl::parse(text).unwrap_err();
            assert!(err.contains(expected), "{text}: {err}");
        }
    }
}
