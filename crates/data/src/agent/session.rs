//! The controller's end of an agent: started over SSH from the binary uploaded once to
//! `~/.cache/cutover/bin/cutover-<hash>` (re-uploaded when missing or when it no longer
//! hashes to its name), or run in-process for the controller's own machine. The agent runs
//! the controller's own executable, so the remote host must have the controller's OS and
//! architecture (Linux x86_64 here); `CUTOVER_AGENT_BIN` names another binary to upload.

use super::protocol::{Reply, Request};
use super::AgentError;
use cutover_exec::{Command, Executor, Stdin, Target};
use std::path::PathBuf;
use std::sync::OnceLock;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

/// The executable uploaded and run as the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentBinary {
    /// The file.
    pub path: PathBuf,
    /// Arguments that select the agent (`["agent"]` for `cutover`).
    pub args: Vec<String>,
}

impl AgentBinary {
    /// `CUTOVER_AGENT_BIN` if set (a binary serving the agent without arguments), else this
    /// very executable with `agent`.
    pub fn current() -> Result<Self, AgentError> {
        if let Some(p) = std::env::var_os("CUTOVER_AGENT_BIN") {
            return Ok(AgentBinary {
                path: p.into(),
                args: Vec::new(),
            });
        }
        let path = std::env::current_exe().map_err(|e| AgentError::Binary(e.to_string()))?;
        Ok(AgentBinary {
            path,
            args: vec!["agent".into()],
        })
    }

    /// The first 32 hex digits of the binary's BLAKE3 hash, computed once per process.
    pub fn hash(&self) -> Result<String, AgentError> {
        static CACHE: OnceLock<std::sync::Mutex<Vec<(PathBuf, String)>>> = OnceLock::new();
        let cache = CACHE.get_or_init(Default::default);
        if let Ok(c) = cache.lock() {
            if let Some((_, h)) = c.iter().find(|(p, _)| *p == self.path) {
                return Ok(h.clone());
            }
        }
        let h = hash_file(&self.path)
            .map_err(|e| AgentError::Binary(format!("{}: {e}", self.path.display())))?;
        if let Ok(mut c) = cache.lock() {
            c.push((self.path.clone(), h.clone()));
        }
        Ok(h)
    }
}

fn hash_file(path: &std::path::Path) -> std::io::Result<String> {
    let mut h = blake3::Hasher::new();
    h.update_mmap_rayon(path)?;
    Ok(h.finalize().to_hex()[..32].to_string())
}

/// The hash of the running executable, as [`AgentBinary::hash`] computes it.
pub fn own_hash() -> std::io::Result<String> {
    hash_file(std::path::Path::new("/proc/self/exe"))
}

type Reader = Box<dyn AsyncRead + Send + Unpin>;

/// The longest reply line read from an agent.
const MAX_LINE: usize = 16 << 20;
type Writer = Box<dyn AsyncWrite + Send + Unpin>;

/// A running agent.
pub struct Session {
    /// The host's name.
    pub host: String,
    reader: BufReader<Reader>,
    writer: Option<Writer>,
    stderr: Option<tokio::task::JoinHandle<String>>,
    child: Option<tokio::process::Child>,
    local: Option<std::thread::JoinHandle<()>>,
    line: Vec<u8>,
    /// `line` holds a complete line already handed out (else a partial one, kept when a
    /// read was cancelled by `select!`, to be continued).
    line_done: bool,
    /// A relayed frame being read (`[u32 length][ciphertext]`), kept across cancellation.
    frame: Option<Vec<u8>>,
}

/// What a relaying agent sends: a reply, or a sealed frame for the other agent.
pub enum Item {
    /// A JSON reply.
    Reply(Reply),
    /// A frame, `[u32 length][ciphertext]`, to pass on as it is.
    Frame(Vec<u8>),
}

impl Session {
    /// Starts an agent on `host`: in-process for a local host, else over SSH, uploading the
    /// binary first if the host lacks it.
    pub async fn open(
        exec: &Executor,
        host: &str,
        bin: &AgentBinary,
        sudo: bool,
    ) -> Result<Session, AgentError> {
        match exec.target(host)? {
            Target::Local => {
                let mut s = Self::in_process(host)?;
                s.hello().await?;
                Ok(s)
            }
            Target::Ssh(_) => {
                let hash = bin.hash()?;
                let mut s = Self::remote(exec, host, bin, &hash, sudo).await?;
                match s.hello().await {
                    Ok(()) => return Ok(s),
                    Err(AgentError::Reported { code, .. })
                        if code == "absent" || code == "stale-binary" => {}
                    Err(e) => return Err(e),
                }
                s.close().await;
                upload(exec, host, bin, &hash, sudo).await?;
                let mut s = Self::remote(exec, host, bin, &hash, sudo).await?;
                s.hello().await?;
                Ok(s)
            }
        }
    }

