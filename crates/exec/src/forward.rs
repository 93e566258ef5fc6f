//! TCP connections opened FROM a plan's host (`ssh -W`, through the host's master
//! connection): probes of upstreams that listen on the host's loopback, or that only the
//! host can reach, see what the host sees. The stream is the `ssh` process's standard input
//! and output; nothing listens on this machine, so no other local user can use the way in.

use crate::error::ExecError;
use crate::executor::{Executor, Target};
use std::pin::Pin;
use std::process::Stdio;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::process::{Child, ChildStdin, ChildStdout};

/// A connection's byte stream, whichever way it was opened: TCP from this machine, or a
/// [`Forwarded`] one from a plan host.
pub trait ByteStream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> ByteStream for T {}

/// A plan host that connections are opened from, and the executor that reaches it.
#[derive(Clone)]
pub struct FromHost {
    /// The host's name in the plan.
    pub host: String,
    /// Reaches it.
    pub exec: Executor,
}

impl std::fmt::Debug for FromHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FromHost({})", self.host)
    }
}

impl FromHost {
    /// A connection from the host to `target`, or `None` when the host is this machine; see
    /// [`Executor::forward`].
    pub async fn forward(
        &self,
        target: &str,
        confirm: Duration,
    ) -> Result<Option<Forwarded>, ExecError> {
        self.exec.forward(&self.host, target, confirm).await
    }
}

/// A TCP connection from a host, as a byte stream; the `ssh` process ends when it is dropped.
pub struct Forwarded {
    child: Child,
    read: ChildStdout,
    write: ChildStdin,
}

impl Executor {
    /// A connection from `host` to `target` (`ADDRESS:PORT` or `NAME:PORT`, resolved by the
    /// host), or `None` when `host` is this machine (connect directly). Fails when the host
    /// cannot open it within `confirm` (refused, unreachable): `ssh` reports that by ending,
    /// and a connection still standing after `confirm` is taken as open.
    pub async fn forward(
        &self,
        host: &str,
        target: &str,
        confirm: Duration,
    ) -> Result<Option<Forwarded>, ExecError> {
        let Target::Ssh(t) = self.target(host)? else {
            return Ok(None);
        };
        self.connect(host).await?;
        let route = self.route(host).cloned().unwrap_or_default();
        let mut c = crate::ssh::ssh();
        c.args(t.args_via(&route))
            .args(["-o", "ControlMaster=no", "-W"])
            .arg(target)
            .arg("--")
            .arg(&t.destination)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = c.spawn().map_err(|source| ExecError::Spawn {
            host: host.to_string(),
            program: "ssh".into(),
            source,
        })?;
        // Taken first: waiting on the child would close its standard input, which ends the
        // forward.
        let (Some(read), Some(write)) = (child.stdout.take(), child.stdin.take()) else {
            return Err(ExecError::Io {
                host: host.to_string(),
                source: std::io::Error::other("ssh streams missing"),
            });
        };
        if let Ok(Ok(status)) = tokio::time::timeout(confirm, child.wait()).await {
            let mut why = String::new();
            if let Some(mut err) = child.stderr.take() {
                use tokio::io::AsyncReadExt;
                let _ = (&mut err).take(4096).read_to_string(&mut why).await;
            }
            let why = crate::ssh::frame(&why);
            return Err(ExecError::Io {
                host: host.to_string(),
                source: std::io::Error::other(format!(
                    "cannot open a connection from {host} to {target} ({status}): {}",
                    if why.is_empty() {
                        "ssh gave no reason".into()
                    } else {
                        why
                    }
                )),
            });
        }
        Ok(Some(Forwarded { child, read, write }))
    }
}

impl Forwarded {
    /// Ends the connection.
    pub async fn close(mut self) {
        let _ = self.child.kill().await;
    }
}

impl AsyncRead for Forwarded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.read).poll_read(cx, buf)
    }
}

impl AsyncWrite for Forwarded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.write).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.write).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.write).poll_shutdown(cx)
    }
}
