//! PostgreSQL servers inside lab hosts, for tests and benchmarks: `initdb` and `pg_ctl` run as
//! the `postgres` user inside the host (its own `/var/lib/postgresql`, its own network), from
//! the toolsets `scripts/install-deps.sh` puts in `/opt/cutover/pg/MAJOR/bin`.
//!
//! ```no_run
//! use cutover_testbed::{Lab, PgOptions, PgServer};
//! let lab = Lab::start()?;
//! let pg = PgServer::start(lab.host("old"), 16, 5432, PgOptions::default())?;
//! pg.psql("postgres", "CREATE DATABASE app")?;
//! assert_eq!(pg.psql("app", "SELECT 1")?.trim(), "1");
//! # Ok::<(), cutover_testbed::LabError>(())
//! ```
//!
//! Every server has a superuser `postgres` whose password is [`PgServer::PASSWORD`]: local
//! socket connections are trusted (the helpers here), TCP ones need the password (what the
//! code under test uses, so its credentials path is exercised).

use crate::error::LabError;
use crate::host::LabHost;
use crate::logs::LogRegistry;
use crate::run::{self, sh_quote};
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Where the PostgreSQL toolsets live: `PG_ROOT/MAJOR/bin` (`CUTOVER_PG_ROOT` overrides).
pub const PG_ROOT: &str = "/opt/cutover/pg";

/// How a test server is configured.
#[derive(Debug, Clone, Default)]
pub struct PgOptions {
    /// `wal_level = logical` with room for replication slots and senders (publisher side).
    pub logical: bool,
    /// Keep `fsync` on. Off by default: tests and benchmarks compare tools, not disks.
    pub durable: bool,
    /// More `name = value` settings for `postgresql.conf` (values written as given).
    pub settings: Vec<(String, String)>,
    /// A controller-side data directory (e.g. a cached benchmark dataset) copied in as the
    /// server's data directory instead of running `initdb`; it must be of the same major.
    pub data_from: Option<PathBuf>,
}

/// A PostgreSQL server running inside a lab host; stopped on drop (the lab kills whatever
/// is left at its own teardown).
#[derive(Debug)]
pub struct PgServer {
    host: String,
    sshd_pid: u32,
    address: Ipv4Addr,
    major: u32,
    port: u16,
    data_dir: String,
    bin: PathBuf,
    host_dir_of_data: PathBuf,
    stopped: bool,
}

/// The toolset directory of PostgreSQL `major` (`/opt/cutover/pg/MAJOR/bin`).
pub fn pg_bin(major: u32) -> PathBuf {
    let root = std::env::var("CUTOVER_PG_ROOT").unwrap_or_else(|_| PG_ROOT.to_string());
    PathBuf::from(root).join(major.to_string()).join("bin")
}

impl PgServer {
    /// The password of the superuser `postgres` on every test server.
    pub const PASSWORD: &'static str = "cutover-test-pw";

    /// Initialises (or reuses) a data directory for `major` on `host` and starts the server
    /// on `port`, listening on 127.0.0.1 and the host's lab address. Its log is registered
    /// with the lab, so it is printed if the test fails.
    pub fn start(
        host: &LabHost,
        major: u32,
        port: u16,
        options: PgOptions,
    ) -> Result<PgServer, LabError> {
        let bin = pg_bin(major);
        if !bin.join("postgres").exists() {
            return Err(LabError::MissingProgram {
                program: bin.join("postgres").display().to_string(),
                why: format!("a PostgreSQL {major} server for tests"),
            });
        }
        let data_dir = format!("/var/lib/postgresql/cutover-{major}-{port}");
        let log = format!("{data_dir}.log");
        let server = PgServer {
            host: host.name.clone(),
            sshd_pid: host.sshd_pid,
            address: host.address,
            major,
            port,
            host_dir_of_data: host.fs_path(&data_dir),
            data_dir,
            bin,
            stopped: false,
        };
        register_log(&host.logs, &host.name, major, port, host.fs_path(&log));
        if !server.host_dir_of_data.join("PG_VERSION").exists() {
            server.init(&options)?;
        }
        server.configure(host, &options)?;
        server.as_postgres(&format!(
            "{} -D {} -l {} -w -t 60 start",
            sh_quote(&server.tool("pg_ctl")),
            sh_quote(&server.data_dir),
            sh_quote(&log)
        ))?;
        server.psql(
            "postgres",
            &format!("ALTER ROLE postgres PASSWORD '{}'", Self::PASSWORD),
        )?;
        Ok(server)
    }

