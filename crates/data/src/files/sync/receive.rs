//! The receiving end of a sync, on the target host: listens, describes its tree to the
//! sender, checks there is room for what is coming before writing anything, then writes
//! each file under a temporary name and renames it into place once complete.

use super::meta::{Apply, Meta};
use super::plan::{prefix_hash, write_index, RESUME_MIN};
use super::wire::{Direction, Get, OpenReader, Put, SealWriter, GREETING};
use super::{Fail, ReceiveOptions, SyncStats};
use crate::files::agent::{error, statvfs, Out};
use crate::files::entry::{display, Entry, Kind};
use crate::files::manifest::{build_with, full_path, ManifestOptions};
use crate::files::owners::Owners;
use crate::files::protocol::Reply;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The suffix of partial files: `.NAME.cutover-part` next to `NAME`.
pub const PART: &[u8] = b".cutover-part";

/// Receives a sync stream into `root`; the reply for the controller.
pub fn run(root: &str, o: &ReceiveOptions, input: &mut dyn std::io::BufRead, out: &Out) -> Reply {
    match receive(Path::new(root), o, input, out) {
        Ok(stats) => Reply::Synced { stats },
        Err(f) => error(f.message, f.code),
    }
}

/// `dir/.name.cutover-part` for `dir/name`.
pub fn part_path(full: &Path) -> PathBuf {
    let name = full.file_name().map(|n| n.as_bytes()).unwrap_or(b"root");
    let mut p = b".".to_vec();
    p.extend_from_slice(name);
    p.extend_from_slice(PART);
    full.with_file_name(OsStr::from_bytes(&p))
}

/// The real path of a partial file's relative path, if it is one.
fn partial_of(rel: &[u8]) -> Option<Vec<u8>> {
    let (dir, name) = match rel.iter().rposition(|b| *b == b'/') {
        Some(i) => (&rel[..=i], &rel[i + 1..]),
        None => (&rel[..0], rel),
    };
    let inner = name.strip_prefix(b".")?.strip_suffix(PART)?;
    (!inner.is_empty()).then(|| [dir, inner].concat())
}

type Partials = Vec<(Vec<u8>, u64, [u8; 32])>;

/// The target's entries and partial files (hashed so that the sender can check them).
fn index(root: &Path, o: &ReceiveOptions) -> Result<(Vec<Entry>, Partials), Fail> {
    if std::fs::symlink_metadata(root).is_err() {
        return Ok((Vec::new(), Vec::new()));
    }
    let opts = ManifestOptions {
        exclude: o.exclude.clone(),
        cache: true,
        ..ManifestOptions::default()
    };
    let m = build_with(root, &opts, o.checksum, &|_, _| {})
        .map_err(|e| Fail::new(e.to_string(), "unreadable"))?;
    let mut entries = Vec::with_capacity(m.entries.len());
    let mut partials = Vec::new();
    for e in m.entries {
        match partial_of(&e.path) {
            Some(real) if e.kind == Kind::File => {
                if let Ok(h) = prefix_hash(&full_path(root, &e.path), e.size) {
                    partials.push((real, e.size, h));
                }
            }
            _ => entries.push(e),
        }
    }
    Ok((entries, partials))
}

fn accept(listener: &TcpListener, timeout: Duration) -> Result<TcpStream, Fail> {
    let deadline = Instant::now() + timeout;
    listener.set_nonblocking(true).map_err(Fail::io("listen"))?;
    loop {
        match listener.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).map_err(Fail::io("accept"))?;
                return Ok(s);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() > deadline {
                    return Err(Fail::new(
                        format!(
                            "the sending agent did not connect within {}s",
                            timeout.as_secs()
                        ),
                        "connect",
                    ));
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(Fail::io("accept")(e)),
        }
    }
}

