//! A real headless Chromium for tests of web pages, through its WebDriver (Debian's
//! `chromedriver`): started on a free loopback port, torn down on drop, its log shown when it
//! does not come up. The browser it opens reaches nothing but loopback and local files:
//! every other request goes to a proxy that is not there, so a page that needs the network
//! shows it.

use crate::error::LabError;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The WebDriver server.
const DRIVER: &str = "chromedriver";
/// The browser.
const BROWSER: &str = "/usr/bin/chromium";

/// A running chromedriver.
pub struct Chromedriver {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
}

impl Chromedriver {
    /// Starts chromedriver on a free loopback port and waits until it answers.
    pub fn start() -> Result<Self, LabError> {
        for program in [DRIVER, BROWSER] {
            if Command::new(program).arg("--version").output().is_err() {
                return Err(LabError::MissingProgram {
                    program: program.into(),
                    why: "browser tests of the report and the dashboard".into(),
                });
            }
        }
        let addr = free_loopback_port()?;
        let dir = std::env::temp_dir().join(format!(
            "cutover-chromium-{}-{}",
            std::process::id(),
            addr.port()
        ));
        std::fs::create_dir_all(&dir).map_err(|source| LabError::Io {
            what: "create the browser's directory".into(),
            path: dir.clone(),
            source,
        })?;
        let log = dir.join("chromedriver.log");
        let child = Command::new(DRIVER)
            .arg(format!("--port={}", addr.port()))
            .arg("--allowed-ips=127.0.0.1")
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| LabError::Command {
                what: "start chromedriver".into(),
                command: DRIVER.into(),
                status: format!("could not start: {e}"),
                stderr: String::new(),
            })?;
        let mut driver = Chromedriver { child, addr, dir };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if Instant::now() > deadline || driver.child.try_wait().ok().flatten().is_some() {
                return Err(LabError::Command {
                    what: "wait for chromedriver".into(),
                    command: format!("{DRIVER} --port={}", addr.port()),
                    status: "did not listen within 20 s".into(),
                    stderr: std::fs::read_to_string(&log).unwrap_or_default(),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(driver)
    }

    /// The WebDriver URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Capabilities of a headless Chromium with its own profile that reaches only loopback
    /// and files (`n` tells apart several browsers of one driver).
    pub fn capabilities(&self, n: usize) -> serde_json::Map<String, serde_json::Value> {
        let profile = self.dir.join(format!("profile-{n}"));
        let args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--no-first-run".into(),
            "--disable-quic".into(),
            // Everything but loopback goes to a proxy nobody listens on: no network.
            "--proxy-server=127.0.0.1:9".into(),
            "--window-size=1200,900".into(),
            format!("--user-data-dir={}", profile.display()),
        ];
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), "chrome".into());
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({ "binary": BROWSER, "args": args }),
        );
        caps
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A loopback port below the ephemeral range that nothing listens on now.
fn free_loopback_port() -> Result<SocketAddr, LabError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64);
    let seed = std::process::id() as u64 ^ now;
    for i in 0..200u64 {
        let port =
            20_000 + ((seed.wrapping_mul(2_654_435_761).wrapping_add(i * 7_919)) % 12_000) as u16;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        if TcpListener::bind(addr).is_ok() {
            return Ok(addr);
        }
    }
    Err(LabError::Invalid(
        "no free loopback port for chromedriver".into(),
    ))
}
