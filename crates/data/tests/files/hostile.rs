//! The sync receiver against a hostile sender: a test client that holds the one-time key
//! (as a compromised source host would) and speaks the protocol, sending what no honest
//! sender sends: absolute paths, `..`, writes through a symlink it created, hard links and
//! metadata changes aimed outside, deletions, device nodes, oversized records; and a local
//! user who swaps a directory for a symlink in the middle of a sync. Each test asserts that
//! nothing outside the target tree changed and that the receiver said why it refused.

use cutover_data::agent::host::Out;
use cutover_data::agent::protocol::Reply;
use cutover_data::files::sync::meta::Meta;
use cutover_data::files::sync::plan::read_index;
use cutover_data::files::sync::wire::{
    new_key, Direction, Get, OpenReader, Put, SealWriter, GREETING,
};
use cutover_data::files::sync::{receive, Preserve, ReceiveOptions};
use cutover_data::files::Kind;
use std::collections::BTreeMap;
use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Collects the receiver's reply lines.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl Write for Lines {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Lines {
    fn replies(&self) -> Vec<Reply> {
        let bytes = self.0.lock().unwrap().clone();
        bytes
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .filter_map(|l| serde_json::from_slice(l).ok())
            .collect()
    }
}

struct World {
    _dir: tempfile::TempDir,
    root: PathBuf,
    outside: PathBuf,
}

/// A target tree and, beside it, an `outside` directory whose every byte must survive.
fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("target");
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(root.join("d")).unwrap();
    std::fs::write(root.join("keep"), "kept").unwrap();
    std::fs::create_dir_all(outside.join("sub")).unwrap();
    std::fs::write(outside.join("secret"), "s3cret").unwrap();
    std::fs::set_permissions(
        outside.join("secret"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    std::fs::write(outside.join("sub/file"), "f").unwrap();
    World {
        _dir: dir,
        root,
        outside,
    }
}

/// Every path under `dir` with its type, mode, owner, size and content.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (u32, u32, u64, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(p) = todo.pop() {
        let m = std::fs::symlink_metadata(&p).unwrap();
        let content = if m.is_file() {
            std::fs::read(&p).unwrap()
        } else {
            Vec::new()
        };
        if m.is_dir() {
            for e in std::fs::read_dir(&p).unwrap() {
                todo.push(e.unwrap().path());
            }
        }
        out.insert(p, (m.mode(), m.uid(), m.len(), content));
    }
    out
}

/// A receiver listening on loopback, and a sender's connection to it that got the index.
struct Attack {
    w: SealWriter<TcpStream>,
    r: OpenReader<BufReader<TcpStream>>,
    lines: Lines,
    receiver: std::thread::JoinHandle<Reply>,
}

fn attack(world: &World, preserve: Preserve) -> Attack {
    attack_on(world, preserve, "127.0.0.1", |_| {})
}

/// A receiver listening on `listen`; `first` runs with its port before the sender connects.
fn attack_on(world: &World, preserve: Preserve, listen: &str, first: impl FnOnce(u16)) -> Attack {
    let key = new_key().unwrap();
    let opts = ReceiveOptions {
        key: key.clone(),
        listen: listen.into(),
        port: 0,
        accept_timeout: 20,
        preserve,
        ..ReceiveOptions::default()
    };
    let lines = Lines::default();
    let out = Out::new(Box::new(lines.clone()));
    let root = world.root.to_string_lossy().into_owned();
    let receiver = std::thread::spawn(move || {
        let mut stdin = std::io::empty();
        let mut stdin = std::io::BufReader::new(&mut stdin);
        receive::run(&root, &opts, &mut stdin, &out)
    });
    let port = wait_for(|| {
        lines.replies().iter().find_map(|r| match r {
            Reply::Listening { port } => Some(*port),
            _ => None,
        })
    });
    first(port);
    let s = TcpStream::connect((listen, port)).unwrap();
    let mut w = SealWriter::new(s.try_clone().unwrap(), &key, Direction::Forward).unwrap();
    let mut r = OpenReader::new(BufReader::new(s), &key, Direction::Back).unwrap();
    w.write_all(GREETING).unwrap();
    w.flush().unwrap();
    let mut g = vec![0u8; GREETING.len()];
    r.read_exact(&mut g).unwrap();
    read_index(&mut r).unwrap();
    w.u8(b'H').unwrap();
    w.u64(10).unwrap();
    w.u64(1 << 20).unwrap();
    w.flush().unwrap();
    assert_eq!(r.u8().unwrap(), 0, "room for the announced bytes");
    Attack {
        w,
        r,
        lines,
        receiver,
    }
}

