//! Reverse-proxy switchers (blue/green): point a proxy at another upstream, through the
//! proxy's own control interface on its host. Switchers build [`Command`] values and hand them
//! to a [`Runner`] (the executor, or the engine's journaling context), so they work over SSH
//! and locally alike and their argv is testable without a proxy.

pub mod caddy;
pub mod dns_name;
pub mod haproxy;
pub mod kept;
pub mod nginx;

use async_trait::async_trait;
use cutover_exec::{Command, Executor, Output};

/// Every switcher kind, as written in `[proxies.NAME] kind = "..."`.
pub const KINDS: &[&str] = &["caddy", "haproxy", "nginx", "dns-name"];

/// Runs commands for a switcher.
#[async_trait]
pub trait Runner: Send + Sync {
    /// Runs `cmd` to completion.
    async fn run(&self, cmd: &Command) -> Result<Output, String>;
}

#[async_trait]
impl Runner for Executor {
    async fn run(&self, cmd: &Command) -> Result<Output, String> {
        Executor::run(self, cmd).await.map_err(|e| e.to_string())
    }
}

/// Why a switch failed.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// A command could not run or failed.
    #[error("{proxy}: {message}")]
    Failed {
        /// Which proxy (`caddy on old`).
        proxy: String,
        /// What failed, with the command's output, and what to do.
        message: String,
    },
    /// The new upstream is not healthy: nothing was changed.
    #[error("{proxy}: not switched to {upstream}: {reason}")]
    Unhealthy {
        /// Which proxy.
        proxy: String,
        /// The upstream refused.
        upstream: String,
        /// What the health gate saw.
        reason: String,
    },
}

/// A proxy that can be pointed at another upstream.
#[async_trait]
pub trait Switcher: Send + Sync {
    /// `caddy on old`, for messages.
    fn name(&self) -> String;

    /// The commands `switch` would run, for `cutover plan`.
    fn preview(&self, to: &str) -> Vec<String>;

    /// The upstream the proxy sends traffic to now (`address:port`).
    async fn current(&self, r: &dyn Runner) -> Result<String, ProxyError>;

    /// Points the proxy at `to`.
    async fn switch(&self, r: &dyn Runner, to: &str) -> Result<(), ProxyError>;

    /// Makes the switch to `to` outlive a reload or restart of the proxy, where its
    /// runtime change would not by itself (HAProxy's runtime API with a `config` file);
    /// what was done, or `None` when there is nothing to do.
    async fn persist(&self, _r: &dyn Runner, _to: &str) -> Result<Option<String>, ProxyError> {
        Ok(None)
    }

    /// True when a server connection that carried a request across a switch stays with the
    /// old upstream and is reused for the same client's next request (HAProxy; a second
    /// switch makes it drop such connections once idle). Caddy and nginx open connections
    /// to the new upstream after a switch.
    fn keeps_server_connections(&self) -> bool {
        false
    }

    /// For a proxy that [keeps server connections](Self::keeps_server_connections): makes it
    /// let go of them, while it keeps sending traffic to `live`, for at most `within` or
    /// until none is left open from its host to `old` (the upstream it was switched away
    /// from).
    async fn release_kept(
        &self,
        _r: &dyn Runner,
        _old: &str,
        _live: &str,
        _within: std::time::Duration,
    ) -> Result<Kept, ProxyError> {
        Ok(Kept::NotKept)
    }

    /// For a proxy that [keeps server connections](Self::keeps_server_connections) and was
    /// switched to `a`: flips it to `b` and back (two ways to reach the same place; it drops
    /// idle connections at each change) until none is left open from its host to `old`, or
    /// `within` is up. It ends pointed at `a`. A connection that carries a request
    /// at a change is kept, so one change catches it only by luck; this repeats until `ss`
    /// shows it gone.
    async fn drop_kept(
        &self,
        _r: &dyn Runner,
        _old: &str,
        _a: &str,
        _b: &str,
        _within: std::time::Duration,
    ) -> Result<Kept, ProxyError> {
        Ok(Kept::NotKept)
    }
}

/// What [`Switcher::release_kept`] and [`Switcher::drop_kept`] achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kept {
    /// The proxy keeps no connection across a switch (each request goes to `live`).
    NotKept,
    /// This many connections to `old` were still open when it stopped.
    Left(usize),
    /// The proxy cannot be made to let go of them (why): a plain wait is all there is.
    CannotRelease(String),
}

/// Runs `cmd`, turning a failure into a [`ProxyError`] with the command's output framed.
pub(crate) async fn run_ok(
    r: &dyn Runner,
    proxy: &str,
    cmd: &Command,
    what: &str,
) -> Result<Output, ProxyError> {
    let out = r.run(cmd).await.map_err(|e| ProxyError::Failed {
        proxy: proxy.to_string(),
        message: format!("{what}: {e}"),
    })?;
    if out.success() {
        return Ok(out);
    }
    let text = if out.stderr.trim().is_empty() {
        &out.stdout
    } else {
        &out.stderr
    };
    Err(ProxyError::Failed {
        proxy: proxy.to_string(),
        message: format!(
            "{what}: `{}` exited with {}:\n{}",
            cmd.display_command(),
            out.code.map_or("a signal".into(), |c| c.to_string()),
            cutover_exec::frame(text)
        ),
    })
}

/// Splits `address:port` (IPv6 in brackets) into its parts.
pub fn split_upstream(upstream: &str) -> Option<(String, u16)> {
    let (host, port) = upstream.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Some((host.to_string(), port.parse().ok()?))
}

#[cfg(test)]
mod commands_test;
