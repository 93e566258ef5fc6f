//! The only place cutover runs commands: locally with `sh -c`, or remotely through SSH,
//! with environment through standard input, timeouts, and output redacted before anyone
//! sees it.

use crate::command::EnvValue;
use crate::command::{Command, Stdin};
use crate::error::ExecError;
use crate::redact::Redactor;
use crate::render::render_redacting;
use crate::ssh::route::Route;
use crate::ssh::SshTarget;
use crate::tracked::{OUTCOME_UNKNOWN, UNKNOWN_MARKER};
use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::sync::Semaphore;

/// How a host is reached.
#[derive(Debug, Clone)]
pub enum Target {
    /// This machine.
    Local,
    /// A remote machine over SSH.
    Ssh(SshTarget),
}

/// Sessions opened at once per host: OpenSSH servers allow 10 per connection by default.
const SESSIONS_PER_HOST: usize = 8;

/// The result of a finished command. Output is already redacted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// The host it ran on.
    pub host: String,
    /// Exit status; `None` when killed by a signal.
    pub code: Option<i32>,
    /// Standard output, redacted, lossily decoded.
    pub stdout: String,
    /// Standard error, redacted, lossily decoded.
    pub stderr: String,
    /// Wall-clock time.
    pub duration: Duration,
}

impl Output {
    /// True when the command exited with status 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// True when a tracked command's earlier run stopped without recording its outcome.
    pub fn outcome_unknown(&self) -> bool {
        self.code == Some(OUTCOME_UNKNOWN) && self.stderr.contains(UNKNOWN_MARKER)
    }
}

/// A started command with its standard streams (the prelude is already written).
pub struct Spawned {
    /// The process (local `sh` or `ssh`).
    pub child: tokio::process::Child,
    /// Its standard input, when [`Stdin::Piped`].
    pub stdin: Option<tokio::process::ChildStdin>,
    /// Its standard output.
    pub stdout: tokio::process::ChildStdout,
    /// Its standard error.
    pub stderr: tokio::process::ChildStderr,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

/// Runs commands on the plan's hosts.
#[derive(Clone)]
pub struct Executor {
    targets: Arc<HashMap<String, Target>>,
    sessions: Arc<HashMap<String, Arc<Semaphore>>>,
    /// Per SSH host, the route its master connection took, once it is up.
    masters: Arc<HashMap<String, Arc<tokio::sync::OnceCell<Route>>>>,
    redactor: Redactor,
}

/// How long a tracked command whose connection dropped is re-attached to before giving up
/// (a host rebooting, a flapping link).
pub const REATTACH_FOR: Duration = Duration::from_secs(60);

impl Executor {
    /// An executor for `targets` (host name to target) redacting with `redactor`.
    pub fn new(targets: HashMap<String, Target>, redactor: Redactor) -> Self {
        let sessions = targets
            .keys()
            .map(|k| (k.clone(), Arc::new(Semaphore::new(SESSIONS_PER_HOST))))
            .collect();
        let masters = targets
            .keys()
            .map(|k| (k.clone(), Arc::default()))
            .collect();
        Executor {
            targets: Arc::new(targets),
            sessions: Arc::new(sessions),
            masters: Arc::new(masters),
            redactor,
        }
    }

    /// The redactor every output goes through.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// The target of host `name`.
    pub fn target(&self, name: &str) -> Result<&Target, ExecError> {
        self.targets
            .get(name)
            .ok_or_else(|| ExecError::UnknownHost(name.to_string()))
    }

    /// Opens the SSH master connection to `host` once (nothing to do for local hosts);
    /// commands open it on first use, so calling this is only needed to check a host.
    pub async fn connect(&self, host: &str) -> Result<(), ExecError> {
        self.connect_route(host).await.map(|_| ())
    }

    /// The way the connection to `host` went (its jump hosts, a ProxyCommand of the SSH
    /// config), once [`Executor::connect`] succeeded; `None` for local hosts.
    pub fn route(&self, host: &str) -> Option<&Route> {
        self.masters.get(host).and_then(|cell| cell.get())
    }

