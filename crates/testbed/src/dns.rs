//! Authoritative DNS servers on lab hosts: a BIND 9 primary accepting TSIG-signed RFC 2136
//! updates and NOTIFYing a BIND secondary, or a Knot primary, each on port 53 of its host's
//! address. Both follow the LAB-NOTES traps: each server's own `notify-source`,
//! `transfer-source` and `query-source`, `notify-delay 0` and `max-ixfr-ratio unlimited` (a
//! secondary then serves a change ~10-30 ms after the update), and Knot's storage directory
//! created before it starts. `notify-rate` (primary) and `serial-query-rate` (secondary) are
//! raised from their default 20/s: BIND's rate limiters then tick every 500 ms, so a change
//! made within 500 ms of the previous one (a switch and its rollback, back-to-back bench
//! trials) reached the secondary ~500 ms late. Servers stop when their handle drops (and with the lab anyway).
//!
//! ```no_run
//! use cutover_testbed::dns::{Zone, TsigKey, BindPair};
//! let lab = cutover_testbed::Lab::builder().host("old").host("new").host("dns").host("dns2").start()?;
//! let key = TsigKey::generate("cutover")?;
//! let zone = Zone::new("example.test", 300).record("www", "A", "198.51.100.10");
//! let dns = BindPair::start(lab.host("dns"), Some(lab.host("dns2")), &[zone], &key)?;
//! # Ok::<(), cutover_testbed::LabError>(())
//! ```

use crate::error::LabError;
use crate::host::LabHost;
use crate::run;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// How long a server may take to serve its zones.
const READY_WITHIN: Duration = Duration::from_secs(10);

/// A TSIG key as BIND and Knot configure it.
#[derive(Debug, Clone)]
pub struct TsigKey {
    /// The key's name (`cutover`).
    pub name: String,
    /// The algorithm name (`hmac-sha256`).
    pub algorithm: String,
    /// The secret, base64.
    pub secret: String,
}

impl TsigKey {
    /// A fresh random hmac-sha256 key made by `tsig-keygen`.
    pub fn generate(name: &str) -> Result<TsigKey, LabError> {
        let out = run::run_ok(
            Command::new("tsig-keygen").args(["-a", "hmac-sha256", name]),
            "generate a TSIG key",
        )?;
        let text = String::from_utf8_lossy(&out.stdout);
        let secret = text
            .split("secret \"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .ok_or_else(|| LabError::Invalid(format!("tsig-keygen printed no secret: {text}")))?;
        Ok(TsigKey {
            name: name.into(),
            algorithm: "hmac-sha256".into(),
            secret: secret.into(),
        })
    }
}

/// A zone to serve: its name, default TTL and records (relative names, `@` for the apex).
#[derive(Debug, Clone)]
pub struct Zone {
    /// The zone's name (`example.test`).
    pub name: String,
    /// `$TTL` of the zone file.
    pub ttl: u32,
    /// `(name, type, value, ttl)` lines.
    pub records: Vec<(String, String, String, Option<u32>)>,
}

impl Zone {
    /// An empty zone (SOA and NS records are added for the servers that serve it).
    pub fn new(name: &str, ttl: u32) -> Zone {
        Zone {
            name: name.trim_end_matches('.').to_string(),
            ttl,
            records: Vec::new(),
        }
    }

    /// Adds a record with the zone's default TTL.
    pub fn record(mut self, name: &str, rtype: &str, value: &str) -> Zone {
        self.records
            .push((name.into(), rtype.into(), value.into(), None));
        self
    }

    /// Adds a record with its own TTL.
    pub fn record_ttl(mut self, name: &str, rtype: &str, value: &str, ttl: u32) -> Zone {
        self.records
            .push((name.into(), rtype.into(), value.into(), Some(ttl)));
        self
    }

