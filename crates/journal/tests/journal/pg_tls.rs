//! `sslmode=verify-full` against the lab's PostgreSQL serving a certificate from a CA made
//! here with `rcgen`: the right CA connects, another CA and a wrong name are refused.

use super::Server;
use cutover_journal::{Journal, PgJournal, PgTarget, PgTls};
use cutover_testbed::PgOptions;
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, SanType};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
    issuer_params: CertificateParams,
}

fn ca(name: &str) -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let key = KeyPair::generate().unwrap();
    let cert = params.clone().self_signed(&key).unwrap();
    Ca {
        cert,
        key,
        issuer_params: params,
    }
}

/// Starts the server with TLS on: a certificate for its lab address signed by `ca`.
fn tls_server(ca: &Ca) -> Server {
    let s = Server::start_with(PgOptions::default());
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.subject_alt_names = vec![SanType::IpAddress(s.pg.address().into())];
    let key = KeyPair::generate().unwrap();
    let issuer = rcgen::Issuer::from_params(&ca.issuer_params, &ca.key);
    let cert = params.signed_by(&key, &issuer).unwrap();
    let dir = s.pg.data_dir_on_controller();
    write_private(&dir.join("server.crt"), &cert.pem());
    write_private(&dir.join("server.key"), &key.serialize_pem());
    s.pg.psql(
        "postgres",
        "ALTER SYSTEM SET ssl = on; SELECT pg_reload_conf();",
    )
    .unwrap();
    // The reload is asynchronous: wait until new sessions see it.
    for _ in 0..50 {
        if s.pg.psql("postgres", "SHOW ssl").unwrap().trim() == "on" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    s
}

fn write_private(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let status = std::process::Command::new("chown")
        .arg("postgres:")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

fn verify_full(s: &Server, root: &Path) -> PgTarget {
    PgTarget {
        tls: PgTls::VerifyFull {
            root: Some(root.to_path_buf()),
        },
        ..s.target()
    }
}

#[test]
fn verify_full_connects_with_the_servers_ca_and_refuses_another() {
    let right = ca("cutover test CA");
    let s = tls_server(&right);
    let dir = tempfile::tempdir().unwrap();
    let (good, bad) = (dir.path().join("ca.pem"), dir.path().join("other.pem"));
    std::fs::write(&good, right.cert.pem()).unwrap();
    std::fs::write(&bad, ca("someone else").cert.pem()).unwrap();

    let j = PgJournal::open(&verify_full(&s, &good), "demo").unwrap();
    let run = j.create_run("demo").unwrap();
    assert_eq!(j.latest_run().unwrap(), Some(run));
    let ssl = s
        .pg
        .psql("postgres", "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE s.ssl AND a.usename = 'cutover'")
        .unwrap();
    assert_ne!(ssl.trim(), "0", "the journal's session is not encrypted");

    let err = PgJournal::open(&verify_full(&s, &bad), "demo")
        .map(drop)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!(
            "journal postgres://cutover@{}:5432/db?sslmode=verify-full: cannot connect: ",
            s.pg.address()
        )),
        "{err}"
    );
    assert!(
        err.contains("invalid peer certificate: UnknownIssuer"),
        "{err}"
    );

    // Without `sslrootcert`, the system's roots: they do not vouch for a private CA.
    let system = PgTarget {
        tls: PgTls::VerifyFull { root: None },
        ..s.target()
    };
    let err = PgJournal::open(&system, "demo")
        .map(drop)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("invalid peer certificate: UnknownIssuer"),
        "{err}"
    );
}
