//! The agent: what runs on each host (`cutover agent serve`, uploaded by the controller, or
//! in-process for the controller's own machine) and answers [`Request`]s with [`Reply`]
//! lines. Manifests are built here, next to the data; only digests, differences and
//! progress travel back.

use super::protocol::{Reply, Request};
use crate::files::entry::Entry;
use crate::files::manifest::{self, Manifest};
use std::io::{BufRead, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// The agent's output: replies from the request loop and from progress threads.
#[derive(Clone)]
pub struct Out(Arc<Mutex<Box<dyn Write + Send>>>);

impl Out {
    /// Wraps a writer.
    pub fn new(w: Box<dyn Write + Send>) -> Self {
        Out(Arc::new(Mutex::new(w)))
    }

    /// Writes one reply line and flushes it.
    pub fn reply(&self, r: &Reply) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(r).map_err(std::io::Error::other)?;
        line.push(b'\n');
        self.raw(&line)
    }

    /// Writes bytes as they are, then flushes.
    pub fn raw(&self, bytes: &[u8]) -> std::io::Result<()> {
        let mut w = self
            .0
            .lock()
            .map_err(|_| std::io::Error::other("output poisoned"))?;
        w.write_all(bytes)?;
        w.flush()
    }

    /// Runs `f` with the writer locked (for streams written in one go).
    pub fn with<T>(
        &self,
        f: impl FnOnce(&mut dyn Write) -> std::io::Result<T>,
    ) -> std::io::Result<T> {
        let mut w = self
            .0
            .lock()
            .map_err(|_| std::io::Error::other("output poisoned"))?;
        let r = f(&mut **w)?;
        w.flush()?;
        Ok(r)
    }
}

/// Serves requests read from `input` until `Bye` or end of input.
pub fn serve(mut input: Box<dyn BufRead + Send>, out: Out) -> std::io::Result<()> {
    out.reply(&Reply::Hello {
        version: env!("CARGO_PKG_VERSION").into(),
    })?;
    let mut last: Option<Manifest> = None;
    let mut relay: Option<crate::hold::Relay> = None;
    let mut mysql = crate::mysql::agent::State::default();
    let mut line = String::new();
    loop {
        line.clear();
        if input.read_line(&mut line)? == 0 {
            if let Some(r) = relay.take() {
                end_relay(&r);
            }
            return Ok(());
        }
        let request: Request = match serde_json::from_str(&line) {
            Ok(r) => r,
            Err(e) => {
                out.reply(&error(format!("bad request: {e}"), "protocol"))?;
                continue;
            }
        };
        match request {
            Request::Bye => {
                if let Some(r) = relay.take() {
                    end_relay(&r);
                }
                return Ok(());
            }
            Request::Hold {
                listen,
                max_hold_ms,
                fallback,
            } => {
                if let Some(old) = relay.take() {
                    old.stop();
                }
                let max_hold = std::time::Duration::from_millis(max_hold_ms);
                match crate::hold::Relay::start(&listen, max_hold, &fallback) {
                    Ok(r) => {
                        out.reply(&Reply::Holding {
                            port: r.port(),
                            alt_port: r.alt_port(),
                        })?;
                        relay = Some(r);
                    }
                    Err(e) => out.reply(&error(
                        format!("cannot start the hold relay on {listen}: {e}"),
                        "listen",
                    ))?,
                }
            }
            Request::Release { to } => match &relay {
                Some(r) => match r.release(&to) {
                    Ok(stats) => out.reply(&Reply::Relayed { stats })?,
                    Err(e) => out.reply(&error(
                        format!("cannot release the hold to {to}: {e}"),
                        "connect",
                    ))?,
                },
                None => out.reply(&error("no hold relay runs", "protocol"))?,
            },
            Request::RelayStats => match &relay {
                Some(r) => out.reply(&Reply::Relayed { stats: r.stats() })?,
                None => out.reply(&error("no hold relay runs", "protocol"))?,
            },
            Request::Unhold => match &relay {
                Some(r) => {
                    r.stop();
                    out.reply(&Reply::Relayed { stats: r.stats() })?;
                }
                None => out.reply(&error("no hold relay runs", "protocol"))?,
            },
            Request::Manifest { root, options } => {
                let progress = |entries, bytes| {
                    let _ = out.reply(&Reply::Progress {
                        entries,
                        bytes,
                        total_bytes: 0,
                        total_entries: 0,
                    });
                };
                match manifest::build(Path::new(&root), &options, &progress) {
                    Ok(m) => {
                        out.reply(&Reply::Manifest {
                            summary: m.summary.clone(),
                        })?;
                        last = Some(m);
                    }
                    Err(e) => {
                        let code = match e {
                            manifest::ManifestError::Missing(_) => "missing",
                            _ => "unreadable",
                        };
                        out.reply(&error(e.to_string(), code))?
                    }
                }
            }
            Request::Entries => {
                let entries: &[Entry] = last.as_ref().map_or(&[], |m| &m.entries);
                out.with(|w| {
                    let mut buf = std::io::BufWriter::with_capacity(1 << 16, w);
                    for e in entries {
                        serde_json::to_writer(&mut buf, e).map_err(std::io::Error::other)?;
                        buf.write_all(b"\n")?;
                    }
                    serde_json::to_writer(&mut buf, &Reply::End).map_err(std::io::Error::other)?;
                    buf.write_all(b"\n")?;
                    buf.flush()
                })?;
            }
            Request::Space { path } => out.reply(&space(&path))?,
            Request::Mysql { request } => crate::mysql::agent::serve(request, &mut mysql, &out)?,
            Request::Redis { request } => crate::redis::agent::serve(request, &out)?,
            Request::Receive { root, options } => {
                let r = crate::files::sync::receive::run(&root, &options, &mut input, &out);
                out.reply(&r)?;
            }
            Request::ImagesReceive { options } => {
                out.reply(&crate::docker::images::receive::run(&options, &out))?;
            }
            Request::ImagesSend { options } => {
                out.reply(&crate::docker::images::send::run(&options, &out))?;
            }
            Request::Send { root, options } => {
                let r = crate::files::sync::send::run(&root, &options, &mut input, &out);
                out.reply(&r)?;
            }
        }
    }
}

