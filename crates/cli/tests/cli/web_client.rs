//! Talking to `cutover dashboard` in tests: starting it, plain HTTP requests with chosen
//! headers, server-sent event readers, and a WebDriver session on a real Chromium.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// A running `cutover dashboard`.
pub struct Dashboard {
    pub child: Child,
    pub url: String,
    pub addr: SocketAddr,
    pub token: String,
}

impl Dashboard {
    /// Starts it on the fixture's plan and reads the URL it prints.
    pub fn start(f: &crate::fixture::Fixture) -> Self {
        let mut child = f
            .command(&["dashboard"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start cutover dashboard");
        let mut line = String::new();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        out.read_line(&mut line).unwrap();
        // Keep reading what it prints next, so that it never writes into a closed pipe.
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        let url = line
            .trim()
            .strip_prefix("dashboard: ")
            .unwrap_or_else(|| panic!("first line: {line:?}"))
            .to_string();
        let rest = url.strip_prefix("http://").unwrap();
        let (addr, query) = rest.split_once("/?token=").unwrap();
        Dashboard {
            child,
            addr: addr.parse().unwrap(),
            token: query.to_string(),
            url,
        }
    }

    /// `METHOD PATH` with `headers`: the status code and the body.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String) {
        let mut s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        for (k, v) in headers {
            req += &format!("{k}: {v}\r\n");
        }
        req += "\r\n";
        req += body;
        s.write_all(req.as_bytes()).unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        let code = out.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
        let body = out
            .split_once("\r\n\r\n")
            .map_or(String::new(), |(_, b)| b.to_string());
        (code, body)
    }

    /// An event-stream reader (as a viewer), optionally resuming after `last`.
    pub fn viewer(&self, last: Option<i64>) -> BufReader<TcpStream> {
        let mut s = TcpStream::connect(self.addr).unwrap();
        let mut req = format!("GET /events HTTP/1.1\r\nHost: {}\r\nx-cutover-token: {}\r\nAccept: text/event-stream\r\n", self.addr, self.token);
        if let Some(l) = last {
            req += &format!("Last-Event-ID: {l}\r\n");
        }
        req += "\r\n";
        s.write_all(req.as_bytes()).unwrap();
        let mut r = BufReader::new(s);
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        assert!(line.starts_with("HTTP/1.1 200"), "{line}");
        r
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One server-sent event: its type, id and when it was read.
pub struct Sse {
    pub event: String,
    pub id: i64,
    pub data: String,
    pub received_ms: i64,
}

/// The next event from `r`, or `None` at `deadline`.
pub fn next_event(r: &mut BufReader<TcpStream>, deadline: Instant) -> Option<Sse> {
    let (mut event, mut id, mut data) = (String::new(), 0, String::new());
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        r.get_ref()
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .ok()?;
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if let Some(v) = line
            .strip_prefix("event: ")
            .or_else(|| line.strip_prefix("event:"))
        {
            event = v.to_string();
        } else if let Some(v) = line
            .strip_prefix("id: ")
            .or_else(|| line.strip_prefix("id:"))
        {
            id = v.parse().unwrap_or(0);
        } else if let Some(v) = line
            .strip_prefix("data: ")
            .or_else(|| line.strip_prefix("data:"))
        {
            data += v;
        } else if line.is_empty() && !event.is_empty() {
            return Some(Sse {
                event,
                id,
                data,
                received_ms: cutover_journal::now_ms(),
            });
        }
    }
}

/// A runtime for the WebDriver client.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Browser `n` of `driver`.
pub async fn session(
    driver: &cutover_testbed::browser::Chromedriver,
    n: usize,
) -> fantoccini::Client {
    fantoccini::ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(driver.capabilities(n))
        .connect(&driver.url())
        .await
        .unwrap_or_else(|e| panic!("cannot open a Chromium session: {e}"))
}

/// Waits up to `secs` for `js` (a script returning a boolean) to hold in the page.
pub async fn wait_for(c: &fantoccini::Client, js: &str, secs: u64, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if c.execute(js, vec![]).await.ok().and_then(|v| v.as_bool()) == Some(true) {
            return;
        }
        if Instant::now() > deadline {
            let text = c
                .execute("return document.body.innerText", vec![])
                .await
                .unwrap_or_default();
            panic!(
                "{what}: not within {secs} s; the page shows:\n{}",
                text.as_str().unwrap_or("")
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// CPU seconds (user + system) `pid` has used.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// Resident memory of `pid`, in MiB.
pub fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb / 1024.0
}
