//! TLS for probes: which roots are trusted (the system store, plus a plan's own CA file for
//! private CAs), and what a failed handshake means in words an operator can act on.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{CertificateError, ClientConfig, RootCertStore};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// The system's trusted roots, loaded once per process (reading /etc/ssl/certs takes ~10 ms).
fn system_roots() -> &'static Vec<CertificateDer<'static>> {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        for e in &found.errors {
            tracing::debug!("system trust store: {e}");
        }
        found.certs
    })
}

/// Builds a client configuration trusting the system roots and, when given, every
/// certificate in the PEM file `ca_file`.
pub fn config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    let (_added, _ignored) = roots.add_parsable_certificates(system_roots().iter().cloned());
    if let Some(path) = ca_file {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("cannot read CA file {}: {e}", path.display()))?
            .collect::<Result<_, _>>()
            .map_err(|e| format!("CA file {} is not valid PEM: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!(
                "CA file {} holds no certificate (expected PEM `-----BEGIN CERTIFICATE-----` blocks)",
                path.display()
            ));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| {
                format!("CA file {}: a certificate was refused: {e}", path.display())
            })?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Client configurations by CA file, built once each.
#[derive(Default)]
pub struct Configs {
    built: std::sync::Mutex<Vec<(Option<PathBuf>, Arc<ClientConfig>)>>,
}

impl Configs {
    /// The configuration for `ca_file`.
    pub fn get(&self, ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, String> {
        let mut built = self.built.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, c)) = built.iter().find(|(k, _)| k.as_deref() == ca_file) {
            return Ok(c.clone());
        }
        let c = config(ca_file)?;
        built.push((ca_file.map(Path::to_path_buf), c.clone()));
        Ok(c)
    }
}

/// Explains a failed TLS handshake with `host`, or `None` when it was not a TLS error.
pub fn explain(e: &std::io::Error, host: &str) -> Option<String> {
    let inner = e.get_ref()?.downcast_ref::<rustls::Error>()?;
    Some(match inner {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::NotValidForName => format!("the certificate is not valid for `{host}`"),
            CertificateError::NotValidForNameContext { presented, .. } => format!(
                "the certificate is not valid for `{host}`: it names {}",
                presented.join(", ")
            ),
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "the certificate has expired".to_string()
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "the certificate is not valid yet (check the clocks)".to_string()
            }
            CertificateError::UnknownIssuer => "the certificate chain does not lead to a trusted root (self-signed, a private CA, or a missing intermediate); for a private CA set `ca_file`".to_string(),
            CertificateError::Revoked => "the certificate is revoked".to_string(),
            CertificateError::BadSignature => "the certificate chain has a bad signature".to_string(),
            other => format!("invalid certificate: {other:?}"),
        },
        rustls::Error::AlertReceived(alert) => format!(
            "the server ended the handshake ({alert:?} alert): it may have no certificate for `{host}`, or accept no TLS version or cipher in common"
        ),
        other => format!("TLS handshake failed: {other}"),
    })
}