    fn in_process(host: &str) -> Result<Session, AgentError> {
        let io = |e: std::io::Error| AgentError::Local(e.to_string());
        let (req_r, req_w) = std::io::pipe().map_err(io)?;
        let (rep_r, rep_w) = std::io::pipe().map_err(io)?;
        let local = std::thread::Builder::new()
            .name("cutover-agent".into())
            .spawn(move || {
                let input = Box::new(std::io::BufReader::new(req_r));
                let out = super::host::Out::new(Box::new(rep_w));
                if let Err(e) = super::host::serve(input, out) {
                    tracing::debug!("in-process agent stopped: {e}");
                }
            })
            .map_err(io)?;
        let writer = tokio::net::unix::pipe::Sender::from_owned_fd(req_w.into()).map_err(io)?;
        let reader = tokio::net::unix::pipe::Receiver::from_owned_fd(rep_r.into()).map_err(io)?;
        Ok(Session {
            host: host.to_string(),
            reader: BufReader::with_capacity(1 << 16, Box::new(reader)),
            writer: Some(Box::new(writer)),
            stderr: None,
            child: None,
            local: Some(local),
            line: Vec::new(),
            line_done: false,
            frame: None,
        })
    }

    async fn remote(
        exec: &Executor,
        host: &str,
        bin: &AgentBinary,
        hash: &str,
        sudo: bool,
    ) -> Result<Session, AgentError> {
        let mut args = bin.args.clone();
        args.extend(["serve".to_string(), "--expect".into(), hash.into()]);
        let script = format!(
            "f=\"$HOME/.cache/cutover/bin/cutover-{hash}\"; if [ -x \"$f\" ]; then exec \"$f\" {}; else echo '{{\"type\":\"absent\"}}'; fi",
            cutover_exec::quote::join(&args)
        );
        let cmd = Command::shell(host, script).sudo(sudo).stdin(Stdin::Piped);
        let mut sp = exec.spawn(&cmd).await?;
        let mut stderr = sp.stderr;
        let collect = tokio::spawn(async move {
            let mut buf = Vec::new();
            let _ = (&mut stderr).take(64 * 1024).read_to_end(&mut buf).await;
            String::from_utf8_lossy(&buf).into_owned()
        });
        let writer: Option<Writer> = sp.stdin.take().map(|w| Box::new(w) as Writer);
        Ok(Session {
            host: host.to_string(),
            reader: BufReader::with_capacity(1 << 16, Box::new(sp.stdout)),
            writer,
            stderr: Some(collect),
            child: Some(sp.child),
            local: None,
            line: Vec::new(),
            line_done: false,
            frame: None,
        })
    }

    /// Reads the agent's greeting.
    async fn hello(&mut self) -> Result<(), AgentError> {
        match self.recv().await? {
            Reply::Hello { .. } => Ok(()),
            Reply::Absent => Err(AgentError::Reported {
                host: self.host.clone(),
                message: "the agent is not installed".into(),
                code: "absent".into(),
            }),
            other => Err(self.unexpected(&other)),
        }
    }

    /// Sends a request.
    pub async fn send(&mut self, r: &Request) -> Result<(), AgentError> {
        let mut line = serde_json::to_vec(r).map_err(|e| self.protocol(e.to_string()))?;
        line.push(b'\n');
        self.write_raw(&line).await
    }

    /// Writes bytes to the agent's input as they are.
    pub async fn write_raw(&mut self, bytes: &[u8]) -> Result<(), AgentError> {
        let Some(w) = self.writer.as_mut() else {
            return Err(self.protocol("the agent's input is closed".into()));
        };
        let r = async {
            w.write_all(bytes).await?;
            w.flush().await
        }
        .await;
        if let Err(e) = r {
            return Err(self.died(&e.to_string()).await);
        }
        Ok(())
    }

