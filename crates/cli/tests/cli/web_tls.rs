//! The dashboard off loopback: served over TLS only, with a certificate whose fingerprint it
//! prints; a client pinned to that fingerprint connects (and one pinned to another does
//! not), plain HTTP gets no answer, and the token is still required.

use crate::fixture::Fixture;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::Duration;

/// A plan to show (nothing runs in these tests).
const PLAN: &str = r#"
[[stages]]
name = "only"
[[stages.steps]]
id = "hello"
kind = "run"
hosts = ["old"]
command = "true"
"#;

/// Accepts exactly the certificate whose SHA-256 fingerprint (`AB:CD:...`) it holds, and
/// checks the handshake's signatures with it.
#[derive(Debug)]
struct Pinned(String);

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let digest = ring::digest::digest(&ring::digest::SHA256, end_entity.as_ref());
        let seen: Vec<String> = digest.as_ref().iter().map(|b| format!("{b:02X}")).collect();
        if seen.join(":") == self.0 {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "fingerprint {}",
                seen.join(":")
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = rustls::crypto::ring::default_provider().signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, &algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = rustls::crypto::ring::default_provider().signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, &algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// `GET path` over TLS to `addr` with a client pinned to `fingerprint`: the status line, or
/// why the connection failed.
fn get_pinned(addr: SocketAddr, fingerprint: &str, path: &str) -> Result<String, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Pinned(fingerprint.to_string())))
        .with_no_client_auth();
    let name = ServerName::IpAddress(addr.ip().into());
    let conn = rustls::ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
    let tcp = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    tls.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut line = String::new();
    BufReader::new(tls)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    Ok(line.trim_end().to_string())
}

/// `cutover dashboard --listen ADDR:0`: the child, its URL and the fingerprint it printed.
fn start(f: &Fixture, listen: &str) -> (KillOnDrop, String, String) {
    let mut child = f
        .command(&["dashboard", "--listen", listen])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    for _ in 0..3 {
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        lines.push(line.trim_end().to_string());
    }
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    let url = lines[0].strip_prefix("dashboard: ").unwrap().to_string();
    let fingerprint = lines[1]
        .strip_prefix("TLS certificate SHA-256 fingerprint (check it in your browser): ")
        .unwrap_or_else(|| panic!("{lines:?}"))
        .to_string();
    (KillOnDrop(child), url, fingerprint)
}

#[test]
fn off_loopback_the_dashboard_serves_only_tls_to_its_printed_fingerprint_and_wants_the_token() {
    let f = Fixture::new(PLAN);
    // The lab's address on the controller's side: an interface, not loopback.
    let ip = f.lab.controller_address();
    let (_dash, url, fingerprint) = start(&f, &format!("{ip}:0"));
    let rest = url
        .strip_prefix("https://")
        .unwrap_or_else(|| panic!("{url}"));
    let (addr, token) = rest.split_once("/?token=").unwrap();
    let addr: SocketAddr = addr.parse().unwrap();
    assert_eq!(addr.ip().to_string(), ip.to_string());
    assert_eq!(fingerprint.len(), 32 * 3 - 1, "{fingerprint}");

    assert_eq!(
        get_pinned(addr, &fingerprint, &format!("/?token={token}")),
        Ok("HTTP/1.1 200 OK".to_string())
    );
    assert_eq!(
        get_pinned(addr, &fingerprint, "/"),
        Ok("HTTP/1.1 401 Unauthorized".to_string())
    );
    assert_eq!(
        get_pinned(addr, &fingerprint, "/?token=wrong"),
        Ok("HTTP/1.1 401 Unauthorized".to_string())
    );
    // A client pinned to another certificate does not get through the handshake.
    let other = fingerprint.replace(|c: char| c != ':', "0");
    let refused = get_pinned(addr, &other, &format!("/?token={token}")).unwrap_err();
    assert!(refused.contains("fingerprint"), "{refused}");

    // Plain HTTP, even with the token, gets no HTTP answer.
    let mut plain = TcpStream::connect(addr).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let req = format!("GET /?token={token} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    plain.write_all(req.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(
        !answer.starts_with(b"HTTP/"),
        "plain HTTP was answered: {}",
        String::from_utf8_lossy(&answer)
    );
}

#[test]
fn a_wildcard_address_is_refused_with_what_to_give_instead() {
    let f = Fixture::new(PLAN);
    let out = f.run(&["dashboard", "--listen", "0.0.0.0:8443"]);
    assert_eq!(
        out.stderr(),
        "error: --listen 0.0.0.0:8443: give the address viewers will open (e.g. 192.0.2.10:8443), not a wildcard\n"
    );
    assert_eq!(out.code(), 2);
}

/// The dashboard, ended when the test ends.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
