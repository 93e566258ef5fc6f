//! MariaDB servers inside lab hosts, for tests and benchmarks: Debian's MariaDB 10.11
//! (`mariadbd`, installed by `scripts/install-deps.sh`) runs in the host's namespaces with its
//! own `/var/lib/mysql` and its own network.
//!
//! ```no_run
//! use cutover_testbed::{Lab, MariaOptions, MariaServer};
//! let lab = Lab::start()?;
//! let db = MariaServer::start(lab.host("old"), 3306, MariaOptions::primary(1))?;
//! db.sql("CREATE DATABASE shop")?;
//! assert_eq!(db.sql("SELECT 1")?.trim(), "1");
//! # Ok::<(), cutover_testbed::LabError>(())
//! ```
//!
//! Every server has `root@'%'` and `root@localhost` with the password
//! [`MariaServer::PASSWORD`] (no anonymous accounts: they would shadow named users from
//! localhost), listens on every address of its host, and is tuned for tests, not durability.

use crate::error::LabError;
use crate::host::LabHost;
use crate::run::{self, sh_quote};
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How a test server is configured.
#[derive(Debug, Clone)]
pub struct MariaOptions {
    /// `server_id` (distinct on every server that replicates).
    pub server_id: u32,
    /// The binary log on (`log_bin`), in `binlog_format`.
    pub log_bin: bool,
    /// `ROW`, `STATEMENT` or `MIXED`.
    pub binlog_format: String,
    /// `innodb_buffer_pool_size`.
    pub buffer_pool: String,
    /// More `--name=value` options for `mariadbd` (values written as given).
    pub settings: Vec<(String, String)>,
    /// A controller-side data directory (e.g. a cached benchmark dataset) copied in instead of
    /// running `mariadb-install-db`; it must come from a server of the same version.
    pub data_from: Option<PathBuf>,
}

impl MariaOptions {
    /// A server that can be replicated from: binary log on in `ROW` format, `server_id` `id`.
    pub fn primary(id: u32) -> Self {
        MariaOptions {
            server_id: id,
            log_bin: true,
            binlog_format: "ROW".into(),
            buffer_pool: "128M".into(),
            settings: Vec::new(),
            data_from: None,
        }
    }

    /// A server without a binary log.
    pub fn plain(id: u32) -> Self {
        MariaOptions {
            log_bin: false,
            ..Self::primary(id)
        }
    }
}

/// A MariaDB server running inside a lab host; stopped on drop (the lab kills whatever is
/// left at its own teardown).
#[derive(Debug)]
pub struct MariaServer {
    host: String,
    sshd_pid: u32,
    address: Ipv4Addr,
    port: u16,
    dir: String,
    dir_on_controller: PathBuf,
    options: MariaOptions,
    child: Option<Child>,
}

impl MariaServer {
    /// The password of `root` on every test server.
    pub const PASSWORD: &'static str = "cutover-test-pw";

    /// Initialises (or reuses) a data directory on `host` and starts the server on `port`.
    /// Its error log is registered with the lab, so it is printed if the test fails.
    pub fn start(host: &LabHost, port: u16, options: MariaOptions) -> Result<Self, LabError> {
        if !std::path::Path::new("/usr/sbin/mariadbd").exists() {
            return Err(LabError::MissingProgram {
                program: "/usr/sbin/mariadbd".into(),
                why: "a MariaDB server for tests".into(),
            });
        }
        let dir = format!("/var/lib/mysql/cutover-{port}");
        let mut server = MariaServer {
            host: host.name.clone(),
            sshd_pid: host.sshd_pid,
            address: host.address,
            port,
            dir_on_controller: host.fs_path(&dir),
            dir,
            options,
            child: None,
        };
        host.logs.add(
            format!("{}: MariaDB on port {port}", host.name),
            server.dir_on_controller.join("error.log"),
        );
        let fresh = !server.dir_on_controller.join("data/mysql").exists();
        if fresh {
            server.init()?;
        }
        server.launch()?;
        if fresh && server.options.data_from.is_none() {
            server.secure()?;
        }
        Ok(server)
    }

