//! Holding requests at a proxy while a coordinated switch moves writes and traffic: the
//! proxy's upstream is pointed at a relay run by cutover's agent on the proxy's host
//! ([`relay`]), which keeps each connection waiting until [`Hold::release`] names the new
//! upstream, then carries it there. Clients see latency for the length of the hold, not
//! errors; the proxy itself is switched by its own switcher (crates/traffic).

pub mod relay;

pub use relay::{Relay, RelayStats};

use crate::agent::protocol::{Reply, Request};
use crate::agent::session::{AgentBinary, Session};
use crate::agent::AgentError;
use cutover_exec::Executor;
use std::time::{Duration, Instant};

/// A relay holding a proxy's requests, driven from the controller.
pub struct Hold {
    session: Session,
    /// The proxy's host.
    pub host: String,
    /// The relay's port on that host (the proxy's upstream is `127.0.0.1:PORT`).
    pub port: u16,
    /// A second port of the same relay (0 when the agent has none).
    pub alt_port: u16,
}

impl Hold {
    /// Starts a relay on `host` listening on `127.0.0.1` (any free port), holding each
    /// connection up to `max_hold`; `fallback` (the previous upstream) gets the connections
    /// if the controller goes away before releasing.
    pub async fn start(
        exec: &Executor,
        host: &str,
        agent: &AgentBinary,
        sudo: bool,
        max_hold: Duration,
        fallback: &str,
    ) -> Result<Hold, AgentError> {
        let mut session = Session::open(exec, host, agent, sudo).await?;
        session
            .send(&Request::Hold {
                listen: "127.0.0.1:0".into(),
                max_hold_ms: max_hold.as_millis() as u64,
                fallback: fallback.into(),
            })
            .await?;
        match session.recv().await? {
            Reply::Holding { port, alt_port } => Ok(Hold {
                session,
                host: host.into(),
                port,
                alt_port,
            }),
            other => Err(session.unexpected(&other)),
        }
    }

    /// The upstream the proxy is pointed at to hold: `127.0.0.1:PORT`.
    pub fn upstream(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The same relay at another port. HAProxy keeps a server connection that carried a
    /// request when its server's address changed, and reuses it for the client's next
    /// request: to the old upstream, around the relay. A second address change, once those
    /// requests have drained, makes it drop them (it drops idle connections on a change).
    pub fn alt_upstream(&self) -> Option<String> {
        (self.alt_port != 0).then(|| format!("127.0.0.1:{}", self.alt_port))
    }

    /// Carries every held and new connection to `to`.
    pub async fn release(&mut self, to: &str) -> Result<RelayStats, AgentError> {
        self.ask(Request::Release { to: to.into() }).await
    }

    /// The relay's figures so far.
    pub async fn stats(&mut self) -> Result<RelayStats, AgentError> {
        self.ask(Request::RelayStats).await
    }

    /// Once the proxy no longer points at the relay: waits up to `drain` for the
    /// connections it still carries to end, then stops it. Returns its final figures.
    pub async fn finish(mut self, drain: Duration) -> Result<RelayStats, AgentError> {
        let started = Instant::now();
        loop {
            let s = self.stats().await?;
            if s.open == 0 || started.elapsed() >= drain {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let stats = self.ask(Request::Unhold).await?;
        self.session.leave().await;
        Ok(stats)
    }

    async fn ask(&mut self, r: Request) -> Result<RelayStats, AgentError> {
        self.session.send(&r).await?;
        match self.session.recv().await? {
            Reply::Relayed { stats } => Ok(stats),
            other => Err(self.session.unexpected(&other)),
        }
    }
}