fn receive(
    root: &Path,
    o: &ReceiveOptions,
    input: &mut dyn std::io::BufRead,
    out: &Out,
) -> Result<SyncStats, Fail> {
    let started = Instant::now();
    // Host to host: listen for the sender (and describe the tree while it connects).
    // Relayed: the stream comes on standard input and goes out framed on standard output.
    let (reader, writer, entries, partials): (Box<dyn Read + '_>, Box<dyn Write + '_>, _, _) =
        if o.relay {
            out.reply(&Reply::Listening { port: 0 })
                .map_err(Fail::io("reply"))?;
            let (entries, partials) = index(root, o)?;
            (
                Box::new(input),
                Box::new(super::wire::FrameOut::new(out)),
                entries,
                partials,
            )
        } else {
            let listener = TcpListener::bind((o.listen.as_str(), o.port)).map_err(|e| {
                Fail::new(
                    format!("cannot listen on {}:{}: {e}", o.listen, o.port),
                    "listen",
                )
            })?;
            let port = listener.local_addr().map_err(Fail::io("listen"))?.port();
            out.reply(&Reply::Listening { port })
                .map_err(Fail::io("reply"))?;
            let (entries, partials) = index(root, o)?;
            let secs = if o.accept_timeout == 0 {
                60
            } else {
                o.accept_timeout
            };
            let stream = accept(&listener, Duration::from_secs(secs))?;
            let back = stream.try_clone().map_err(Fail::io("connection"))?;
            (
                Box::new(BufReader::with_capacity(1 << 20, stream)),
                Box::new(BufWriter::with_capacity(1 << 16, back)),
                entries,
                partials,
            )
        };
    let mut r = OpenReader::new(reader, &o.key, Direction::Forward).map_err(Fail::io("key"))?;
    let mut w = SealWriter::new(writer, &o.key, Direction::Back).map_err(Fail::io("key"))?;
    let mut g = vec![0u8; GREETING.len()];
    r.read_exact(&mut g).map_err(|_| {
        Fail::new(
            "a connection to the sync port did not present the key; refused".into(),
            "auth",
        )
    })?;
    if g != GREETING {
        return Err(Fail::new(
            "the sender's greeting is wrong".into(),
            "protocol",
        ));
    }
    w.write_all(GREETING).map_err(Fail::io("handshake"))?;
    write_index(&mut w, &entries, &partials).map_err(Fail::io("sending the index"))?;
    // Room for what is coming, before anything is written.
    if r.u8().map_err(Fail::io("reading the header"))? != b'H' {
        return Err(Fail::new(
            "the sync stream has no header".into(),
            "protocol",
        ));
    }
    let files = r.u64().map_err(Fail::io("header"))?;
    let bytes = r.u64().map_err(Fail::io("header"))?;
    let (available, _) = statvfs(nearest_existing(root)).map_err(Fail::io("free space"))?;
    // Up to one block of rounding per file on top of the bytes themselves.
    let need = bytes + files * 4096;
    if need > available {
        let message = format!(
            "not enough space on the target for {}: {files} files need {} but only {} is free; nothing was written",
            root.display(),
            crate::files::verify::human_bytes(need),
            crate::files::verify::human_bytes(available),
        );
        let _ = w
            .u8(1)
            .and_then(|_| w.blob(message.as_bytes()))
            .and_then(|_| w.flush());
        return Err(Fail::new(message, "no-space"));
    }
    w.u8(0)
        .and_then(|_| w.flush())
        .map_err(Fail::io("header"))?;
    // SAFETY: geteuid has no preconditions.
    let root_user = unsafe { libc::geteuid() } == 0;
    let mut rx = Receiver {
        rep: super::send::Reporter {
            out,
            last: Instant::now(),
            files: 0,
            bytes: 0,
            total_files: files,
            total_bytes: bytes,
        },
        root: root.to_path_buf(),
        apply: Apply {
            chown: root_user && o.preserve.owner,
            numeric_ids: o.preserve.numeric_ids,
            owners: Owners::load(),
        },
        dirs: Vec::new(),
        stats: SyncStats::default(),
        buf: vec![0u8; 256 * 1024],
        partials: partials.into_iter().map(|(p, _, _)| p).collect(),
    };
    match rx.records(&mut r) {
        Ok(()) => {}
        Err(f) => {
            let _ = w
                .u8(1)
                .and_then(|_| w.blob(f.message.as_bytes()))
                .and_then(|_| w.flush());
            return Err(f);
        }
    }
    rx.finish();
    w.u8(0)
        .and_then(|_| w.flush())
        .map_err(Fail::io("acknowledging"))?;
    rx.stats.seconds = started.elapsed().as_secs_f64();
    Ok(rx.stats)
}

fn nearest_existing(p: &Path) -> &Path {
    let mut p = p;
    while !p.exists() {
        match p.parent() {
            Some(parent) => p = parent,
            None => break,
        }
    }
    p
}

struct Receiver<'a> {
    rep: super::send::Reporter<'a>,
    root: PathBuf,
    apply: Apply,
    dirs: Vec<(PathBuf, Meta)>,
    stats: SyncStats,
    buf: Vec<u8>,
    partials: Vec<Vec<u8>>,
}

