//! Starting the test app on a lab host, with or without a database.

use super::db_config::DB_ENV_VARS;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the `cutover-testapp` binary is: next to the running test's target directory,
/// built on demand when a single-crate test run did not build it.
pub fn binary() -> Result<std::path::PathBuf, crate::LabError> {
    let exe = std::env::current_exe()
        .map_err(|e| crate::LabError::Invalid(format!("cannot find the test binary: {e}")))?;
    for dir in exe.ancestors().skip(1).take(3) {
        let candidate = dir.join("cutover-testapp");
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let status = std::process::Command::new(env!("CARGO"))
        .args([
            "build",
            "--quiet",
            "-p",
            "cutover-testbed",
            "--bin",
            "cutover-testapp",
        ])
        .current_dir(&workspace)
        .status()
        .map_err(|e| crate::LabError::Invalid(format!("cannot build cutover-testapp: {e}")))?;
    let built = workspace.join("target/debug/cutover-testapp");
    if status.success() && built.is_file() {
        Ok(built)
    } else {
        Err(crate::LabError::Invalid(
            "cutover-testapp could not be built".into(),
        ))
    }
}

/// A running test app; stopped when dropped (and in any case with its lab).
pub struct AppProcess {
    child: std::process::Child,
    /// Where it listens.
    pub addr: std::net::SocketAddr,
}

impl AppProcess {
    /// Its base URL, `http://ADDR:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The app's process id (it is exec'd in place of its shell), for tests that stop it
    /// with a signal: `SIGSTOP` makes a backend that accepts connections (the kernel
    /// completes the handshake) but never answers.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for AppProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `bin` as the host sees it: a build under a directory the host keeps private (a checkout
/// in `/tmp` or `/root`) is invisible inside it, so it is copied into the host's lab directory.
fn visible_on(host: &crate::LabHost, bin: &Path) -> Result<PathBuf, crate::LabError> {
    if host.fs_path(bin) == bin {
        return Ok(bin.to_path_buf());
    }
    let copy = host.dir.join("bin/cutover-testapp");
    if !copy.is_file() {
        let dir = host.dir.join("bin");
        std::fs::create_dir_all(&dir)
            .map_err(|e| crate::LabError::io("create directory", &dir, e))?;
        // Copied aside then renamed: two apps started at once on one host never exec a
        // half-written file.
        let partial = dir.join(format!(
            ".cutover-testapp.{:?}",
            std::thread::current().id()
        ));
        std::fs::copy(bin, &partial)
            .map_err(|e| crate::LabError::io("copy test app", &partial, e))?;
        std::fs::rename(&partial, &copy)
            .map_err(|e| crate::LabError::io("install test app", &copy, e))?;
    }
    Ok(copy)
}

/// How the app on a host reaches its database. Handed to the app in its environment
/// (`DATABASE_URL`, `PGPASSWORD`, `DB_POOL_SIZE`, `DB_POOL_MAX_LIFETIME_SECS`), so the
/// password never appears on a command line.
#[derive(Clone)]
pub struct AppDatabase {
    /// A URL without the password, e.g. [`PgServer::url`](crate::PgServer::url).
    pub url: String,
    /// The password (`PGPASSWORD`).
    pub password: Option<String>,
    /// Connections in the pool.
    pub pool_size: u32,
    /// Age at which a pooled connection is replaced.
    pub max_lifetime: Duration,
}

impl AppDatabase {
    /// Database `db` of a lab server as its superuser, with the app's default pool (4
    /// connections living 5 minutes).
    pub fn on(pg: &crate::PgServer, db: &str) -> AppDatabase {
        AppDatabase {
            url: pg.url(db),
            password: Some(crate::PgServer::PASSWORD.to_string()),
            pool_size: super::db_config::DEFAULT_POOL_SIZE,
            max_lifetime: super::db_config::DEFAULT_MAX_LIFETIME,
        }
    }
}

impl std::fmt::Debug for AppDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppDatabase")
            .field("url", &self.url)
            .field("pool_size", &self.pool_size)
            .field("max_lifetime", &self.max_lifetime)
            .finish_non_exhaustive()
    }
}

/// Starts the test app on `host` at its address and `port`, named after the host, and waits
/// until it accepts connections.
pub fn start_on(host: &crate::LabHost, port: u16) -> Result<AppProcess, crate::LabError> {
    start(host, port, None)
}

/// Like [`start_on`], with the app writing its orders to `db`.
pub fn start_with_database(
    host: &crate::LabHost,
    port: u16,
    db: &AppDatabase,
) -> Result<AppProcess, crate::LabError> {
    start(host, port, Some(db))
}

fn start(
    host: &crate::LabHost,
    port: u16,
    db: Option<&AppDatabase>,
) -> Result<AppProcess, crate::LabError> {
    let bin = visible_on(host, &binary()?)?;
    let addr = std::net::SocketAddr::from((host.address(), port));
    // Whatever the test process has in its environment must not configure the app.
    let mut env: Vec<(&str, Option<String>)> = DB_ENV_VARS.iter().map(|v| (*v, None)).collect();
    if let Some(db) = db {
        env.extend([
            ("DATABASE_URL", Some(db.url.clone())),
            ("PGPASSWORD", db.password.clone()),
            ("DB_POOL_SIZE", Some(db.pool_size.to_string())),
            (
                "DB_POOL_MAX_LIFETIME_SECS",
                Some(db.max_lifetime.as_secs().max(1).to_string()),
            ),
        ]);
    }
    let child = host.spawn_with_env(
        &format!(
            "exec {} --listen {addr} --name {}",
            bin.display(),
            host.name()
        ),
        &env,
    )?;
    let mut app = AppProcess { child, addr };
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
        if let Ok(Some(status)) = app.child.try_wait() {
            return Err(crate::LabError::Invalid(format!(
                "the test app on {} exited ({status}) before listening on {addr} (its log is printed with the lab's)",
                host.name()
            )));
        }
        if std::time::Instant::now() > deadline {
            return Err(crate::LabError::Invalid(format!(
                "the test app on {} did not start listening on {addr}",
                host.name()
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(app)
}