    fn init(&self) -> Result<(), LabError> {
        let data = format!("{}/data", self.dir);
        match &self.options.data_from {
            Some(src) => {
                let dst = self.dir_on_controller.join("data");
                std::fs::create_dir_all(&self.dir_on_controller)
                    .map_err(|e| LabError::io("create", &self.dir_on_controller, e))?;
                run::run_ok(
                    Command::new("cp").arg("-a").arg(src).arg(&dst),
                    "copy a cached MariaDB data directory",
                )?;
                self.inside(&format!("chown -R mysql: {}", sh_quote(&self.dir)))
                    .map(drop)
            }
            None => self
                .inside(&format!(
                    "mkdir -p {d} && chown mysql: {d} && mariadb-install-db --no-defaults --user=mysql --datadir={data} --auth-root-authentication-method=normal --skip-test-db >/dev/null",
                    d = sh_quote(&self.dir),
                    data = sh_quote(&data)
                ))
                .map(drop),
        }
    }

    /// The `mariadbd` command line.
    fn command_line(&self) -> String {
        let words: Vec<String> = self.server_args().iter().map(|a| sh_quote(a)).collect();
        format!("exec /usr/sbin/mariadbd {}", words.join(" "))
    }

    /// The arguments `mariadbd` runs with (`--user=mysql` first): what a test gives the
    /// same server run in a container instead, on the same data directory.
    pub fn server_args(&self) -> Vec<String> {
        let o = &self.options;
        let d = &self.dir;
        let mut args = vec![
            "--no-defaults".to_string(),
            "--user=mysql".into(),
            format!("--datadir={d}/data"),
            format!("--port={}", self.port),
            "--bind-address=0.0.0.0".into(),
            format!("--socket={d}/mysqld.sock"),
            format!("--pid-file={d}/mysqld.pid"),
            format!("--log-error={d}/error.log"),
            format!("--server-id={}", o.server_id),
            format!("--innodb-buffer-pool-size={}", o.buffer_pool),
            "--innodb-flush-log-at-trx-commit=2".into(),
            "--innodb-doublewrite=0".into(),
            "--skip-name-resolve".into(),
            "--max-connections=200".into(),
        ];
        if o.log_bin {
            args.push(format!("--log-bin={d}/data/binlog"));
            args.push(format!("--binlog-format={}", o.binlog_format));
            args.push("--sync-binlog=0".into());
        } else {
            args.push("--skip-log-bin".into());
        }
        args.extend(o.settings.iter().map(|(k, v)| format!("--{k}={v}")));
        args
    }