impl Receiver<'_> {
    fn records(&mut self, r: &mut impl Read) -> Result<(), Fail> {
        let io = |what: &'static str| Fail::io(what);
        loop {
            self.rep.files = self.stats.files_sent;
            self.rep.bytes = self.stats.bytes_sent;
            self.rep.tick(false).map_err(io("progress"))?;
            let tag = r.u8().map_err(io("the sync stream (the sender stopped)"))?;
            match tag {
                b'E' => return Ok(()),
                b'X' => {
                    let path = r.blob().map_err(io("stream"))?;
                    self.delete(&path)?;
                }
                b'D' | b'M' | b'L' | b'S' => {
                    let path = r.blob().map_err(io("stream"))?;
                    let kind = kind_of(r.u8().map_err(io("stream"))?);
                    let meta = Meta::get(r).map_err(io("stream"))?;
                    let extra = match tag {
                        b'L' => r.blob().map_err(io("stream"))?,
                        b'S' => r.u64().map_err(io("stream"))?.to_le_bytes().to_vec(),
                        _ => Vec::new(),
                    };
                    self.entry(tag, &path, kind, meta, &extra)?;
                }
                b'K' => {
                    let path = r.blob().map_err(io("stream"))?;
                    let to = r.blob().map_err(io("stream"))?;
                    let full = full_path(&self.root, &path);
                    let tmp = part_path(&full);
                    let _ = std::fs::remove_file(&tmp);
                    std::fs::hard_link(full_path(&self.root, &to), &tmp)
                        .and_then(|_| std::fs::rename(&tmp, &full))
                        .map_err(|e| self.fail_at(&path, "link", e))?;
                    self.stats.links_created += 1;
                }
                b'F' => self.file(r)?,
                t => {
                    return Err(Fail::new(
                        format!("bad record {t} in the sync stream"),
                        "protocol",
                    ))
                }
            }
        }
    }

    fn fail_at(&self, path: &[u8], what: &str, e: std::io::Error) -> Fail {
        let code = if e.raw_os_error() == Some(libc::ENOSPC) {
            "no-space"
        } else {
            "write"
        };
        Fail::new(
            format!(
                "cannot {what} {} on the target: {e}",
                full_path(&self.root, path).display()
            ),
            code,
        )
    }

    fn delete(&mut self, path: &[u8]) -> Result<(), Fail> {
        let full = full_path(&self.root, path);
        let r = match std::fs::symlink_metadata(&full) {
            Ok(m) if m.is_dir() => std::fs::remove_dir_all(&full),
            Ok(_) => std::fs::remove_file(&full),
            Err(_) => Ok(()),
        };
        r.map_err(|e| self.fail_at(path, "delete", e))?;
        self.stats.deleted += 1;
        Ok(())
    }

    fn entry(
        &mut self,
        tag: u8,
        path: &[u8],
        kind: Kind,
        meta: Meta,
        extra: &[u8],
    ) -> Result<(), Fail> {
        let full = full_path(&self.root, path);
        match tag {
            b'D' => {
                if !full.is_dir() {
                    std::fs::create_dir_all(&full)
                        .map_err(|e| self.fail_at(path, "create directory", e))?;
                    self.stats.dirs_created += 1;
                }
                // Modes and mtimes of directories are set last, once their content is in.
                self.dirs.push((full, meta));
            }
            b'M' if kind == Kind::Dir => {
                self.dirs.push((full, meta));
                self.stats.meta_updated += 1;
            }
            b'M' => {
                self.apply
                    .apply(&full, kind, &meta)
                    .map_err(|e| self.fail_at(path, "update", e))?;
                self.stats.meta_updated += 1;
            }
            b'L' => {
                let tmp = part_path(&full);
                let _ = std::fs::remove_file(&tmp);
                std::os::unix::fs::symlink(OsStr::from_bytes(extra), &tmp)
                    .and_then(|_| self.apply.apply(&tmp, Kind::Symlink, &meta))
                    .and_then(|_| std::fs::rename(&tmp, &full))
                    .map_err(|e| self.fail_at(path, "create symlink", e))?;
                self.stats.links_created += 1;
            }
            _ => {
                let rdev = u64::from_le_bytes(extra.try_into().unwrap_or([0; 8]));
                let tmp = part_path(&full);
                let _ = std::fs::remove_file(&tmp);
                let c = std::ffi::CString::new(tmp.as_os_str().as_bytes())
                    .map_err(|e| Fail::new(e.to_string(), "write"))?;
                let fmt = match kind {
                    Kind::Fifo => libc::S_IFIFO,
                    Kind::CharDevice => libc::S_IFCHR,
                    Kind::BlockDevice => libc::S_IFBLK,
                    _ => libc::S_IFSOCK,
                };
                // SAFETY: `c` is a valid path.
                let rc = unsafe { libc::mknod(c.as_ptr(), fmt | 0o600, rdev as libc::dev_t) };
                let r = if rc == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                };
                r.and_then(|_| self.apply.apply(&tmp, kind, &meta))
                    .and_then(|_| std::fs::rename(&tmp, &full))
                    .map_err(|e| self.fail_at(path, "create special file", e))?;
                self.stats.links_created += 1;
            }
        }
        Ok(())
    }

    fn file(&mut self, r: &mut impl Read) -> Result<(), Fail> {
        let io = |what: &'static str| Fail::io(what);
        let path = r.blob().map_err(io("stream"))?;
        let meta = Meta::get(r).map_err(io("stream"))?;
        let size = r.u64().map_err(io("stream"))?;
        let offset = r.u64().map_err(io("stream"))?;
        let full = full_path(&self.root, &path);
        let tmp = part_path(&full);
        self.partials.retain(|p| *p != path);
        let opened = if offset > 0 {
            File::options()
                .write(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&tmp)
        } else {
            let _ = std::fs::remove_file(&tmp);
            File::options()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)
        };
        let mut file = match opened {
            Ok(f) => f,
            Err(e) => {
                // Drain the record so the stream stays in step, then stop with the cause.
                let _ = drain(r, &mut self.buf, None);
                return Err(self.fail_at(&path, "create", e));
            }
        };
        let written = match file.seek(SeekFrom::Start(offset)) {
            Ok(_) => drain(r, &mut self.buf, Some(&mut file)),
            Err(e) => Err((e, true)),
        };
        let written = match written {
            Ok(n) => n,
            Err((e, on_target)) => {
                let kept = file.stream_position().unwrap_or(0);
                if on_target || kept < RESUME_MIN {
                    // Never leave a half-written file behind (a full disk needs the space
                    // back), unless it is a large one cut off by the stream, which the next
                    // run resumes: it stays under its temporary name only.
                    let _ = std::fs::remove_file(&tmp);
                }
                return Err(self.fail_at(&path, "write", e));
            }
        };
        let status = r.u8().map_err(io("stream"))?;
        if status != 0 {
            let _ = std::fs::remove_file(&tmp);
            self.stats.errors.push(format!(
                "{}: changed or unreadable on the source; not written",
                display(&path)
            ));
            return Ok(());
        }
        let done = file
            .set_len(size)
            .and_then(|_| {
                drop(file);
                self.apply.apply(&tmp, Kind::File, &meta)
            })
            .and_then(|_| std::fs::rename(&tmp, &full));
        if let Err(e) = done {
            let _ = std::fs::remove_file(&tmp);
            return Err(self.fail_at(&path, "write", e));
        }
        self.stats.files_sent += 1;
        self.stats.bytes_sent += written;
        self.stats.bytes_resumed += offset;
        Ok(())
    }

    fn finish(&mut self) {
        for (dir, meta) in self.dirs.iter().rev() {
            if let Err(e) = self.apply.apply(dir, Kind::Dir, meta) {
                self.stats.errors.push(format!("{}: {e}", dir.display()));
            }
        }
        // Partial copies nobody resumed are stale.
        for p in &self.partials {
            let _ = std::fs::remove_file(part_path(&full_path(&self.root, p)));
        }
    }
}