    /// The zone file, with `ns1` (and `ns2`) pointing at the servers.
    fn file(&self, servers: &[Ipv4Addr]) -> String {
        let z = &self.name;
        let mut f = format!(
            "$TTL {}\n@ IN SOA ns1.{z}. hostmaster.{z}. 1 60 30 600 5\n",
            self.ttl
        );
        for (i, addr) in servers.iter().enumerate() {
            let _ = writeln!(f, "@ IN NS ns{n}.{z}.\nns{n} IN A {addr}", n = i + 1);
        }
        for (name, rtype, value, ttl) in &self.records {
            let ttl = ttl.map(|t| t.to_string()).unwrap_or_default();
            let _ = writeln!(f, "{name} {ttl} IN {rtype} {value}");
        }
        f
    }
}

/// One running DNS server.
#[derive(Debug)]
pub struct DnsServer {
    /// The address it answers on (port 53).
    pub address: Ipv4Addr,
    /// Its pid (in the host's namespaces), for pausing it with SIGSTOP in tests.
    pub pid: u32,
    child: Child,
}

impl DnsServer {
    /// The `address:53` string.
    pub fn socket(&self) -> String {
        format!("{}:53", self.address)
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A BIND primary and an optional secondary, serving the same zones.
#[derive(Debug)]
pub struct BindPair {
    /// The primary: takes updates, NOTIFYs the secondary.
    pub primary: DnsServer,
    /// The secondary, fed by NOTIFY + IXFR.
    pub secondary: Option<DnsServer>,
}

impl BindPair {
    /// Starts BIND on `primary` (and `secondary`) for `zones`, updatable with `key`, and waits
    /// until every server answers for every zone.
    pub fn start(
        primary: &LabHost,
        secondary: Option<&LabHost>,
        zones: &[Zone],
        key: &TsigKey,
    ) -> Result<BindPair, LabError> {
        let p_addr = primary.address();
        let s_addr = secondary.map(|s| s.address());
        let servers: Vec<Ipv4Addr> = std::iter::once(p_addr).chain(s_addr).collect();
        let dir = "/tmp/cutover-bind";
        let mut conf = bind_options(dir, p_addr, key);
        for z in zones {
            write(primary, &format!("{dir}/{}.db", z.name), &z.file(&servers))?;
            let notify = match s_addr {
                Some(s) => format!("notify explicit; also-notify {{ {s}; }};"),
                None => "notify no;".into(),
            };
            let _ = writeln!(
                conf,
                "zone \"{n}\" {{ type primary; file \"{dir}/{n}.db\"; update-policy {{ grant {k} zonesub ANY; }}; ixfr-from-differences yes; {notify} allow-transfer {{ any; }}; }};",
                n = z.name,
                k = key.name
            );
        }
        write(primary, &format!("{dir}/named.conf"), &conf)?;
        let primary_server = spawn_named(primary, dir, p_addr)?;
        let secondary_server = match (secondary, s_addr) {
            (Some(host), Some(addr)) => {
                let mut conf = bind_options(dir, addr, key);
                for z in zones {
                    let _ = writeln!(
                        conf,
                        "zone \"{n}\" {{ type secondary; primaries {{ {p_addr}; }}; file \"{dir}/{n}.sec\"; notify no; }};",
                        n = z.name
                    );
                }
                write(host, &format!("{dir}/named.conf"), &conf)?;
                Some(spawn_named(host, dir, addr)?)
            }
            _ => None,
        };
        for server in std::iter::once(&primary_server).chain(secondary_server.as_ref()) {
            for z in zones {
                wait_serving(server.address, &z.name)?;
            }
        }
        Ok(BindPair {
            primary: primary_server,
            secondary: secondary_server,
        })
    }

    /// Every server, primary first.
    pub fn servers(&self) -> Vec<&DnsServer> {
        std::iter::once(&self.primary)
            .chain(self.secondary.as_ref())
            .collect()
    }
}

fn bind_options(dir: &str, addr: Ipv4Addr, key: &TsigKey) -> String {
    format!(
        "options {{
  directory \"{dir}\";
  pid-file \"{dir}/named.pid\";
  session-keyfile \"{dir}/session.key\";
  managed-keys-directory \"{dir}\";
  listen-on port 53 {{ {addr}; }};
  listen-on-v6 {{ none; }};
  recursion no;
  dnssec-validation no;
  notify-delay 0;
  notify-rate 1000;
  serial-query-rate 1000;
  max-ixfr-ratio unlimited;
  notify-source {addr};
  transfer-source {addr};
  query-source address {addr};
}};
controls {{ }};
key \"{name}\" {{ algorithm {alg}; secret \"{secret}\"; }};
",
        name = key.name,
        alg = key.algorithm,
        secret = key.secret
    )
}

/// Starts `server` (a BIND of [`BindPair::start`], killed by a test) again on `host` with the
/// same configuration and zone files (its update journal included).
pub fn restart(host: &LabHost, server: &DnsServer) -> Result<DnsServer, LabError> {
    let dir = "/tmp/cutover-bind";
    let s = spawn_named(host, dir, server.address)?;
    for _ in 0..200 {
        let up = std::process::Command::new("dig")
            .args(["+short", "+norec", "+time=1", "+tries=1"])
            .arg(format!("@{}", server.address))
            .args([".", "SOA"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if up {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    Ok(s)
}

fn spawn_named(host: &LabHost, dir: &str, addr: Ipv4Addr) -> Result<DnsServer, LabError> {
    let child = host.spawn(&format!("exec named -g -c {dir}/named.conf"))?;
    Ok(DnsServer {
        address: addr,
        pid: child.id(),
        child,
    })
}

/// A Knot primary (no secondary), updatable with `key`.
pub fn start_knot(host: &LabHost, zones: &[Zone], key: &TsigKey) -> Result<DnsServer, LabError> {
    let addr = host.address();
    let dir = "/tmp/cutover-knot";
    let mut conf = format!(
        "server:\n  listen: {addr}@53\n  rundir: {dir}\n  pidfile: {dir}/knot.pid\nkey:\n  - id: {k}\n    algorithm: {alg}\n    secret: {secret}\nacl:\n  - id: update\n    key: {k}\n    action: update\ndatabase:\n  storage: {dir}/db\ntemplate:\n  - id: default\n    storage: {dir}\n    zonefile-sync: -1\n    journal-content: changes\nzone:\n",
        k = key.name,
        alg = key.algorithm,
        secret = key.secret
    );
    for z in zones {
        write(host, &format!("{dir}/{}.zone", z.name), &z.file(&[addr]))?;
        let _ = writeln!(conf, "  - domain: {}\n    acl: update", z.name);
    }
    write(host, &format!("{dir}/knot.conf"), &conf)?;
    // Without the storage directory every update fails with SERVFAIL (LAB-NOTES).
    std::fs::create_dir_all(host.fs_path(format!("{dir}/db")))
        .map_err(|e| LabError::io("create knot storage", host.fs_path(dir), e))?;
    let child = host.spawn(&format!("exec knotd -c {dir}/knot.conf"))?;
    let server = DnsServer {
        address: addr,
        pid: child.id(),
        child,
    };
    for z in zones {
        wait_serving(addr, &z.name)?;
    }
    Ok(server)
}

fn write(host: &LabHost, path: &str, text: &str) -> Result<(), LabError> {
    let real = host.fs_path(path);
    if let Some(parent) = real.parent() {
        std::fs::create_dir_all(parent).map_err(|e| LabError::io("create", parent, e))?;
    }
    std::fs::write(&real, text).map_err(|e| LabError::io("write", &real, e))
}

/// Waits until `addr` answers authoritatively for `zone`'s SOA.
fn wait_serving(addr: Ipv4Addr, zone: &str) -> Result<(), LabError> {
    let started = Instant::now();
    loop {
        let out = run::output(
            Command::new("dig").args([
                "+norec",
                "+time=1",
                "+tries=1",
                &format!("@{addr}"),
                zone,
                "SOA",
            ]),
            "query a lab DNS server",
        )?;
        let text = String::from_utf8_lossy(&out.stdout);
        if text.contains("status: NOERROR") && text.contains(" aa") {
            return Ok(());
        }
        if started.elapsed() > READY_WITHIN {
            return Err(LabError::Invalid(format!(
                "DNS server {addr} does not serve zone {zone} after {READY_WITHIN:?}; last answer:\n{text}"
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