    async fn connect_route(&self, host: &str) -> Result<Option<&Route>, ExecError> {
        let Target::Ssh(t) = self.target(host)? else {
            return Ok(None);
        };
        let cell = self
            .masters
            .get(host)
            .ok_or_else(|| ExecError::UnknownHost(host.to_string()))?;
        cell.get_or_try_init(|| t.connect()).await.map(Some)
    }

    /// True when this executor has reached `host` (always for a local one): the hosts where
    /// its commands may have left something.
    pub fn contacted(&self, host: &str) -> bool {
        match self.targets.get(host) {
            Some(Target::Local) => true,
            Some(Target::Ssh(_)) => self.masters.get(host).is_some_and(|c| c.initialized()),
            None => false,
        }
    }

    /// Closes every SSH master connection.
    pub async fn disconnect_all(&self) {
        for t in self.targets.values() {
            if let Target::Ssh(t) = t {
                t.disconnect().await;
            }
        }
    }

    /// Starts `cmd` and writes its environment prelude; the caller drives the streams.
    pub async fn spawn(&self, cmd: &Command) -> Result<Spawned, ExecError> {
        // A tracked command's output is kept on the host: the secrets it is given are
        // redacted there before anything is written.
        let hidden = match &cmd.track {
            Some(_) => self
                .redactor
                .found_in(cmd.env.iter().filter_map(|(_, v)| match v {
                    EnvValue::Secret(s) => Some(s.expose()),
                    EnvValue::Plain(_) => None,
                })),
            None => Vec::new(),
        };
        let rendered = render_redacting(cmd, &hidden)?;
        let route = self
            .connect_route(&cmd.host)
            .await?
            .cloned()
            .unwrap_or_default();
        let permit = self.sessions[self.checked_host(&cmd.host)?]
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ExecError::UnknownHost(cmd.host.clone()))?;
        let mut proc = match self.target(&cmd.host)? {
            Target::Local => {
                let mut c = tokio::process::Command::new("sh");
                c.arg("-c").arg(&rendered.line);
                c
            }
            Target::Ssh(t) => t.command(&route, &rendered.line),
        };
        proc.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let program = match self.target(&cmd.host)? {
            Target::Local => "sh",
            Target::Ssh(_) => "ssh",
        };
        let mut child = proc.spawn().map_err(|source| ExecError::Spawn {
            host: cmd.host.clone(),
            program: program.into(),
            source,
        })?;
        let io = |source| ExecError::Io {
            host: cmd.host.clone(),
            source,
        };
        let mut stdin = child.stdin.take();
        if let Some(input) = stdin.as_mut() {
            if !rendered.prelude.is_empty() {
                input.write_all(&rendered.prelude).await.map_err(io)?;
            }
        }
        let stdin = match &cmd.stdin {
            Stdin::Piped => stdin,
            Stdin::Null => None,
            Stdin::Bytes(bytes) => {
                if let Some(mut input) = stdin {
                    // A command that exits without reading its input is not an error here.
                    let _ = input.write_all(bytes).await;
                }
                None
            }
        };
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(io(std::io::Error::other("child streams missing")));
        };
        Ok(Spawned {
            child,
            stdin,
            stdout,
            stderr,
            _permit: permit,
        })
    }

    /// Runs `cmd` to completion and returns its redacted output. A tracked command whose
    /// connection drops while it runs is re-attached to (its wrapper, run again with the same
    /// invocation, waits for it and replays its outcome; it never starts it twice) for up to
    /// [`REATTACH_FOR`]; after that the error is [`ExecError::Lost`].
    pub async fn run(&self, cmd: &Command) -> Result<Output, ExecError> {
        if cmd.track.is_none() {
            return self.run_once(cmd).await;
        }
        // A host that cannot be reached at all is said at once: nothing ran there yet.
        self.connect(&cmd.host).await?;
        let started = Instant::now();
        let mut pause = Duration::from_millis(250);
        loop {
            let last = match self.run_once(cmd).await {
                Ok(mut out) => {
                    if crate::tracked::strip_end_marker(&mut out.stderr) {
                        out.duration = started.elapsed();
                        return Ok(out);
                    }
                    out.stderr
                }
                Err(ExecError::Connect { stderr, .. }) => stderr,
                Err(ExecError::Io { source, .. }) => source.to_string(),
                Err(e) => return Err(e),
            };
            let local = matches!(self.target(&cmd.host)?, Target::Local);
            if local || started.elapsed() >= REATTACH_FOR {
                return Err(ExecError::Lost {
                    host: cmd.host.clone(),
                    after: started.elapsed(),
                    stderr: last,
                });
            }
            tracing::warn!(host = %cmd.host, "connection lost while a tracked command ran; re-attaching");
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(4));
        }
    }

    async fn run_once(&self, cmd: &Command) -> Result<Output, ExecError> {
        let started = Instant::now();
        let mut s = self.spawn(cmd).await?;
        drop(s.stdin.take());
        let limit = cmd.max_stdout;
        let (child, stdout, stderr) = (&mut s.child, &mut s.stdout, &mut s.stderr);
        let (cut, cut_seen) = tokio::sync::watch::channel(false);
        let work = async {
            let read_out = async {
                let out = crate::bounded::read_limited(stdout, limit).await?;
                if out.is_err() {
                    // Past the limit the rest is left unread and the command is ended.
                    let _ = child.start_kill();
                    let _ = cut.send(true);
                }
                Ok::<_, std::io::Error>(out)
            };
            let read_err = crate::bounded::unless_cut(
                crate::bounded::read_stderr(stderr),
                cut_seen,
                Vec::new(),
            );
            let (out, err) = tokio::join!(read_out, read_err);
            let (out, err) = (out?, err?);
            let status = child.wait().await?;
            Ok::<_, std::io::Error>((status, out, err))
        };
        // The remote side enforces the timeout itself (coreutils `timeout`); this margin
        // only catches a connection that hangs.
        let status = match cmd.timeout {
            Some(t) => match tokio::time::timeout(t + Duration::from_secs(15), work).await {
                Ok(r) => r,
                Err(_) => {
                    let _ = s.child.kill().await;
                    return Err(ExecError::Timeout {
                        host: cmd.host.clone(),
                        after: t,
                    });
                }
            },
            None => work.await,
        }
        .map_err(|source| ExecError::Io {
            host: cmd.host.clone(),
            source,
        })?;
        let (status, out, err) = status;
        let Ok(out) = out else {
            return Err(ExecError::OutputTooLarge {
                host: cmd.host.clone(),
                limit,
            });
        };
        let code = status.code();
        if cmd.timeout.is_some() && code == Some(124) {
            return Err(ExecError::Timeout {
                host: cmd.host.clone(),
                after: cmd.timeout.unwrap_or_default(),
            });
        }
        let output = Output {
            host: cmd.host.clone(),
            code,
            stdout: self.redactor.redact_bytes(&out),
            stderr: self.redactor.redact_bytes(&err),
            duration: started.elapsed(),
        };
        if code == Some(255) {
            if let Target::Ssh(_) = self.target(&cmd.host)? {
                // 255 is ssh's own failure; the remote command never ran.
                let failure = crate::error::ConnectFailure::classify(&output.stderr);
                if failure != crate::error::ConnectFailure::Other {
                    return Err(ExecError::Connect {
                        host: cmd.host.clone(),
                        failure,
                        stderr: crate::ssh::frame(&output.stderr),
                    });
                }
            }
        }
        Ok(output)
    }

    fn checked_host<'a>(&self, host: &'a str) -> Result<&'a str, ExecError> {
        if self.sessions.contains_key(host) {
            Ok(host)
        } else {
            Err(ExecError::UnknownHost(host.to_string()))
        }
    }
}
