//! The receiving end of a sync, on the target host: listens, describes its tree to the
//! sender, checks there is room for what is coming before writing anything, then applies the
//! stream (see `super::write`). The stream is untrusted input: whoever holds the key (a
//! compromised source host) is confined to the target tree and to what the plan allows.

use super::plan::{prefix_hash_of, write_index};
use super::staging::Staging;
use super::wire::{Direction, Get, OpenReader, Put, SealWriter, GREETING};
use super::{Fail, ReceiveOptions, SyncStats};
use crate::agent::host::{error, statvfs, Out};
use crate::agent::protocol::Reply;
use crate::files::beneath::Tree;
use crate::files::entry::{Entry, Kind};
use crate::files::manifest::{build_with, ManifestOptions};
use crate::files::owners::Owners;
use std::io::{BufReader, BufWriter, Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long one connection may take to present the key before it is dropped.
const HANDSHAKE: Duration = Duration::from_secs(10);
/// Connections whose handshake may be pending at once (more are refused).
const MAX_PENDING: usize = 32;

/// Receives a sync stream into `root`; the reply for the controller.
pub fn run(root: &str, o: &ReceiveOptions, input: &mut dyn std::io::BufRead, out: &Out) -> Reply {
    match receive(Path::new(root), o, input, out) {
        Ok(stats) => Reply::Synced {
            stats: stats.capped(),
        },
        Err(f) => error(f.message, f.code),
    }
}

/// A partial copy kept by a cut-off run: real path, temporary path, length, hash of it.
pub(crate) type Partial = (Vec<u8>, Vec<u8>, u64, [u8; 32]);

/// What the receiver found in its tree before the stream.
pub(crate) struct Target {
    /// Entries, cutover's own temporary files left out.
    pub(crate) entries: Vec<Entry>,
    /// Partial copies to offer for resuming.
    pub(crate) partials: Vec<Partial>,
    /// Temporary files of earlier runs that did not finish: removed at the end.
    pub(crate) litter: Vec<Vec<u8>>,
}

/// The target's entries, partial files (hashed so that the sender can check them) and the
/// litter of cut-off runs. Only names with one of the staging record's tokens are cutover's.
fn index(tree: Option<&Tree>, staging: &Staging, o: &ReceiveOptions) -> Result<Target, Fail> {
    let mut found = Target {
        entries: Vec::new(),
        partials: Vec::new(),
        litter: Vec::new(),
    };
    let Some(tree) = tree else {
        return Ok(found);
    };
    let opts = ManifestOptions {
        exclude: o.exclude.clone(),
        cache: true,
        ..ManifestOptions::default()
    };
    let m = build_with(tree.path(), &opts, o.checksum, &|_, _| {})
        .map_err(|e| Fail::new(e.to_string(), "unreadable"))?;
    let kept = staging.partials();
    for e in m.entries {
        if !staging.is_ours(&e.path) {
            found.entries.push(e);
            continue;
        }
        match kept.iter().find(|(_, temp)| *temp == e.path) {
            Some((real, temp)) if e.kind == Kind::File => {
                match prefix_hash_of(tree, temp, e.size) {
                    Ok(h) => found.partials.push((real.clone(), temp.clone(), e.size, h)),
                    Err(_) => found.litter.push(e.path),
                }
            }
            _ => found.litter.push(e.path),
        }
    }
    Ok(found)
}

/// Binds the address the source will connect to: a name is resolved here, on the target,
/// and only one of its addresses is bound, never every address of the host.
pub(crate) fn listen(o: &ReceiveOptions) -> Result<TcpListener, Fail> {
    let addrs: Vec<_> = (o.listen.as_str(), o.port)
        .to_socket_addrs()
        .map_err(|e| {
            Fail::new(
                format!("cannot resolve `{}` on the target: {e}", o.listen),
                "listen",
            )
        })?
        .collect();
    let mut last = String::from("it resolves to no address");
    for a in &addrs {
        match TcpListener::bind(a) {
            Ok(l) => return Ok(l),
            Err(e) => last = format!("{a}: {e}"),
        }
    }
    Err(Fail::new(
        format!(
            "cannot listen on `{}` port {} on the target ({last}); set the step's `address` to an address of the target host that the source can reach (or `relay = true`)",
            o.listen, o.port
        ),
        "listen",
    ))
}

pub(crate) type Authenticated = (OpenReader<BufReader<TcpStream>>, TcpStream);

/// Accepts connections until one presents the key, or the deadline passes. Each handshake
/// runs on its own thread with its own timeout: a silent or wrong connection (a port scan,
/// someone else's client) neither blocks nor aborts the sync.
pub(crate) fn accept(
    listener: &TcpListener,
    key: &str,
    timeout: Duration,
) -> Result<Authenticated, Fail> {
    let deadline = Instant::now() + timeout;
    listener.set_nonblocking(true).map_err(Fail::io("listen"))?;
    let (tx, rx) = mpsc::channel::<Authenticated>();
    let pending = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut refused = 0u64;
    loop {
        if let Ok(done) = rx.try_recv() {
            return Ok(done);
        }
        match listener.accept() {
            Ok((s, _)) => {
                use std::sync::atomic::Ordering::SeqCst;
                if pending.load(SeqCst) >= MAX_PENDING {
                    continue; // dropped: too many handshakes at once
                }
                pending.fetch_add(1, SeqCst);
                let (tx, key, pending) = (tx.clone(), key.to_string(), pending.clone());
                std::thread::spawn(move || {
                    if let Some(done) = handshake(s, &key) {
                        let _ = tx.send(done);
                    }
                    pending.fetch_sub(1, SeqCst);
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() > deadline {
                    return Err(Fail::new(
                        format!(
                            "no sending agent presented the key within {}s{}",
                            timeout.as_secs(),
                            if refused > 0 {
                                " (connections without it were refused)"
                            } else {
                                ""
                            }
                        ),
                        "connect",
                    ));
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(_) => refused += 1,
        }
    }
}

/// Reads the sender's greeting within [`HANDSHAKE`]; `None` for anyone without the key.
fn handshake(s: TcpStream, key: &str) -> Option<Authenticated> {
    s.set_nonblocking(false).ok()?;
    s.set_read_timeout(Some(HANDSHAKE)).ok()?;
    let back = s.try_clone().ok()?;
    let mut r = OpenReader::new(
        BufReader::with_capacity(1 << 20, s),
        key,
        Direction::Forward,
    )
    .ok()?;
    let mut g = vec![0u8; GREETING.len()];
    r.read_exact(&mut g).ok()?;
    if g != GREETING {
        return None;
    }
    Some((r, back))
}

fn receive(
    root: &Path,
    o: &ReceiveOptions,
    input: &mut dyn std::io::BufRead,
    out: &Out,
) -> Result<SyncStats, Fail> {
    let started = Instant::now();
    let staging = Staging::open(root)?;
    // A root that does not exist yet is created only once the space check passed.
    let tree = match std::fs::symlink_metadata(root) {
        Ok(_) => Some(open_tree(root)?),
        Err(_) => None,
    };
    // Host to host: listen for the sender (and describe the tree while it connects).
    // Relayed: the stream comes on standard input and goes out framed on standard output.
    let (mut r, writer, found): (OpenReader<Box<dyn Read + '_>>, Box<dyn Write + '_>, _) = if o
        .relay
    {
        out.reply(&Reply::Listening { port: 0 })
            .map_err(Fail::io("reply"))?;
        let found = index(tree.as_ref(), &staging, o)?;
        let mut r = OpenReader::new(Box::new(input) as Box<dyn Read>, &o.key, Direction::Forward)
            .map_err(Fail::io("key"))?;
        let mut g = vec![0u8; GREETING.len()];
        r.read_exact(&mut g).map_err(|_| {
            Fail::new(
                "the relayed stream did not present the key; refused".into(),
                "auth",
            )
        })?;
        if g != GREETING {
            return Err(Fail::new(
                "the sender's greeting is wrong".into(),
                "protocol",
            ));
        }
        (r, Box::new(super::wire::FrameOut::new(out)), found)
    } else {
        let listener = listen(o)?;
        let port = listener.local_addr().map_err(Fail::io("listen"))?.port();
        out.reply(&Reply::Listening { port })
            .map_err(Fail::io("reply"))?;
        let found = index(tree.as_ref(), &staging, o)?;
        let secs = if o.accept_timeout == 0 {
            60
        } else {
            o.accept_timeout
        };
        let (r, back) = accept(&listener, &o.key, Duration::from_secs(secs))?;
        // A link cut between the hosts must end the sync, not hang it on TCP's timeouts
        // (the socket's options hold for the reader's handle on it too).
        let stall = super::stall(o.stall_ms);
        back.set_read_timeout(Some(stall))
            .and_then(|_| back.set_write_timeout(Some(stall)))
            .map_err(Fail::io("connection"))?;
        (
            r.boxed(),
            Box::new(BufWriter::with_capacity(1 << 16, back)),
            found,
        )
    };
    let mut w = SealWriter::new(writer, &o.key, Direction::Back).map_err(Fail::io("key"))?;
    w.write_all(GREETING).map_err(Fail::io("handshake"))?;
    let offered: Vec<_> = found
        .partials
        .iter()
        .map(|(real, _, len, h)| (real.clone(), *len, *h))
        .collect();
    write_index(&mut w, &found.entries, &offered).map_err(Fail::io("sending the index"))?;
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
    let need = bytes.saturating_add(files.saturating_mul(4096));
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
    let tree = match tree {
        Some(t) => t,
        None => {
            std::fs::create_dir_all(root).map_err(|e| {
                Fail::new(format!("cannot create {}: {e}", root.display()), "write")
            })?;
            open_tree(root)?
        }
    };
    w.u8(0)
        .and_then(|_| w.flush())
        .map_err(Fail::io("header"))?;
    // SAFETY: geteuid has no preconditions.
    let root_user = unsafe { libc::geteuid() } == 0;
    let mut rx = super::write::Receiver::new(
        super::send::Reporter {
            out,
            last: Instant::now(),
            files: 0,
            bytes: 0,
            total_files: files,
            total_bytes: bytes,
        },
        tree,
        staging,
        super::meta::Apply {
            chown: root_user && o.preserve.owner,
            numeric_ids: o.preserve.numeric_ids,
            owners: Owners::load(),
        },
        o.preserve,
        found,
    );
    if let Err(f) = rx.records(&mut r) {
        let _ = w
            .u8(1)
            .and_then(|_| w.blob(f.message.as_bytes()))
            .and_then(|_| w.flush());
        return Err(f);
    }
    let mut stats = rx.finish()?;
    w.u8(0)
        .and_then(|_| w.flush())
        .map_err(Fail::io("acknowledging"))?;
    stats.seconds = started.elapsed().as_secs_f64();
    Ok(stats)
}

fn open_tree(root: &Path) -> Result<Tree, Fail> {
    Tree::open(root)
        .map_err(|e| Fail::new(format!("cannot open {}: {e}", root.display()), "unreadable"))
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