    fn init(&self, options: &PgOptions) -> Result<(), LabError> {
        match &options.data_from {
            Some(src) => {
                let dst = &self.host_dir_of_data;
                run::run_ok(
                    Command::new("cp").arg("-a").arg(src).arg(dst),
                    "copy a cached PostgreSQL data directory",
                )?;
                run::run_ok(
                    Command::new("chown").arg("-R").arg("postgres:").arg(dst),
                    "chown the copied data directory",
                )?;
                Ok(())
            }
            None => self
                .as_postgres(&format!(
                    "{} -D {} -U postgres -A trust --no-sync -E UTF8 --locale=C.UTF-8 >/dev/null",
                    sh_quote(&self.tool("initdb")),
                    sh_quote(&self.data_dir)
                ))
                .map(drop),
        }
    }

    /// Writes `cutover.conf` (included from `postgresql.conf`) and `pg_hba.conf`.
    fn configure(&self, host: &LabHost, options: &PgOptions) -> Result<(), LabError> {
        let mut conf = vec![
            (
                "listen_addresses".to_string(),
                format!("'127.0.0.1,{}'", host.address),
            ),
            ("port".into(), self.port.to_string()),
            (
                "unix_socket_directories".into(),
                format!("'{}'", self.data_dir),
            ),
            ("max_connections".into(), "100".into()),
        ];
        if !options.durable {
            conf.push(("fsync".into(), "off".into()));
            conf.push(("full_page_writes".into(), "off".into()));
            conf.push(("synchronous_commit".into(), "off".into()));
        }
        if options.logical {
            conf.push(("wal_level".into(), "logical".into()));
            conf.push(("max_replication_slots".into(), "20".into()));
            conf.push(("max_wal_senders".into(), "20".into()));
        }
        conf.extend(options.settings.iter().cloned());
        let text: String = conf.iter().map(|(k, v)| format!("{k} = {v}\n")).collect();
        let dir = &self.host_dir_of_data;
        write(&dir.join("cutover.conf"), &text)?;
        let main = dir.join("postgresql.conf");
        let current = std::fs::read_to_string(&main).map_err(|e| LabError::io("read", &main, e))?;
        if !current.contains("include 'cutover.conf'") {
            write(&main, &format!("{current}\ninclude 'cutover.conf'\n"))?;
        }
        write(
            &dir.join("pg_hba.conf"),
            "# Written by cutover-testbed: the socket is trusted (test helpers), TCP needs a password.\n\
             local all all trust\n\
             local replication all trust\n\
             host all all 0.0.0.0/0 scram-sha-256\n\
             host replication all 0.0.0.0/0 scram-sha-256\n",
        )?;
        run::run_ok(
            Command::new("chown")
                .arg("postgres:")
                .arg(dir.join("cutover.conf")),
            "chown cutover.conf",
        )
        .map(drop)
    }

    /// The host the server runs on.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The server's log so far (its file beside the data directory).
    pub fn server_log(&self) -> String {
        let log = self
            .host_dir_of_data
            .with_file_name(format!("cutover-{}-{}.log", self.major, self.port));
        std::fs::read_to_string(&log)
            .unwrap_or_else(|e| format!("(cannot read {}: {e})", log.display()))
    }

    /// The host's lab address (the server listens there and on 127.0.0.1).
    pub fn address(&self) -> Ipv4Addr {
        self.address
    }

    /// The server's major version.
    pub fn major(&self) -> u32 {
        self.major
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The toolset directory of the server's major.
    pub fn bin(&self) -> &PathBuf {
        &self.bin
    }

    /// The data directory, as the host sees it.
    pub fn data_dir(&self) -> &str {
        &self.data_dir
    }

    /// The data directory in the controller's view.
    pub fn data_dir_on_controller(&self) -> &PathBuf {
        &self.host_dir_of_data
    }

    /// A URL reaching database `db` over TCP from inside the host (no password in it).
    pub fn local_url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// A URL reaching database `db` from any host of the lab or the controller.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@{}:{}/{db}", self.address, self.port)
    }

    fn tool(&self, name: &str) -> String {
        self.bin.join(name).display().to_string()
    }

