//! The receiving end of a sync, on the target host: listens, describes its tree to the
//! sender, checks there is room for what is coming before writing anything, then writes
//! each file under a temporary name and renames it into place once complete.

use super::meta::Apply;
use super::plan::{prefix_hash, write_index};
use super::wire::{Direction, Get, OpenReader, Put, SealWriter, GREETING};
use super::{Fail, ReceiveOptions, SyncStats};
use crate::files::agent::{error, statvfs, Out};
use crate::files::entry::{Entry, Kind};
use crate::files::manifest::{build_with, full_path, ManifestOptions};
use crate::files::owners::Owners;
use crate::files::protocol::Reply;
use std::ffi::OsStr;
use std::io::{BufReader, BufWriter, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::ffi::OsStrExt;
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
    let mut rx = super::write::Receiver {
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
