//! Probes ready to run (every template rendered), and what they run with.

use crate::http::{Client, HttpProbe};
use crate::outcome::{short, Outcome};
use crate::{dns::DnsProbe, host::HostProbe, smoke::SmokeProbe};
use cutover_exec::Executor;
use std::time::{Duration, Instant};

/// What probes run with: the HTTP client (shared keep-alive connections) and, for probes that
/// run a command on a host, the executor.
#[derive(Clone, Default)]
pub struct ProbeEnv {
    /// HTTP client.
    pub client: Client,
    /// Executor for command, SQL and Redis probes and log tails.
    pub exec: Option<Executor>,
}

/// One kind of probe.
#[derive(Debug, Clone)]
pub enum Probe {
    /// An HTTP(S) request.
    Http(HttpProbe),
    /// A TCP connection.
    Tcp(TcpProbe),
    /// A DNS answer.
    Dns(DnsProbe),
    /// A command on a host (also PostgreSQL, MySQL and Redis through their clients).
    Host(HostProbe),
    /// A Hurl scenario.
    Smoke(SmokeProbe),
}

/// A TCP connection to open.
#[derive(Debug, Clone)]
pub struct TcpProbe {
    /// "HOST:PORT".
    pub address: String,
    /// The plan host it is opened from (`None`: this machine).
    pub from: Option<String>,
}

impl TcpProbe {
    /// A connection from this machine to `address`.
    pub fn to(address: impl Into<String>) -> Self {
        TcpProbe {
            address: address.into(),
            from: None,
        }
    }
}

/// How long a connection opened from a host must stand before it counts as open: `ssh -W`
/// says nothing on success and ends on failure (refused, unreachable).
const FORWARD_CONFIRM: Duration = Duration::from_millis(300);

/// A probe with its name and time limit.
#[derive(Debug, Clone)]
pub struct NamedProbe {
    /// The check's name.
    pub name: String,
    /// Its kind as written in the plan.
    pub kind: &'static str,
    /// What it proves.
    pub description: Option<String>,
    /// Time limit of one run.
    pub timeout: Duration,
    /// The probe.
    pub probe: Probe,
}

/// Default time limit of one probe run.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A timeout noticed this much after its deadline means the controller was not running then.
const NOTICED_LATE: Duration = Duration::from_millis(100);
/// How long such a probe may still finish.
const LATE_GRACE: Duration = Duration::from_millis(200);

impl NamedProbe {
    /// A probe named `name` with the default timeout.
    pub fn new(name: impl Into<String>, probe: Probe) -> Self {
        let kind = match &probe {
            Probe::Http(_) => "http",
            Probe::Tcp(_) => "tcp",
            Probe::Dns(_) => "dns",
            Probe::Host(h) => h.kind,
            Probe::Smoke(_) => "smoke",
        };
        NamedProbe {
            name: name.into(),
            kind,
            description: None,
            timeout: DEFAULT_TIMEOUT,
            probe,
        }
    }

    /// Runs the probe once, within its time limit.
    pub async fn run(&self, env: &ProbeEnv) -> Outcome {
        let started = Instant::now();
        let work = async {
            match &self.probe {
                Probe::Http(h) => h.run(&env.client, env.exec.as_ref()).await,
                Probe::Tcp(t) => tcp(t, env.exec.as_ref()).await,
                Probe::Dns(d) => d.run().await,
                Probe::Host(h) => h.run(env.exec.as_ref()).await,
                Probe::Smoke(s) => s.run(&env.client).await,
            }
        };
        tokio::pin!(work);
        if let Ok(o) = tokio::time::timeout(self.timeout, &mut work).await {
            return o;
        }
        // Noticed late, the deadline passed while this process could not run (a starved or
        // paused machine): an answer may have come in meanwhile and only wait for its
        // connection's task. Counting it failed would turn one stall of the controller into
        // as many failures as probes were outstanding, so it gets a moment more.
        if started.elapsed() > self.timeout + NOTICED_LATE {
            if let Ok(o) = tokio::time::timeout(LATE_GRACE, &mut work).await {
                return o;
            }
        }
        Outcome::fail(
            started.elapsed(),
            "",
            format!(
                "no answer within {} (the check's `timeout`)",
                short(self.timeout)
            ),
        )
    }
}

async fn tcp(t: &TcpProbe, exec: Option<&Executor>) -> Outcome {
    let started = Instant::now();
    let addr = &t.address;
    if let Some(host) = &t.from {
        let Some(exec) = exec else {
            return Outcome::fail(
                started.elapsed(),
                "",
                format!("this probe connects from host `{host}`, which cannot be reached here"),
            );
        };
        match exec.forward(host, addr, FORWARD_CONFIRM).await {
            Ok(Some(f)) => {
                f.close().await;
                return Outcome::pass(
                    started.elapsed(),
                    format!("connected to {addr} from {host}"),
                );
            }
            Ok(None) => {} // the host is this machine
            Err(e) => return Outcome::fail(started.elapsed(), "", e.to_string()),
        }
    }
    match tokio::net::TcpStream::connect(addr).await {
        Ok(s) => {
            let peer = s
                .peer_addr()
                .map_or_else(|_| addr.to_string(), |a| a.to_string());
            Outcome::pass(
                started.elapsed(),
                format!("connected to {peer} in {}", short(started.elapsed())),
            )
        }
        Err(e) => Outcome::fail(
            started.elapsed(),
            "",
            format!("cannot connect to {addr}: {e}"),
        ),
    }
}
