//! How the test app finds its database: the environment, as real apps are configured.
//! `DATABASE_URL` (a URL or a libpq `key=value` string) says what it says; the libpq
//! variables `PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE` and
//! `PGCONNECT_TIMEOUT` fill in what it leaves out (or everything, without it). The pool is
//! sized by `DB_POOL_SIZE` (default 4) and its connections live at most
//! `DB_POOL_MAX_LIFETIME_SECS` (default 300). The password is only ever read from the
//! environment, never from the command line.

use std::str::FromStr;
use std::time::Duration;

/// Connections the pool keeps open when `DB_POOL_SIZE` is not set.
pub const DEFAULT_POOL_SIZE: u32 = 4;
/// How long a pooled connection lives when `DB_POOL_MAX_LIFETIME_SECS` is not set: five
/// minutes, a common production setting (and the window the issue saw writes fail in).
pub const DEFAULT_MAX_LIFETIME: Duration = Duration::from_secs(300);
/// How long connecting may take unless `PGCONNECT_TIMEOUT` or the URL says otherwise.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// The `application_name` the app's sessions carry unless told otherwise, so that tests
/// (and a switch) can find them in `pg_stat_activity`.
pub const APPLICATION_NAME: &str = "cutover-testapp";

/// Every environment variable the database mode reads (the app's launcher clears them so
/// that a test's own environment never leaks in).
pub const DB_ENV_VARS: [&str; 9] = [
    "DATABASE_URL",
    "PGHOST",
    "PGPORT",
    "PGUSER",
    "PGPASSWORD",
    "PGDATABASE",
    "PGCONNECT_TIMEOUT",
    "DB_POOL_SIZE",
    "DB_POOL_MAX_LIFETIME_SECS",
];

/// The database the app writes to and how its pool behaves.
#[derive(Clone)]
pub struct DbSettings {
    /// Where and as whom to connect.
    pub config: postgres::Config,
    /// Connections kept open, always the same number (opened again when one is dropped).
    pub pool_size: u32,
    /// Age at which a pooled connection is replaced (checked whenever it is taken).
    pub max_lifetime: Duration,
}

impl std::fmt::Debug for DbSettings {
    // By hand: postgres::Config's Debug would print the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbSettings")
            .field("user", &self.config.get_user())
            .field("dbname", &self.config.get_dbname())
            .field("pool_size", &self.pool_size)
            .field("max_lifetime", &self.max_lifetime)
            .finish_non_exhaustive()
    }
}

impl DbSettings {
    /// Reads the settings through `var` (the process environment in the app). `None` when
    /// neither `DATABASE_URL` nor `PGHOST` is set: the app then runs without a database.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, String> {
        let url = var("DATABASE_URL").filter(|u| !u.is_empty());
        if url.is_none() && var("PGHOST").is_none() {
            return Ok(None);
        }
        let mut config = match &url {
            // The parser's messages name the bad key, never the value (which may hold the
            // password), so they can be shown as they are.
            Some(url) => postgres::Config::from_str(url).map_err(|e| {
                format!("DATABASE_URL is not a PostgreSQL connection URL or key=value string: {e}")
            })?,
            None => postgres::Config::new(),
        };
        fill_from_libpq_vars(&mut config, &var)?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name(APPLICATION_NAME);
        }
        Ok(Some(DbSettings {
            config,
            pool_size: number(&var, "DB_POOL_SIZE", 1, 100)?
                .map_or(DEFAULT_POOL_SIZE, |n| n as u32),
            max_lifetime: number(&var, "DB_POOL_MAX_LIFETIME_SECS", 1, 86_400)?
                .map_or(DEFAULT_MAX_LIFETIME, Duration::from_secs),
        }))
    }
}

/// libpq's rule: environment variables supply what the connection string leaves out.
fn fill_from_libpq_vars(
    config: &mut postgres::Config,
    var: &impl Fn(&str) -> Option<String>,
) -> Result<(), String> {
    if config.get_hosts().is_empty() {
        config.host(var("PGHOST").as_deref().unwrap_or("localhost"));
    }
    if config.get_ports().is_empty() {
        if let Some(port) = number(var, "PGPORT", 1, 65_535)? {
            config.port(port as u16);
        }
    }
    if config.get_user().is_none() {
        let user = var("PGUSER").or_else(|| var("USER"));
        config.user(user.as_deref().unwrap_or("postgres"));
    }
    if config.get_password().is_none() {
        if let Some(password) = var("PGPASSWORD") {
            config.password(password);
        }
    }
    if config.get_dbname().is_none() {
        if let Some(dbname) = var("PGDATABASE") {
            config.dbname(&dbname);
        }
    }
    if config.get_connect_timeout().is_none() {
        if let Some(secs) = number(var, "PGCONNECT_TIMEOUT", 1, 3_600)? {
            config.connect_timeout(Duration::from_secs(secs));
        }
    }
    Ok(())
}