    /// Reads the next line (without its newline); an agent that stopped is an error that
    /// carries its standard error. Safe to cancel (in `select!`): a partly read line is kept
    /// and completed by the next call.
    pub async fn recv_line(&mut self) -> Result<&[u8], AgentError> {
        if self.line_done {
            self.line.clear();
            self.line_done = false;
        }
        // A reply line is bounded: an agent (a host that may be compromised) cannot make
        // the controller buffer without end.
        let room = MAX_LINE.saturating_sub(self.line.len()) as u64;
        if room == 0 {
            return Err(self.protocol(format!(
                "the agent sent a line longer than {} MiB",
                MAX_LINE >> 20
            )));
        }
        let n = match (&mut self.reader)
            .take(room)
            .read_until(b'\n', &mut self.line)
            .await
        {
            Ok(n) => n,
            Err(e) => return Err(self.died(&e.to_string()).await),
        };
        if n as u64 == room && self.line.last() != Some(&b'\n') {
            return Err(self.protocol(format!(
                "the agent sent a line longer than {} MiB",
                MAX_LINE >> 20
            )));
        }
        if n == 0 || self.line.last() != Some(&b'\n') {
            return Err(self.died("the agent stopped").await);
        }
        self.line_done = true;
        Ok(&self.line[..self.line.len() - 1])
    }

    /// Reads the next reply; an `Error` reply becomes [`AgentError::Reported`].
    pub async fn recv(&mut self) -> Result<Reply, AgentError> {
        let host = self.host.clone();
        let line = self.recv_line().await?;
        let reply: Reply = serde_json::from_slice(line).map_err(|e| AgentError::Protocol {
            host: host.clone(),
            detail: format!("{e} in `{}`", String::from_utf8_lossy(line)),
        })?;
        match reply {
            Reply::Error { message, code } => Err(AgentError::Reported {
                host,
                message,
                code,
            }),
            r => Ok(r),
        }
    }

    /// Reads the next reply or relayed frame (frames start with a 0 byte, replies with `{`).
    /// Safe to cancel: a partly read frame or line is kept and completed by the next call.
    pub async fn recv_item(&mut self) -> Result<Item, AgentError> {
        let in_line = !self.line_done && !self.line.is_empty();
        if self.frame.is_none() && !in_line {
            let first = match self.reader.fill_buf().await {
                Ok([]) => return Err(self.died("the agent stopped").await),
                Ok(buf) => buf[0],
                Err(e) => return Err(self.died(&e.to_string()).await),
            };
            if first == 0 {
                self.reader.consume(1);
                self.frame = Some(Vec::new());
            }
        }
        let Some(frame) = self.frame.as_mut() else {
            return self.recv().await.map(Item::Reply);
        };
        loop {
            let want = if frame.len() < 4 {
                4 - frame.len()
            } else {
                let len = u32::from_le_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize;
                // Relayed frames are at most one sealed frame: refuse a length past it
                // before buffering anything.
                if len > crate::files::sync::wire::FRAME + 16 {
                    self.frame = None;
                    return Err(self.protocol(format!(
                        "the agent relayed a frame of {len} bytes (at most {})",
                        crate::files::sync::wire::FRAME + 16
                    )));
                }
                4 + len - frame.len()
            };
            if want == 0 {
                let done = self.frame.take().unwrap_or_default();
                return Ok(Item::Frame(done));
            }
            let buf = match self.reader.fill_buf().await {
                Ok([]) => return Err(self.died("the agent stopped mid-frame").await),
                Ok(buf) => buf,
                Err(e) => return Err(self.died(&e.to_string()).await),
            };
            let n = want.min(buf.len());
            frame.extend_from_slice(&buf[..n]);
            self.reader.consume(n);
        }
    }

    /// The reader, for streams that are not JSON lines.
    pub fn reader(&mut self) -> &mut BufReader<Reader> {
        &mut self.reader
    }

    /// An error for a reply that does not fit.
    pub fn unexpected(&self, r: &Reply) -> AgentError {
        self.protocol(format!("unexpected reply {r:?}"))
    }

    fn protocol(&self, detail: String) -> AgentError {
        AgentError::Protocol {
            host: self.host.clone(),
            detail,
        }
    }