fn wait_for<T>(mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn meta(mode: u32) -> Meta {
    Meta {
        mode,
        uid: 0,
        gid: 0,
        mtime_ns: 1_700_000_000_000_000_000,
        ..Meta::default()
    }
}

impl Attack {
    fn file(&mut self, path: &[u8], data: &[u8]) {
        let w = &mut self.w;
        w.u8(b'F').unwrap();
        w.blob(path).unwrap();
        meta(0o644).put(w).unwrap();
        w.u64(data.len() as u64).unwrap();
        w.u64(0).unwrap();
        w.u8(0).unwrap();
        w.blob(data).unwrap();
        w.u8(3).unwrap();
        w.u8(0).unwrap();
    }

    fn entry(&mut self, tag: u8, path: &[u8], kind: Kind, mode: u32, extra: &[u8]) {
        let w = &mut self.w;
        w.u8(tag).unwrap();
        w.blob(path).unwrap();
        w.u8(kind as u8).unwrap();
        meta(mode).put(w).unwrap();
        match tag {
            b'L' => w.blob(extra).unwrap(),
            b'S' => w.write_all(extra).unwrap(),
            _ => {}
        }
    }

    /// Ends the stream (ignoring a receiver that already hung up) and returns its reply:
    /// Ok(()) for success, else the receiver's error message.
    fn end(mut self) -> Result<(), String> {
        let _ = self.w.u8(b'E').and_then(|_| self.w.flush());
        let _ = self.r.u8();
        match self.receiver.join().unwrap() {
            Reply::Synced { stats } if stats.errors.is_empty() => Ok(()),
            Reply::Synced { stats } => Err(stats.errors.join("; ")),
            Reply::Error { message, .. } => Err(message),
            other => panic!(
                "unexpected reply {other:?}; lines {:?}",
                self.lines.replies()
            ),
        }
    }
}

/// Runs `attack` against a fresh world and returns the receiver's verdict and the world,
/// asserting that nothing outside the target tree changed.
fn against_in(
    preserve: Preserve,
    attack_with: impl FnOnce(&World, &mut Attack),
) -> (Result<(), String>, World) {
    let w = world();
    let before = snapshot(&w.outside);
    let mut a = attack(&w, preserve);
    attack_with(&w, &mut a);
    let verdict = a.end();
    assert_eq!(
        snapshot(&w.outside),
        before,
        "something outside the tree changed"
    );
    assert_eq!(std::fs::read(w.root.join("keep")).unwrap(), b"kept");
    (verdict, w)
}

fn against(
    preserve: Preserve,
    attack_with: impl FnOnce(&World, &mut Attack),
) -> Result<(), String> {
    against_in(preserve, attack_with).0
}

fn owner() -> Preserve {
    Preserve {
        owner: true,
        ..Preserve::default()
    }
}

fn refused(verdict: Result<(), String>, words: &str) {
    match verdict {
        Err(m) => assert!(m.contains(words), "expected `{words}` in: {m}"),
        Ok(()) => panic!("the receiver accepted it (expected `{words}`)"),
    }
}

#[test]
fn absolute_paths_and_dot_dot_are_refused() {
    let v = against(owner(), |w, a| {
        let abs = w.outside.join("abs");
        a.file(abs.as_os_str().as_encoded_bytes(), b"x");
    });
    refused(v, "is refused: it absolute");
    let v = against(owner(), |_, a| a.file(b"../outside/secret", b"pwned"));
    refused(v, "has a `.` or `..` component");
    let v = against(owner(), |_, a| a.file(b"d/../../outside/new", b"x"));
    refused(v, "has a `.` or `..` component");
}

#[test]
fn a_symlink_sent_earlier_in_the_stream_is_never_written_through() {
    let v = against(owner(), |w, a| {
        let to = w.outside.as_os_str().as_encoded_bytes().to_vec();
        a.entry(b'L', b"esc", Kind::Symlink, 0o777, &to);
        a.file(b"esc/pwned", b"x");
    });
    refused(v, "a symlink stands in its way");
}

#[test]
fn hard_links_and_metadata_changes_cannot_reach_outside() {
    let hard = Preserve {
        hard_links: true,
        ..owner()
    };
    let v = against(hard, |_, a| {
        a.w.u8(b'K').unwrap();
        a.w.blob(b"h").unwrap();
        a.w.blob(b"../outside/secret").unwrap();
    });
    refused(v, "has a `.` or `..` component");
    let v = against(hard, |w, a| {
        std::os::unix::fs::symlink(&w.outside, w.root.join("planted")).unwrap();
        a.w.u8(b'K').unwrap();
        a.w.blob(b"h").unwrap();
        a.w.blob(b"planted/secret").unwrap();
    });
    refused(v, "a symlink stands in its way");
    // A symlink planted in the target tree: chmod through it would hit the secret.
    let v = against(owner(), |w, a| {
        std::os::unix::fs::symlink(w.outside.join("secret"), w.root.join("link")).unwrap();
        a.entry(b'M', b"link", Kind::File, 0o777, &[]);
    });
    refused(v, "changed meanwhile");
    let v = against(owner(), |w, a| {
        std::os::unix::fs::symlink(&w.outside, w.root.join("dirlink")).unwrap();
        a.entry(b'M', b"dirlink/secret", Kind::File, 0o777, &[]);
    });
    refused(v, "a symlink stands in its way");
}

#[test]
fn deletions_stay_inside_and_never_take_the_root() {
    let v = against(owner(), |_, a| {
        a.w.u8(b'X').unwrap();
        a.w.blob(b"../outside").unwrap();
    });
    refused(v, "has a `.` or `..` component");
    let v = against(owner(), |w, a| {
        std::os::unix::fs::symlink(&w.outside, w.root.join("dirlink")).unwrap();
        a.w.u8(b'X').unwrap();
        a.w.blob(b"dirlink/secret").unwrap();
    });
    refused(v, "a symlink stands in its way");
    let v = against(owner(), |_, a| {
        a.w.u8(b'X').unwrap();
        a.w.blob(b"").unwrap();
    });
    refused(v, "a deletion of the tree's root");
    // Deleting a symlink that points outside removes the link, not what it points to.
    let v = against(owner(), |w, a| {
        std::os::unix::fs::symlink(&w.outside, w.root.join("dirlink")).unwrap();
        a.w.u8(b'X').unwrap();
        a.w.blob(b"dirlink").unwrap();
    });
    assert_eq!(v, Ok(()));
}

#[test]
fn device_nodes_and_unasked_attributes_need_the_plan() {
    let v = against(owner(), |_, a| {
        let null = rustix::fs::makedev(1, 3).to_le_bytes();
        a.entry(b'S', b"null", Kind::CharDevice, 0o666, &null);
    });
    refused(v, "is a device node, and this sync does not allow them");
    let v = against(owner(), |_, a| {
        let w = &mut a.w;
        w.u8(b'D').unwrap();
        w.blob(b"x").unwrap();
        w.u8(Kind::Dir as u8).unwrap();
        let mut m = meta(0o755);
        m.xattrs = vec![(b"security.capability".to_vec(), vec![1, 2, 3])];
        m.put(w).unwrap();
    });
    refused(v, "which this sync does not preserve");
    let v = against(owner(), |_, a| {
        a.w.u8(b'K').unwrap();
        a.w.blob(b"h").unwrap();
        a.w.blob(b"keep").unwrap();
    });
    refused(v, "this sync does not preserve them");
}

#[test]
fn oversized_records_are_refused_before_anything_is_allocated() {
    // A file's data beyond its announced size, a chunk over the limit, a path over 4 KiB.
    let (v, w) = against_in(owner(), |_, a| {
        let w = &mut a.w;
        w.u8(b'F').unwrap();
        w.blob(b"big").unwrap();
        meta(0o644).put(w).unwrap();
        w.u64(4).unwrap();
        w.u64(0).unwrap();
        w.u8(0).unwrap();
        w.blob(b"more than four").unwrap();
        w.u8(3).unwrap();
        w.u8(0).unwrap();
    });
    refused(v, "more than the file's announced size");
    assert!(!w.root.join("big").exists());
    assert_eq!(
        std::fs::read_dir(&w.root).unwrap().count(),
        2,
        "no temporary file left"
    );
    let v = against(owner(), |_, a| {
        let w = &mut a.w;
        w.u8(b'F').unwrap();
        w.u32(u32::MAX).unwrap();
    });
    refused(v, "over its limit of 4096");
    let v = against(owner(), |_, a| {
        let w = &mut a.w;
        w.u8(b'F').unwrap();
        w.blob(b"hole").unwrap();
        meta(0o644).put(w).unwrap();
        w.u64(10).unwrap();
        w.u64(0).unwrap();
        w.u8(1).unwrap();
        w.u64(u64::MAX).unwrap();
    });
    refused(v, "more than the file's announced size");
}

#[test]
fn a_directory_swapped_for_a_symlink_mid_sync_leads_nowhere() {
    let w = world();
    let before = snapshot(&w.outside);
    let mode_before = std::fs::metadata(&w.outside).unwrap().mode();
    let mut a = attack(&w, owner());
    a.entry(b'D', b"uploads", Kind::Dir, 0o777, &[]);
    a.w.flush().unwrap();
    let dir = w.root.join("uploads");
    wait_for(|| dir.is_dir().then_some(()));
    // The local attacker: the directory becomes a symlink to a place they want written.
    std::fs::remove_dir(&dir).unwrap();
    std::os::unix::fs::symlink(&w.outside, &dir).unwrap();
    a.file(b"uploads/pwned", b"x");
    let v = a.end();
    refused(v, "a symlink stands in its way");
    assert_eq!(snapshot(&w.outside), before);
    assert_eq!(
        std::fs::metadata(&w.outside).unwrap().mode(),
        mode_before,
        "no chmod through the swap"
    );
}

#[test]
fn an_honest_stream_still_writes_everything() {
    let (v, w) = against_in(
        Preserve {
            hard_links: true,
            devices: true,
            ..owner()
        },
        |_, a| {
            a.entry(b'D', b"d/e", Kind::Dir, 0o750, &[]);
            a.file(b"d/e/f", b"content");
            a.entry(b'L', b"d/l", Kind::Symlink, 0o777, b"/etc/passwd");
            a.w.u8(b'K').unwrap();
            a.w.blob(b"d/hard").unwrap();
            a.w.blob(b"d/e/f").unwrap();
            let null = rustix::fs::makedev(1, 3).to_le_bytes();
            a.entry(b'S', b"d/null", Kind::CharDevice, 0o666, &null);
            a.entry(b'S', b"d/fifo", Kind::Fifo, 0o600, &0u64.to_le_bytes());
        },
    );
    assert_eq!(v, Ok(()));
    let d = w.root.join("d");
    assert_eq!(std::fs::read(d.join("e/f")).unwrap(), b"content");
    assert_eq!(
        std::fs::metadata(d.join("e")).unwrap().mode() & 0o7777,
        0o750
    );
    assert_eq!(
        std::fs::read_link(d.join("l")).unwrap(),
        Path::new("/etc/passwd")
    );
    let (f, h) = (
        std::fs::metadata(d.join("e/f")).unwrap(),
        std::fs::metadata(d.join("hard")).unwrap(),
    );
    assert_eq!(f.ino(), h.ino(), "hard link");
    assert_eq!(
        std::fs::symlink_metadata(d.join("null")).unwrap().rdev(),
        rustix::fs::makedev(1, 3)
    );
    assert!(
        std::fs::symlink_metadata(d.join("fifo"))
            .unwrap()
            .file_type()
            .is_fifo()
            || cfg!(not(unix))
    );
    let names: Vec<_> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        !names
            .iter()
            .any(|n| n.to_string_lossy().contains("cutover-part")),
        "{names:?}"
    );
}

#[test]
fn the_listener_binds_one_address_and_outlasts_connections_without_the_key() {
    let w = world();
    let mut others = Vec::new();
    let mut a = attack_on(&w, owner(), "localhost", |port| {
        // Not every address of the host: another loopback address finds no listener.
        assert!(TcpStream::connect(("127.0.0.2", port)).is_err());
        // A silent connection, and one that sends garbage, before the real sender.
        others.push(TcpStream::connect(("localhost", port)).unwrap());
        let mut noisy = TcpStream::connect(("localhost", port)).unwrap();
        noisy.write_all(&[0xff; 64]).unwrap();
        others.push(noisy);
    });
    a.file(b"arrived", b"ok");
    assert_eq!(a.end(), Ok(()));
    assert_eq!(std::fs::read(w.root.join("arrived")).unwrap(), b"ok");
}
