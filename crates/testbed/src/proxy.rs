//! Reverse proxies on a lab host, in front of upstreams on other hosts: Caddy with its admin
//! API on localhost:2019 (its `reverse_proxy` handler tagged `"@id": "cutover"`), HAProxy with
//! an admin stats socket, and nginx with its upstream in an include file. Each listens on
//! `address:port` of its host and stops when its handle drops (and with the lab anyway).

use crate::error::LabError;
use crate::host::LabHost;
use std::net::SocketAddr;
use std::process::Child;
use std::time::{Duration, Instant};

/// Where each proxy keeps its files on its host.
pub const CADDY_DIR: &str = "/tmp/cutover-caddy";
/// HAProxy's directory; its admin socket is `HAPROXY_DIR/admin.sock`.
pub const HAPROXY_DIR: &str = "/tmp/cutover-haproxy";
/// nginx's directory; config `NGINX_DIR/nginx.conf`, upstream include `NGINX_DIR/upstream.conf`.
pub const NGINX_DIR: &str = "/tmp/cutover-nginx";

/// A running proxy.
#[derive(Debug)]
pub struct Proxy {
    /// Where users reach it.
    pub listen: SocketAddr,
    /// Its control handle on the host: Caddy's admin address, HAProxy's socket path, or
    /// nginx's include file.
    pub control: String,
    /// Extra `nginx` arguments for `-t` and `-s reload` (`-c CONF`); empty for the others.
    pub nginx_args: Vec<String>,
    child: Option<Child>,
}

/// HAProxy's configuration file on its host (for a plan's `config`).
pub const HAPROXY_CONFIG: &str = "/tmp/cutover-haproxy/haproxy.cfg";

/// HAProxy's request log on its host, when it logs requests: a line per request (its time,
/// the write load's sequence number, the server and where its connection went, its timers).
pub const HAPROXY_REQUESTS: &str = "/tmp/cutover-haproxy/requests.log";

/// What each request's log line says, to find where a slow one waited: the accept time
/// (unix seconds and ms), the write load's sequence number (its `x-load-seq` header), the
/// server, where its connection really went and from which local port (the server's
/// address at log time is not that: a connection kept across an address change still goes
/// to the old one), HAProxy's timers (waiting for the request, queued, connecting, the
/// server's answer, in all; ms), the status, the retries and the termination state.
const HAPROXY_LOG_FORMAT: &str = "%Ts.%ms seq=%hr srv=%s to=%[bc_dst]:%[bc_dst_port] from=%bp TR=%TR Tw=%Tw Tc=%Tc Tr=%Tr Ta=%Ta st=%ST rc=%rc ts=%ts";

/// HAProxy in the foreground, its request log (stdout, when it logs requests) appended to
/// [`HAPROXY_REQUESTS`].
fn haproxy_command() -> String {
    format!("exec haproxy -db -f {HAPROXY_CONFIG} >>{HAPROXY_REQUESTS}")
}