    fn launch(&mut self) -> Result<(), LabError> {
        let mut c = self.nsenter(&self.command_line());
        c.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = c.spawn().map_err(|e| LabError::Command {
            what: format!("start MariaDB on host {}", self.host),
            command: run::describe(&c),
            status: format!("could not run: {e}"),
            stderr: String::new(),
        })?;
        self.child = Some(child);
        let started = Instant::now();
        loop {
            let ping = self.inside(&format!(
                "mariadb-admin --no-defaults -S {}/mysqld.sock -uroot ping >/dev/null 2>&1 || MYSQL_PWD={} mariadb-admin --no-defaults -S {}/mysqld.sock -uroot ping",
                sh_quote(&self.dir),
                sh_quote(Self::PASSWORD),
                sh_quote(&self.dir)
            ));
            if ping.is_ok() {
                return Ok(());
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if exited.is_some() || started.elapsed() > Duration::from_secs(60) {
                let log = std::fs::read_to_string(self.dir_on_controller.join("error.log"))
                    .unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(15).collect();
                return Err(LabError::Command {
                    what: format!("start MariaDB on host {} port {}", self.host, self.port),
                    command: self.command_line(),
                    status: match exited {
                        Some(s) => format!("exited with {s}"),
                        None => "not ready after 60 s".into(),
                    },
                    stderr: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sets root's password and removes anonymous accounts and the other root accounts the
    /// installer made (`root@127.0.0.1` without a password would shadow `root@'%'`), through
    /// the socket, where a fresh root has no password.
    fn secure(&self) -> Result<(), LabError> {
        let pw = Self::PASSWORD;
        let sql = format!(
            "DELETE FROM mysql.global_priv WHERE User = '' OR (User = 'root' AND Host <> 'localhost');\n\
             FLUSH PRIVILEGES;\n\
             CREATE USER 'root'@'%' IDENTIFIED BY '{pw}';\n\
             GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;\n\
             ALTER USER 'root'@'localhost' IDENTIFIED BY '{pw}';\n"
        );
        self.client(None, &sql, false).map(drop)
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

    /// The server's Unix socket, as the host sees it.
    pub fn socket(&self) -> String {
        format!("{}/mysqld.sock", self.dir)
    }

    /// The data directory in the controller's view.
    pub fn data_dir_on_controller(&self) -> PathBuf {
        self.dir_on_controller.join("data")
    }

    /// Runs `sql` (any number of statements, stopping at the first error) as root through the
    /// socket; returns the tab-separated output without column names.
    pub fn sql(&self, sql: &str) -> Result<String, LabError> {
        self.client(None, sql, true)
    }

    /// Like [`MariaServer::sql`], in database `db`.
    pub fn sql_in(&self, db: &str, sql: &str) -> Result<String, LabError> {
        self.client(Some(db), sql, true)
    }

    fn client(&self, db: Option<&str>, sql: &str, password: bool) -> Result<String, LabError> {
        let mut line = format!(
            "exec mariadb --no-defaults -S {} -uroot -N -B",
            sh_quote(&self.socket())
        );
        if let Some(db) = db {
            line.push_str(&format!(" -D {}", sh_quote(db)));
        }
        let mut c = self.nsenter(&line);
        if password {
            c.env("MYSQL_PWD", Self::PASSWORD);
        }
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let what = format!("mariadb on {} port {}", self.host, self.port);
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
            .map_err(|e| LabError::io("wait for mariadb", PathBuf::from(&self.dir), e))?;
        if !out.status.success() {
            return Err(LabError::Command {
                what,
                command: format!("mariadb <<< {}", first_line(sql)),
                status: format!("exited with {}", out.status),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Runs shell `script` inside the host with `MYSQL_PWD` set to root's password (e.g.
    /// `mariadb-dump --no-defaults -uroot -S SOCKET shop | sha256sum`).
    pub fn shell(&self, script: &str) -> Result<String, LabError> {
        let mut c = self.nsenter(script);
        c.env("MYSQL_PWD", Self::PASSWORD);
        let out = run::run_ok(&mut c, &format!("run on host {}", self.host))?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Stops the server (a clean shutdown), keeping its data directory.
    pub fn stop(&mut self) -> Result<(), LabError> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let _ = self.inside(&format!(
            "MYSQL_PWD={} mariadb-admin --no-defaults -S {} -uroot shutdown",
            sh_quote(Self::PASSWORD),
            sh_quote(&self.socket())
        ));
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        Ok(())
    }

    /// Starts a stopped server again with the same options.
    pub fn restart(&mut self) -> Result<(), LabError> {
        self.stop()?;
        self.launch()
    }

    /// Restarts the server with `options` (its data kept): a binary log turned on or off.
    pub fn reconfigure(&mut self, options: MariaOptions) -> Result<(), LabError> {
        self.stop()?;
        self.options = options;
        self.launch()
    }

    /// Leaves the server running after this value is gone (the lab's teardown kills it).
    pub fn keep_running(mut self) {
        self.child = None;
    }

    fn inside(&self, script: &str) -> Result<String, LabError> {
        let out = run::run_ok(
            &mut self.nsenter(script),
            &format!("run on host {}", self.host),
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

impl Drop for MariaServer {
    fn drop(&mut self) {
        // Killed: the data is thrown away with the lab; this only frees the memory.
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn first_line(sql: &str) -> String {
    let line = sql.lines().next().unwrap_or_default();
    match line.char_indices().nth(80) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_string(),
    }
}
