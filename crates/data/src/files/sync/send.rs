//! The sending end of a sync, on the source host: lists its tree, reads the receiver's
//! description of the target, decides what to send, and streams it.

use super::meta::{read_xattrs, Meta};
use super::plan::{plan, Action};
use super::wire::{Direction, Get, OpenReader, Put, SealWriter, GREETING};
use super::{Fail, SendOptions, SyncStats};
use crate::agent::host::{error, Out};
use crate::agent::protocol::Reply;
use crate::files::beneath::{proc_at, Tree};
use crate::files::entry::{display, Entry, Kind};
use crate::files::manifest::{build_with, ManifestError, ManifestOptions};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// Sends `root` to the receiver; the reply for the controller.
pub fn run(root: &str, o: &SendOptions, input: &mut dyn std::io::BufRead, out: &Out) -> Reply {
    match send(Path::new(root), o, input, out) {
        Ok(stats) => Reply::Synced {
            stats: stats.capped(),
        },
        Err(f) => error(f.message, f.code),
    }
}

/// Reports progress to the controller at most four times a second.
pub(crate) struct Reporter<'a> {
    pub(crate) out: &'a Out,
    pub(crate) last: Instant,
    pub(crate) files: u64,
    pub(crate) bytes: u64,
    pub(crate) total_files: u64,
    pub(crate) total_bytes: u64,
}

impl Reporter<'_> {
    /// Reports if due; fails when the controller is gone (its SSH session closed), so that
    /// an abandoned sync stops instead of racing the next one.
    pub(crate) fn tick(&mut self, force: bool) -> std::io::Result<()> {
        if force || self.last.elapsed() >= Duration::from_millis(250) {
            self.last = Instant::now();
            self.out
                .reply(&Reply::Progress {
                    entries: self.files,
                    bytes: self.bytes,
                    total_bytes: self.total_bytes,
                    total_entries: self.total_files,
                })
                .map_err(|e| {
                    std::io::Error::new(
                        std::io::ErrorKind::BrokenPipe,
                        format!("the controller went away ({e}); stopping"),
                    )
                })?;
        }
        Ok(())
    }
}

fn list(root: &Path, o: &SendOptions) -> Result<Vec<Entry>, Fail> {
    let opts = ManifestOptions {
        exclude: o.exclude.clone(),
        cache: true,
        ..ManifestOptions::default()
    };
    build_with(root, &opts, o.checksum, &|_, _| {})
        .map(|m| m.entries)
        .map_err(|e| match e {
            ManifestError::Missing(_) => Fail::new(e.to_string(), "missing"),
            e => Fail::new(e.to_string(), "unreadable"),
        })
}