impl Proxy {
    /// Stops HAProxy and starts it again from its configuration file, as a restart (or a
    /// reload, which also re-reads the file) does: the runtime API's changes are gone, what
    /// the file says is what it serves. Only for a proxy from [`start_haproxy`].
    pub fn restart_haproxy(&mut self, host: &LabHost) -> Result<(), LabError> {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
        // The old process's listening socket must be gone before the new one binds.
        let started = Instant::now();
        while std::net::TcpStream::connect_timeout(&self.listen, Duration::from_millis(100)).is_ok()
        {
            if started.elapsed() > Duration::from_secs(5) {
                return Err(LabError::Invalid(
                    "haproxy still listens after being killed".into(),
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child = Some(host.spawn(&haproxy_command())?);
        wait_listening(self.listen, "haproxy")
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn write(host: &LabHost, path: &str, text: &str) -> Result<(), LabError> {
    let real = host.fs_path(path);
    if let Some(parent) = real.parent() {
        std::fs::create_dir_all(parent).map_err(|e| LabError::io("create", parent, e))?;
    }
    std::fs::write(&real, text).map_err(|e| LabError::io("write", &real, e))
}

fn wait_listening(addr: SocketAddr, what: &str) -> Result<(), LabError> {
    let started = Instant::now();
    while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
        if started.elapsed() > Duration::from_secs(10) {
            return Err(LabError::Invalid(format!(
                "{what} does not listen on {addr} after 10 s (see its log)"
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Starts Caddy on `host` at `port`, proxying to `upstream`, admin API on localhost:2019.
pub fn start_caddy(host: &LabHost, port: u16, upstream: SocketAddr) -> Result<Proxy, LabError> {
    let listen = SocketAddr::from((host.address(), port));
    let config = serde_json::json!({
        "admin": {"listen": "localhost:2019"},
        "apps": {"http": {"servers": {"srv0": {
            "listen": [listen.to_string()],
            "automatic_https": {"disable": true},
            "routes": [{"handle": [{
                "handler": "reverse_proxy",
                "@id": "cutover",
                "upstreams": [{"dial": upstream.to_string()}]
            }]}]
        }}}}
    });
    write(
        host,
        &format!("{CADDY_DIR}/caddy.json"),
        &config.to_string(),
    )?;
    // Caddy needs writable config and data homes (LAB-NOTES).
    let child = host.spawn(&format!(
        "export HOME={CADDY_DIR} XDG_CONFIG_HOME={CADDY_DIR}/config XDG_DATA_HOME={CADDY_DIR}/data; exec caddy run --config {CADDY_DIR}/caddy.json"
    ))?;
    let proxy = Proxy {
        listen,
        control: "localhost:2019".into(),
        nginx_args: Vec::new(),
        child: Some(child),
    };
    wait_listening(listen, "caddy")?;
    Ok(proxy)
}

/// Starts HAProxy on `host` at `port`, backend `app` with one server `web` at `upstream`.
pub fn start_haproxy(host: &LabHost, port: u16, upstream: SocketAddr) -> Result<Proxy, LabError> {
    haproxy(host, port, upstream, false)
}

/// Like [`start_haproxy`], logging each request to [`HAPROXY_REQUESTS`] (for a bench that
/// traces its slow requests; a line per request is more than a test's load needs).
pub fn start_haproxy_logging_requests(
    host: &LabHost,
    port: u16,
    upstream: SocketAddr,
) -> Result<Proxy, LabError> {
    haproxy(host, port, upstream, true)
}

fn haproxy(
    host: &LabHost,
    port: u16,
    upstream: SocketAddr,
    log_requests: bool,
) -> Result<Proxy, LabError> {
    let listen = SocketAddr::from((host.address(), port));
    let socket = format!("{HAPROXY_DIR}/admin.sock");
    let (global_log, defaults_log, capture) = if log_requests {
        (
            "  log stdout format raw local0\n".to_string(),
            format!("  log global\n  log-format \"{HAPROXY_LOG_FORMAT}\"\n"),
            "  capture request header x-load-seq len 20\n",
        )
    } else {
        (String::new(), String::new(), "")
    };
    let conf = format!(
        "global\n  stats socket {socket} mode 600 level admin\n  pidfile {HAPROXY_DIR}/haproxy.pid\n{global_log}\
defaults\n  mode http\n{defaults_log}  timeout connect 2s\n  timeout client 30s\n  timeout server 30s\n  timeout http-keep-alive 30s\n  option http-keep-alive\n\
frontend web\n  bind {listen}\n{capture}  default_backend app\n\
backend app\n  server web {upstream}\n"
    );
    write(host, HAPROXY_CONFIG, &conf)?;
    let child = host.spawn(&haproxy_command())?;
    let proxy = Proxy {
        listen,
        control: socket,
        nginx_args: Vec::new(),
        child: Some(child),
    };
    wait_listening(listen, "haproxy")?;
    Ok(proxy)
}

/// Starts nginx on `host` at `port`, its upstream `app` read from an include holding
/// `server UPSTREAM;`.
pub fn start_nginx(host: &LabHost, port: u16, upstream: SocketAddr) -> Result<Proxy, LabError> {
    let listen = SocketAddr::from((host.address(), port));
    let d = NGINX_DIR;
    let conf = format!(
        "daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
events {{ worker_connections 1024; }}\n\
http {{\n  access_log off;\n  client_body_temp_path {d}/tmp;\n  proxy_temp_path {d}/tmp;\n  fastcgi_temp_path {d}/tmp;\n  uwsgi_temp_path {d}/tmp;\n  scgi_temp_path {d}/tmp;\n\
  upstream app {{ include {d}/upstream.conf; keepalive 16; }}\n\
  server {{ listen {listen}; location / {{ proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection \"\"; }} }}\n}}\n"
    );
    write(host, &format!("{d}/nginx.conf"), &conf)?;
    write(
        host,
        &format!("{d}/upstream.conf"),
        &format!("server {upstream};\n"),
    )?;
    std::fs::create_dir_all(host.fs_path(format!("{d}/tmp")))
        .map_err(|e| LabError::io("create", host.fs_path(d), e))?;
    let child = host.spawn(&format!("exec nginx -c {d}/nginx.conf"))?;
    let proxy = Proxy {
        listen,
        control: format!("{d}/upstream.conf"),
        nginx_args: vec!["-c".into(), format!("{d}/nginx.conf")],
        child: Some(child),
    };
    wait_listening(listen, "nginx")?;
    Ok(proxy)
}

/// Starts Caddy on `host` at `port` proxying to whatever `name` resolves to (A records asked of
/// `resolver`, re-asked every `refresh`), on upstream port `upstream_port`: Caddy 2.6's
/// `dynamic_upstreams` with source `a`. Switching then means changing the DNS record, with no
/// config reload.
pub fn start_caddy_dynamic(
    host: &LabHost,
    port: u16,
    name: &str,
    upstream_port: u16,
    resolver: SocketAddr,
    refresh: Duration,
) -> Result<Proxy, LabError> {
    let listen = SocketAddr::from((host.address(), port));
    let config = serde_json::json!({
        "admin": {"listen": "localhost:2019"},
        "apps": {"http": {"servers": {"srv0": {
            "listen": [listen.to_string()],
            "automatic_https": {"disable": true},
            "routes": [{"handle": [{
                "handler": "reverse_proxy",
                "@id": "cutover",
                "dynamic_upstreams": {
                    "source": "a",
                    "name": name,
                    "port": upstream_port.to_string(),
                    "refresh": format!("{}ms", refresh.as_millis()),
                    "resolver": {"addresses": [format!("udp/{resolver}")]}
                }
            }]}]
        }}}}
    });
    write(
        host,
        &format!("{CADDY_DIR}/caddy.json"),
        &config.to_string(),
    )?;
    let child = host.spawn(&format!(
        "export HOME={CADDY_DIR} XDG_CONFIG_HOME={CADDY_DIR}/config XDG_DATA_HOME={CADDY_DIR}/data; exec caddy run --config {CADDY_DIR}/caddy.json"
    ))?;
    let proxy = Proxy {
        listen,
        control: "localhost:2019".into(),
        nginx_args: Vec::new(),
        child: Some(child),
    };
    wait_listening(listen, "caddy")?;
    Ok(proxy)
}

/// Starts nginx on `host` at `port` proxying to `name:upstream_port`, the name resolved by
/// nginx's own resolver at `resolver` and cached for `valid` (whole seconds, at least 1: nginx
/// refuses `valid=200ms`). `proxy_pass` with a variable re-resolves without a reload, but it
/// opens a new upstream connection per request (no keep-alive pool for a name resolved at run
/// time): under sustained load the host runs out of ephemeral ports to TIME_WAIT sockets
/// (502s in the bench), so the host gets `net.ipv4.tcp_tw_reuse = 1`, as such a proxy needs.
pub fn start_nginx_resolving(
    host: &LabHost,
    port: u16,
    name: &str,
    upstream_port: u16,
    resolver: SocketAddr,
    valid: Duration,
) -> Result<Proxy, LabError> {
    let listen = SocketAddr::from((host.address(), port));
    let d = NGINX_DIR;
    let conf = format!(
        "daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
events {{ worker_connections 1024; }}\n\
http {{\n  access_log off;\n  client_body_temp_path {d}/tmp;\n  proxy_temp_path {d}/tmp;\n  fastcgi_temp_path {d}/tmp;\n  uwsgi_temp_path {d}/tmp;\n  scgi_temp_path {d}/tmp;\n\
  resolver {resolver} valid={valid}s ipv6=off;\n  resolver_timeout 2s;\n\
  server {{ listen {listen}; location / {{ set $backend \"{name}\"; proxy_pass http://$backend:{upstream_port}; proxy_http_version 1.1; proxy_set_header Connection \"\"; }} }}\n}}\n",
        valid = valid.as_secs().max(1)
    );
    write(host, &format!("{d}/nginx.conf"), &conf)?;
    std::fs::create_dir_all(host.fs_path(format!("{d}/tmp")))
        .map_err(|e| LabError::io("create", host.fs_path(d), e))?;
    host.exec_ok("sysctl -qw net.ipv4.tcp_tw_reuse=1")?;
    let child = host.spawn(&format!("exec nginx -c {d}/nginx.conf"))?;
    let proxy = Proxy {
        listen,
        control: String::new(),
        nginx_args: vec!["-c".into(), format!("{d}/nginx.conf")],
        child: Some(child),
    };
    wait_listening(listen, "nginx")?;
    Ok(proxy)
}