/// The end of the agent with a relay still there: one the controller stopped (its proxy
/// points elsewhere) carries its last connections to their end; one the controller never
/// stopped (it went away mid-move) must not leave its proxy pointing at a closed port, so it
/// releases to its fallback and forwards until the proxy sends it nothing more.
fn end_relay(r: &crate::hold::Relay) {
    if r.is_stopped() {
        r.wait_closed(std::time::Duration::from_secs(60));
    } else {
        r.run_unattended();
    }
}

/// An error reply.
pub fn error(message: impl Into<String>, code: &str) -> Reply {
    Reply::Error {
        message: message.into(),
        code: code.into(),
    }
}

/// Free space of the file system holding `path` or its nearest existing parent.
pub fn space(path: &str) -> Reply {
    let mut p = Path::new(path);
    loop {
        if p.exists() {
            break;
        }
        match p.parent() {
            Some(parent) => p = parent,
            None => break,
        }
    }
    match statvfs(p) {
        Ok((available, total)) => Reply::Space {
            available,
            total,
            path: p.display().to_string(),
        },
        Err(e) => error(
            format!("cannot measure free space at {}: {e}", p.display()),
            "space",
        ),
    }
}

/// (bytes available to unprivileged users, size) of the file system holding `p`.
pub fn statvfs(p: &Path) -> std::io::Result<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    // SAFETY: `c` is a valid NUL-terminated path and `st` a properly sized out-parameter.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let frsize = st.f_frsize as u64;
    Ok((st.f_bavail as u64 * frsize, st.f_blocks as u64 * frsize))
}

/// The entry point of `cutover agent serve [--expect HASH]`: checks that the binary is the
/// one the controller uploaded (a stale or damaged copy is reported, and replaced), then
/// serves standard input. Returns the process exit status.
pub fn main(args: &[String]) -> i32 {
    let stdout: Box<dyn Write + Send> = Box::new(std::io::stdout());
    let out = Out::new(stdout);
    if let Some(i) = args.iter().position(|a| a == "--expect") {
        let Some(expected) = args.get(i + 1) else {
            let _ = out.reply(&error("--expect needs a hash", "usage"));
            return 2;
        };
        match super::session::own_hash() {
            Ok(actual) if &actual == expected => {}
            Ok(actual) => {
                let _ = out.reply(&error(
                    format!("this agent binary hashes to {actual}, not {expected}"),
                    "stale-binary",
                ));
                return 3;
            }
            Err(e) => {
                let _ = out.reply(&error(
                    format!("cannot read my own binary: {e}"),
                    "stale-binary",
                ));
                return 3;
            }
        }
    }
    let input: Box<dyn BufRead + Send> = Box::new(std::io::BufReader::new(std::io::stdin()));
    match serve(input, out) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("cutover agent: {e}");
            1
        }
    }
}