/// Reads data and hole chunks up to the end chunk, writing them to `file` when given;
/// returns the data bytes, or the error and whether it came from the target's file system
/// (true) rather than the stream.
fn drain(
    r: &mut impl Read,
    buf: &mut Vec<u8>,
    mut file: Option<&mut File>,
) -> Result<u64, (std::io::Error, bool)> {
    let stream = |e| (e, false);
    let target = |e| (e, true);
    let mut n = 0;
    loop {
        match r.u8().map_err(stream)? {
            0 => {
                let len = r.u32().map_err(stream)? as usize;
                if len > buf.len() {
                    buf.resize(len, 0);
                }
                r.read_exact(&mut buf[..len]).map_err(stream)?;
                if let Some(f) = file.as_deref_mut() {
                    f.write_all(&buf[..len]).map_err(target)?;
                }
                n += len as u64;
            }
            1 => {
                let hole = r.u64().map_err(stream)?;
                if let Some(f) = file.as_deref_mut() {
                    f.seek(SeekFrom::Current(hole as i64)).map_err(target)?;
                }
            }
            3 => return Ok(n),
            t => {
                return Err((
                    std::io::Error::new(std::io::ErrorKind::InvalidData, format!("bad chunk {t}")),
                    false,
                ))
            }
        }
    }
}

fn kind_of(b: u8) -> Kind {
    match b {
        x if x == Kind::Dir as u8 => Kind::Dir,
        x if x == Kind::Symlink as u8 => Kind::Symlink,
        x if x == Kind::Fifo as u8 => Kind::Fifo,
        x if x == Kind::Socket as u8 => Kind::Socket,
        x if x == Kind::CharDevice as u8 => Kind::CharDevice,
        x if x == Kind::BlockDevice as u8 => Kind::BlockDevice,
        _ => Kind::File,
    }
}
