//! Shared fixtures: a test CA and a server certificate made with the `openssl` CLI, and
//! Caddy terminating TLS on a lab host in front of the test app.

use cutover_testbed::{Lab, LabHost};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// The name the test certificate is issued for.
pub const NAME: &str = "app.example.test";

/// A test CA and a leaf certificate for [`NAME`], valid `days` days.
pub struct Certs {
    pub dir: tempfile::TempDir,
}

impl Certs {
    pub fn new(days: u32) -> Certs {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::write(
            d.join("leaf.ext"),
            format!("subjectAltName=DNS:{NAME}\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"),
        )
        .unwrap();
        let script = format!(
            "set -e
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 365 -subj '/CN=Cutover Test CA' -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout key.pem -out leaf.csr -subj '/CN={NAME}'
openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out cert.pem -days {days} -extfile leaf.ext"
        );
        let out = Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(d)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Certs { dir }
    }

    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }
}

/// Caddy on `host` at `port`, terminating TLS with `certs` and proxying to `upstream`.
pub struct TlsProxy {
    pub listen: SocketAddr,
    child: Child,
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn caddy_tls(
    _lab: &Lab,
    host: &LabHost,
    port: u16,
    upstream: SocketAddr,
    certs: &Certs,
) -> TlsProxy {
    let dir = "/srv/caddy-tls";
    let real = host.fs_path(dir);
    std::fs::create_dir_all(&real).unwrap();
    for f in ["cert.pem", "key.pem"] {
        std::fs::copy(certs.dir.path().join(f), real.join(f)).unwrap();
    }
    let listen = SocketAddr::from((host.address(), port));
    let config = serde_json::json!({
        "admin": {"disabled": true},
        "apps": {
            "http": {"servers": {"tls": {
                "listen": [listen.to_string()],
                "automatic_https": {"disable": true},
                "tls_connection_policies": [{"default_sni": NAME}],
                "routes": [{"handle": [{"handler": "reverse_proxy", "upstreams": [{"dial": upstream.to_string()}]}]}]
            }}},
            "tls": {"certificates": {"load_files": [{"certificate": format!("{dir}/cert.pem"), "key": format!("{dir}/key.pem")}]}}
        }
    });
    std::fs::write(real.join("caddy.json"), config.to_string()).unwrap();
    let child = host
        .spawn(&format!("export HOME={dir} XDG_CONFIG_HOME={dir}/config XDG_DATA_HOME={dir}/data; exec caddy run --config {dir}/caddy.json"))
        .expect("start caddy");
    wait_port(listen);
    TlsProxy { listen, child }
}

pub fn wait_port(addr: SocketAddr) {
    let started = Instant::now();
    while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "nothing listens on {addr}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Tells the test app at `app` to do `action` (`fail`, `ok`, `delay?ms=N`, `db?state=down`).
pub fn control(app: SocketAddr, action: &str) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(app).unwrap();
    write!(
        s,
        "POST /_control/{action} HTTP/1.0\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    assert!(out.contains("200"), "control {action}: {out}");
}

#[allow(dead_code)]
pub fn path(p: &Path) -> String {
    p.display().to_string()
}

/// An executor reaching the lab's hosts over SSH.
pub fn executor(lab: &Lab) -> cutover_exec::Executor {
    use cutover_exec::{Executor, Redactor, SshTarget, Target};
    let target = |name: &str| SshTarget {
        name: name.into(),
        destination: name.into(),
        port: None,
        user: None,
        identity: None,
        jump: None,
        known_hosts: None,
        config: Some(lab.ssh_config().to_path_buf()),
        connect_timeout: 5,
        control_dir: cutover_exec::control_dir_for(&lab.dir().display().to_string()),
    };
    let targets = ["old", "new"].map(|h| (h.to_string(), Target::Ssh(target(h))));
    Executor::new(
        std::collections::HashMap::from(targets),
        Redactor::default(),
    )
}