    /// Runs `sql` (any number of statements, stopping at the first error) in database `db`
    /// through the local socket as `postgres`; returns the unaligned, tuples-only output.
    pub fn psql(&self, db: &str, sql: &str) -> Result<String, LabError> {
        let cmd = format!(
            "{} -X -q -At -v ON_ERROR_STOP=1 -h {} -p {} -d {} -f -",
            sh_quote(&self.tool("psql")),
            sh_quote(&self.data_dir),
            self.port,
            sh_quote(db)
        );
        let mut c = self.nsenter(&as_postgres_line(&cmd));
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let what = format!("psql on {} (PostgreSQL {})", self.host, self.major);
        let mut child = c.spawn().map_err(|e| LabError::Command {
            what: what.clone(),
            command: run::describe(&c),
            status: format!("could not run: {e}"),
            stderr: String::new(),
        })?;
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(sql.as_bytes());
        }
        let out = child
            .wait_with_output()
            .map_err(|e| LabError::io("wait for psql", PathBuf::from(&self.data_dir), e))?;
        if !out.status.success() {
            return Err(LabError::Command {
                what,
                command: format!("psql -d {db} <<< {}", first_line(sql)),
                status: format!("exited with {}", out.status),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Runs shell `script` inside the host as `postgres`, with the toolset first in `PATH`
    /// and `PGHOST`/`PGPORT`/`PGUSER` pointing at this server (e.g. `pgbench -i -s 10 app`).
    pub fn shell(&self, script: &str) -> Result<String, LabError> {
        let line = format!(
            "PATH={}:$PATH PGHOST={} PGPORT={} PGUSER=postgres; export PATH PGHOST PGPORT PGUSER; {script}",
            sh_quote(&self.bin.display().to_string()),
            sh_quote(&self.data_dir),
            self.port
        );
        self.as_postgres(&line)
    }

    /// Starts shell `script` like [`PgServer::shell`] but in the background; its output goes
    /// to the returned child's pipes. The lab kills it at teardown if the caller has not.
    pub fn spawn_shell(&self, script: &str) -> Result<std::process::Child, LabError> {
        let line = format!(
            "PATH={}:$PATH PGHOST={} PGPORT={} PGUSER=postgres; export PATH PGHOST PGPORT PGUSER; {script}",
            sh_quote(&self.bin.display().to_string()),
            sh_quote(&self.data_dir),
            self.port
        );
        let mut c = self.nsenter(&as_postgres_line(&line));
        c.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c.spawn().map_err(|e| LabError::Command {
            what: format!("start a background command on {}", self.host),
            command: run::describe(&c),
            status: format!("could not run: {e}"),
            stderr: String::new(),
        })
    }

    /// Leaves the server running after this value is gone (`cutover-lab pg`: the demo's
    /// servers outlive the command that started them; the lab's teardown kills them).
    pub fn keep_running(mut self) {
        self.stopped = true;
    }

    /// Stops a server a previous run left on `host` at `major`/`port` and deletes its data
    /// directory, so the next [`PgServer::start`] begins from `initdb`.
    pub fn remove(host: &LabHost, major: u32, port: u16) -> Result<(), LabError> {
        let data_dir = format!("/var/lib/postgresql/cutover-{major}-{port}");
        let pg_ctl = pg_bin(major).join("pg_ctl").display().to_string();
        let script = format!(
            "if [ -f {d}/postmaster.pid ]; then runuser -u postgres -- {ctl} -D {d} -m immediate -w stop >/dev/null 2>&1 || true; fi; rm -rf {d} {d}.log",
            d = sh_quote(&data_dir),
            ctl = sh_quote(&pg_ctl),
        );
        run::run_ok(
            &mut host.command(&script),
            &format!("remove PostgreSQL {major} on host {}", host.name),
        )
        .map(drop)
    }

    /// Stops the server (fast shutdown), keeping its data directory.
    pub fn stop(&mut self) -> Result<(), LabError> {
        self.stopped = true;
        self.as_postgres(&format!(
            "{} -D {} -m fast -w stop",
            sh_quote(&self.tool("pg_ctl")),
            sh_quote(&self.data_dir)
        ))
        .map(drop)
    }

    fn as_postgres(&self, script: &str) -> Result<String, LabError> {
        let out = run::run_ok(
            &mut self.nsenter(&as_postgres_line(script)),
            &format!("run as postgres on host {}", self.host),
        )?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
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

impl Drop for PgServer {
    fn drop(&mut self) {
        if self.stopped {
            return;
        }
        // Immediate: the data is thrown away with the lab; this only frees shared memory.
        let _ = self
            .nsenter(&as_postgres_line(&format!(
                "{} -D {} -m immediate -w stop",
                sh_quote(&self.tool("pg_ctl")),
                sh_quote(&self.data_dir)
            )))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn as_postgres_line(script: &str) -> String {
    format!("exec runuser -u postgres -- sh -c {}", sh_quote(script))
}

fn register_log(logs: &LogRegistry, host: &str, major: u32, port: u16, path: PathBuf) {
    logs.add(format!("{host}: PostgreSQL {major} on port {port}"), path);
}

fn write(path: &std::path::Path, text: &str) -> Result<(), LabError> {
    std::fs::write(path, text).map_err(|e| LabError::io("write", path, e))
}

fn first_line(sql: &str) -> String {
    let line = sql.lines().next().unwrap_or_default();
    match line.char_indices().nth(80) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_string(),
    }
}