/// Variable `name` as a whole number from `min` to `max`, if set.
fn number(
    var: &impl Fn(&str) -> Option<String>,
    name: &str,
    min: u64,
    max: u64,
) -> Result<Option<u64>, String> {
    let Some(text) = var(name) else {
        return Ok(None);
    };
    match text.trim().parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
        _ => Err(format!(
            "{name} must be a whole number from {min} to {max}, found {text:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use postgres::config::Host;

    fn settings(vars: &[(&str, &str)]) -> Result<Option<DbSettings>, String> {
        DbSettings::from_env(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn no_database_without_url_or_host() {
        assert!(settings(&[("PGUSER", "app")]).unwrap().is_none());
        assert!(settings(&[("DATABASE_URL", "")]).unwrap().is_none());
    }

    #[test]
    fn libpq_variables_fill_what_the_url_leaves_out() {
        let s = settings(&[
            ("DATABASE_URL", "postgres://app@10.0.0.5:6432/shop"),
            ("PGHOST", "elsewhere"),
            ("PGPASSWORD", "s3cret"),
            ("PGDATABASE", "other"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(s.config.get_hosts(), [Host::Tcp("10.0.0.5".into())]);
        assert_eq!(s.config.get_ports(), [6432]);
        assert_eq!(s.config.get_user(), Some("app"));
        assert_eq!(s.config.get_password(), Some(&b"s3cret"[..]));
        assert_eq!(s.config.get_dbname(), Some("shop"));
        assert_eq!(s.config.get_application_name(), Some(APPLICATION_NAME));
        assert_eq!(s.pool_size, DEFAULT_POOL_SIZE);
        assert_eq!(s.max_lifetime, DEFAULT_MAX_LIFETIME);
    }

    #[test]
    fn libpq_variables_alone_configure_everything() {
        let s = settings(&[
            ("PGHOST", "db1"),
            ("PGPORT", "5433"),
            ("PGUSER", "app"),
            ("PGDATABASE", "shop"),
            ("PGCONNECT_TIMEOUT", "7"),
            ("DB_POOL_SIZE", "2"),
            ("DB_POOL_MAX_LIFETIME_SECS", "30"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(s.config.get_hosts(), [Host::Tcp("db1".into())]);
        assert_eq!(s.config.get_ports(), [5433]);
        assert_eq!(
            s.config.get_connect_timeout(),
            Some(&Duration::from_secs(7))
        );
        assert_eq!((s.pool_size, s.max_lifetime), (2, Duration::from_secs(30)));
    }

    #[test]
    fn bad_values_are_named_with_their_range() {
        let err = |vars: &[(&str, &str)]| settings(vars).unwrap_err();
        assert_eq!(
            err(&[("PGHOST", "db"), ("DB_POOL_SIZE", "0")]),
            r#"DB_POOL_SIZE must be a whole number from 1 to 100, found "0""#
        );
        assert_eq!(
            err(&[("PGHOST", "db"), ("PGPORT", "http")]),
            r#"PGPORT must be a whole number from 1 to 65535, found "http""#
        );
        assert_eq!(
            err(&[("PGHOST", "db"), ("DB_POOL_MAX_LIFETIME_SECS", "5m")]),
            r#"DB_POOL_MAX_LIFETIME_SECS must be a whole number from 1 to 86400, found "5m""#
        );
    }

    #[test]
    fn a_bad_url_is_refused_without_echoing_its_password() {
        let e =
            settings(&[("DATABASE_URL", "postgres://u:hunter2@h/db?sslmode=maybe")]).unwrap_err();
        assert!(
            e.starts_with("DATABASE_URL is not a PostgreSQL connection URL"),
            "{e}"
        );
        assert!(!e.contains("hunter2"), "{e}");
        let s = settings(&[("DATABASE_URL", "postgres://u:hunter2@h/db")])
            .unwrap()
            .unwrap();
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