    async fn died(&mut self, what: &str) -> AgentError {
        drop(self.writer.take());
        let mut code = None;
        if let Some(c) = self.child.as_mut() {
            code = tokio::time::timeout(std::time::Duration::from_secs(5), c.wait())
                .await
                .ok()
                .and_then(|r| r.ok())
                .and_then(|s| s.code());
        }
        let stderr = match self.stderr.take() {
            Some(h) => h.await.unwrap_or_default(),
            None => String::new(),
        };
        AgentError::Died {
            host: self.host.clone(),
            detail: match code {
                Some(c) => format!("{what} (exit {c})"),
                None => what.to_string(),
            },
            stderr: cutover_exec::frame(&stderr),
        }
    }

    /// Says goodbye and lets the agent end on its own time (a hold relay carrying its last
    /// connections to their end), without waiting for it.
    pub async fn leave(mut self) {
        let _ = self.send(&Request::Bye).await;
        drop(self.writer.take());
        if let Some(mut c) = self.child.take() {
            tokio::spawn(async move {
                let _ = c.wait().await;
            });
        }
        if let Some(t) = self.local.take() {
            std::thread::spawn(move || {
                let _ = t.join();
            });
        }
    }

    /// Says goodbye and waits for the agent to stop.
    pub async fn close(mut self) {
        let _ = self.send(&Request::Bye).await;
        drop(self.writer.take());
        if let Some(mut c) = self.child.take() {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(10), c.wait()).await;
        }
        if let Some(t) = self.local.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }
}

/// Copies the agent binary to `~/.cache/cutover/bin/cutover-<hash>` on `host` (through a
/// temporary name, so a broken upload never takes the real name), removing older copies.
pub async fn upload(
    exec: &Executor,
    host: &str,
    bin: &AgentBinary,
    hash: &str,
    sudo: bool,
) -> Result<(), AgentError> {
    let script = format!(
        "set -e; d=\"$HOME/.cache/cutover/bin\"; mkdir -p \"$d\"; chmod 700 \"$d\"; t=\"$d/.upload-$$\"; trap 'rm -f \"$t\"' EXIT; cat > \"$t\"; chmod 700 \"$t\"; mv -f \"$t\" \"$d/cutover-{hash}\"; find \"$d\" -maxdepth 1 -name 'cutover-*' ! -name 'cutover-{hash}' -delete"
    );
    let cmd = Command::shell(host, script).sudo(sudo).stdin(Stdin::Piped);
    let mut sp = exec.spawn(&cmd).await?;
    let mut file = tokio::fs::File::open(&bin.path)
        .await
        .map_err(|e| AgentError::Binary(format!("{}: {e}", bin.path.display())))?;
    let mut copy_err = None;
    if let Some(mut w) = sp.stdin.take() {
        if let Err(e) = tokio::io::copy(&mut file, &mut w).await {
            copy_err = Some(e.to_string());
        }
        let _ = w.shutdown().await;
    }
    // Bounded: only shown, and a host may answer without end.
    let err = cutover_exec::bounded::read_stderr(&mut sp.stderr)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let status = sp.child.wait().await.map_err(|e| AgentError::Upload {
        host: host.into(),
        message: e.to_string(),
    })?;
    if !status.success() || copy_err.is_some() {
        return Err(AgentError::Upload {
            host: host.into(),
            message: format!(
                "{}{}",
                copy_err.map(|e| format!("{e}\n")).unwrap_or_default(),
                cutover_exec::frame(&err)
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A session reading what a hostile agent wrote.
    fn reading(bytes: Vec<u8>) -> Session {
        Session {
            host: "evil".into(),
            reader: BufReader::new(Box::new(std::io::Cursor::new(bytes))),
            writer: None,
            stderr: None,
            child: None,
            local: None,
            line: Vec::new(),
            line_done: false,
            frame: None,
        }
    }

    #[tokio::test]
    async fn a_relayed_frame_past_the_limit_is_refused_before_it_is_buffered() {
        let mut s = reading(vec![0, 0xff, 0xff, 0xff, 0xff, 1, 2, 3]);
        let e = s.recv_item().await.err().expect("refused");
        assert!(
            e.to_string()
                .contains("relayed a frame of 4294967295 bytes"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_reply_line_without_end_is_cut_at_the_limit() {
        let mut s = reading(vec![b'{'; MAX_LINE + 10]);
        let e = s.recv_line().await.expect_err("refused");
        assert!(e.to_string().contains("a line longer than 16 MiB"), "{e}");
    }
}
