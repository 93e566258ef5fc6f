//! Where a shared journal is and how to reach it: server, database, credentials and TLS.

use postgres::config::SslMode;
use postgres::{Client, Config, NoTls};
use std::path::PathBuf;
use std::time::Duration;

/// How the connection to the journal's server is protected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PgTls {
    /// Plain TCP (`sslmode=disable`): only for a server on a network you trust.
    Disable,
    /// TLS with the server's certificate checked against `root` (PEM; the system's roots
    /// when `None`) and its name against the host (`sslmode=verify-full`).
    VerifyFull {
        /// A CA bundle (`sslrootcert`).
        root: Option<PathBuf>,
    },
}

/// A PostgreSQL journal's connection settings. Its `Display` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct PgTarget {
    /// Server host name or address.
    pub host: String,
    /// Server port.
    pub port: u16,
    /// Role to log in as.
    pub user: String,
    /// Database.
    pub dbname: String,
    /// The role's password, from the plan's secrets (never from the URL or the command line).
    pub password: Option<String>,
    /// Transport protection.
    pub tls: PgTls,
}

impl std::fmt::Display for PgTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mode = match self.tls {
            PgTls::Disable => "disable",
            PgTls::VerifyFull { .. } => "verify-full",
        };
        write!(
            f,
            "postgres://{}@{}:{}/{}?sslmode={mode}",
            self.user, self.host, self.port, self.dbname
        )
    }
}

/// The password stays out of debug output too.
impl std::fmt::Debug for PgTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PgTarget({self})")
    }
}

/// How long to wait for the server to answer a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

impl PgTarget {
    /// Opens a session (on the calling thread: see [`super::worker`]).
    pub(crate) fn connect(&self, application: &str) -> Result<Client, String> {
        let mut config = Config::new();
        config
            .host(&self.host)
            .port(self.port)
            .user(&self.user)
            .dbname(&self.dbname)
            .application_name(application)
            .connect_timeout(CONNECT_TIMEOUT);
        if let Some(password) = &self.password {
            config.password(password);
        }
        let connected = match &self.tls {
            PgTls::Disable => {
                config.ssl_mode(SslMode::Disable);
                config.connect(NoTls)
            }
            PgTls::VerifyFull { root } => {
                config.ssl_mode(SslMode::Require);
                let tls = tokio_postgres_rustls::MakeRustlsConnect::new(client_config(root)?);
                config.connect(tls)
            }
        };
        connected.map_err(|e| format!("cannot connect: {}", describe(&e)))
    }
}

/// rustls settings that check the server's certificate chain against `root` (or the
/// system's roots) and its name against the host we asked for: libpq's `verify-full`.
fn client_config(root: &Option<PathBuf>) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    match root {
        Some(path) => {
            use rustls::pki_types::pem::PemObject;
            let certs = rustls::pki_types::CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("cannot read sslrootcert {}: {e}", path.display()))?;
            for cert in certs {
                let cert =
                    cert.map_err(|e| format!("sslrootcert {} is not PEM: {e}", path.display()))?;
                roots.add(cert).map_err(|e| {
                    format!(
                        "sslrootcert {} holds a bad certificate: {e}",
                        path.display()
                    )
                })?;
            }
            if roots.is_empty() {
                return Err(format!(
                    "sslrootcert {} holds no certificate",
                    path.display()
                ));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                return Err("no system CA certificates found for sslmode=verify-full: give the server's CA with sslrootcert=PATH".into());
            }
        }
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot set up TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// A client error with its causes, on one line (the server's message when it sent one).
pub(crate) fn describe(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} ({})", db.message(), db.code().code());
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}
