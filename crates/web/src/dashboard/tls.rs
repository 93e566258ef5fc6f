//! TLS for a dashboard off loopback: a self-signed certificate generated at each start for
//! the address it listens on; its SHA-256 fingerprint is printed so that viewers can check
//! what their browser shows.

use axum_server::tls_rustls::RustlsConfig;
use std::net::SocketAddr;

/// A server configuration and the certificate's fingerprint (`AB:CD:...`).
pub async fn config(addr: SocketAddr) -> Result<(RustlsConfig, String), String> {
    let names = vec![addr.ip().to_string()];
    let cert = rcgen::generate_simple_self_signed(names)
        .map_err(|e| format!("cannot make a certificate: {e}"))?;
    let fingerprint = ring_sha256(cert.cert.der());
    let config = RustlsConfig::from_pem(
        cert.cert.pem().into_bytes(),
        cert.signing_key.serialize_pem().into_bytes(),
    )
    .await
    .map_err(|e| format!("cannot set up TLS: {e}"))?;
    Ok((config, fingerprint))
}

fn ring_sha256(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    digest
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}