pub(crate) fn connect(addr: &str) -> Result<TcpStream, Fail> {
    let fail = |e: String| {
        Fail::new(
            format!("cannot reach the receiving agent at {addr}: {e} (is that port open from this host? set `address`/`port`, or `relay = true`)"),
            "connect",
        )
    };
    let addrs: Vec<_> = addr
        .to_socket_addrs()
        .map_err(|e| fail(e.to_string()))?
        .collect();
    let mut last = String::from("no address");
    for _ in 0..3 {
        for a in &addrs {
            match TcpStream::connect_timeout(a, Duration::from_secs(10)) {
                Ok(s) => return Ok(s),
                Err(e) => last = e.to_string(),
            }
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    Err(fail(last))
}

fn send(
    root: &Path,
    o: &SendOptions,
    input: &mut dyn std::io::BufRead,
    out: &Out,
) -> Result<SyncStats, Fail> {
    let started = Instant::now();
    let ours = list(root, o)?;
    // Host to host over TCP, or through the controller (relay) over the SSH channel.
    let (reader, writer): (Box<dyn Read + '_>, Box<dyn Write + '_>) = if o.relay {
        (Box::new(input), Box::new(super::wire::FrameOut::new(out)))
    } else {
        let stream = connect(&o.connect)?;
        let _ = stream.set_nodelay(true);
        // A link cut between the hosts must end the sync, not hang it on TCP's timeouts.
        let stall = super::stall(o.stall_ms);
        stream
            .set_read_timeout(Some(stall))
            .and_then(|_| stream.set_write_timeout(Some(stall)))
            .map_err(Fail::io("connection"))?;
        let back = stream.try_clone().map_err(Fail::io("connection"))?;
        (
            Box::new(BufReader::with_capacity(1 << 20, back)),
            Box::new(BufWriter::with_capacity(1 << 20, stream)),
        )
    };
    let mut w = SealWriter::new(writer, &o.key, Direction::Forward).map_err(Fail::io("key"))?;
    let mut r = OpenReader::new(reader, &o.key, Direction::Back).map_err(Fail::io("key"))?;
    w.write_all(GREETING).map_err(Fail::io("handshake"))?;
    w.flush().map_err(Fail::io("handshake"))?;
    let mut g = vec![0u8; GREETING.len()];
    r.read_exact(&mut g)
        .map_err(Fail::io("handshake with the receiver"))?;
    if g != GREETING {
        return Err(Fail::new(
            "the receiver's greeting is wrong".into(),
            "protocol",
        ));
    }
    let theirs = super::plan::read_index(&mut r).map_err(Fail::io("reading the target's index"))?;
    let tree = Tree::open(root)
        .map_err(|e| Fail::new(format!("cannot open {}: {e}", root.display()), "unreadable"))?;
    let plan = plan(&tree, &ours, &theirs, o);
    let mut stats = SyncStats {
        source_entries: ours.len() as u64,
        source_bytes: ours
            .iter()
            .filter(|e| e.kind == Kind::File)
            .map(|e| e.size)
            .sum(),
        ..SyncStats::default()
    };
    let io = Fail::io("sending to the receiver");
    w.u8(b'H').map_err(io)?;
    w.u64(plan.files).map_err(Fail::io("sending"))?;
    w.u64(plan.bytes).map_err(Fail::io("sending"))?;
    w.flush().map_err(Fail::io("sending"))?;
    if r.u8().map_err(Fail::io("waiting for the receiver"))? != 0 {
        let message = String::from_utf8_lossy(&r.blob().unwrap_or_default()).into_owned();
        return Err(Fail::new(message, "no-space"));
    }
    let mut rep = Reporter {
        out,
        last: Instant::now(),
        files: 0,
        bytes: 0,
        total_files: plan.files,
        total_bytes: plan.bytes,
    };
    rep.tick(true).map_err(Fail::io("progress"))?;
    let mut buf = vec![0u8; 256 * 1024];
    for action in &plan.actions {
        do_action(
            &tree, &ours, action, o, &mut w, &mut buf, &mut stats, &mut rep,
        )
        .map_err(Fail::io("sending to the receiver"))?;
    }
    w.u8(b'E').map_err(Fail::io("sending"))?;
    w.flush().map_err(Fail::io("sending"))?;
    rep.tick(true).map_err(Fail::io("progress"))?;
    match r
        .u8()
        .map_err(Fail::io("waiting for the receiver to finish"))?
    {
        0 => {}
        _ => {
            let message = String::from_utf8_lossy(&r.blob().unwrap_or_default()).into_owned();
            return Err(Fail::new(message, "receiver"));
        }
    }
    stats.deleted = plan.deletes;
    stats.wire_bytes = w.wire_bytes;
    stats.seconds = started.elapsed().as_secs_f64();
    Ok(stats)
}

fn meta(tree: &Tree, e: &Entry, o: &SendOptions) -> std::io::Result<Meta> {
    let mut m = Meta::of(e);
    let (acls, xattrs) = (o.preserve.acls, o.preserve.xattrs);
    if acls || xattrs {
        m.xattrs = if e.path.is_empty() {
            // The root is the operator's own path.
            let c = std::ffi::CString::new(tree.path().as_os_str().as_encoded_bytes())
                .map_err(std::io::Error::other)?;
            read_xattrs(&c, acls, xattrs)?
        } else {
            let (dir, name) = tree.parent(&e.path)?;
            read_xattrs(&proc_at(dir.as_fd(), name)?, acls, xattrs)?
        };
    }
    Ok(m)
}

#[allow(clippy::too_many_arguments)]
fn do_action(
    tree: &Tree,
    ours: &[Entry],
    a: &Action,
    o: &SendOptions,
    w: &mut impl Write,
    buf: &mut [u8],
    stats: &mut SyncStats,
    rep: &mut Reporter<'_>,
) -> std::io::Result<()> {
    match a {
        Action::Delete(path) => {
            w.u8(b'X')?;
            w.blob(path)?;
        }
        Action::Dir(i) | Action::Meta(i) | Action::Link(i) | Action::Special(i) => {
            let e = &ours[*i];
            let m = match meta(tree, e, o) {
                Ok(m) => m,
                Err(err) => {
                    stats.errors.push(format!("{}: {err}", display(&e.path)));
                    return Ok(());
                }
            };
            let tag = match a {
                Action::Dir(_) => b'D',
                Action::Meta(_) => b'M',
                Action::Link(_) => b'L',
                _ => b'S',
            };
            w.u8(tag)?;
            w.blob(&e.path)?;
            w.u8(e.kind as u8)?;
            m.put(w)?;
            match a {
                Action::Link(_) => w.blob(e.target.as_deref().unwrap_or_default())?,
                Action::Special(_) => w.u64(e.rdev)?,
                _ => {}
            }
        }
        Action::Hard { index, to } => {
            w.u8(b'K')?;
            w.blob(&ours[*index].path)?;
            w.blob(to)?;
        }
        Action::File { index, offset } => {
            let e = &ours[*index];
            // Beneath the root, no symlink followed, and only a regular file: a FIFO put in
            // its place since the walk is refused at once instead of blocking the sync.
            let file = tree.open_regular(&e.path);
            let (mut file, m) = match file.and_then(|f| Ok((f, meta(tree, e, o)?))) {
                Ok(x) => x,
                Err(err) => {
                    stats
                        .errors
                        .push(format!("{}: cannot read: {err}", display(&e.path)));
                    return Ok(());
                }
            };
            let before = file.metadata()?;
            let size = before.len();
            w.u8(b'F')?;
            w.blob(&e.path)?;
            let mut m = m;
            m.mtime_ns = before.mtime() * 1_000_000_000 + before.mtime_nsec();
            m.put(w)?;
            w.u64(size)?;
            let offset = (*offset).min(size);
            w.u64(offset)?;
            let result = stream_file(&mut file, offset, size, o.preserve.sparse, w, buf, rep);
            let status = match result {
                Ok(sent) => {
                    let after = file.metadata()?;
                    let changed = after.len() != size
                        || after.mtime() != before.mtime()
                        || after.mtime_nsec() != before.mtime_nsec();
                    stats.bytes_sent += sent;
                    stats.bytes_resumed += offset;
                    if changed {
                        stats.errors.push(format!(
                            "{}: changed while it was sent (not written; the next sync copies it)",
                            display(&e.path)
                        ));
                        1
                    } else {
                        stats.files_sent += 1;
                        0
                    }
                }
                // The controller is gone: stop here, leaving the receiver's partial copy for
                // the next run to resume.
                Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => return Err(err),
                Err(err) => {
                    w.u8(3)?;
                    stats
                        .errors
                        .push(format!("{}: read failed: {err}", display(&e.path)));
                    2
                }
            };
            w.u8(status)?;
            rep.files += 1;
            rep.tick(false)?;
        }
    }
    Ok(())
}

/// Streams `size - offset` bytes of `file` as data and hole chunks, then the end chunk;
/// returns the data bytes sent. A read error is returned after nothing more was written.
fn stream_file(
    file: &mut File,
    offset: u64,
    size: u64,
    sparse: bool,
    w: &mut impl Write,
    buf: &mut [u8],
    rep: &mut Reporter<'_>,
) -> std::io::Result<u64> {
    let mut pos = offset;
    let mut sent = 0;
    file.seek(SeekFrom::Start(pos))?;
    while pos < size {
        if sparse {
            let data = seek_data(file, pos)?.min(size);
            if data > pos {
                w.u8(1)?;
                w.u64(data - pos)?;
                rep.bytes += data - pos;
                pos = data;
                file.seek(SeekFrom::Start(pos))?;
                continue;
            }
        }
        let want = buf.len().min((size - pos) as usize);
        let n = match file.read(&mut buf[..want]) {
            Ok(0) => break, // shrank: the status says so
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        w.u8(0)?;
        w.blob(&buf[..n])?;
        pos += n as u64;
        sent += n as u64;
        rep.bytes += n as u64;
        rep.tick(false)?;
    }
    w.u8(3)?;
    Ok(sent)
}

/// The next offset at or after `pos` holding data (`pos` itself when the file system cannot
/// tell holes apart).
fn seek_data(file: &File, pos: u64) -> std::io::Result<u64> {
    use std::os::fd::AsRawFd;
    // SAFETY: a valid descriptor; lseek has no memory effects.
    let r = unsafe { libc::lseek(file.as_raw_fd(), pos as libc::off_t, libc::SEEK_DATA) };
    if r < 0 {
        let e = std::io::Error::last_os_error();
        return match e.raw_os_error() {
            // Past the last data: the rest is a hole.
            Some(libc::ENXIO) => Ok(u64::MAX),
            Some(libc::EINVAL) | Some(libc::ENOTSUP) => Ok(pos),
            _ => Err(e),
        };
    }
    Ok(r as u64)
}
