//! The file sync's receiver on an arbitrary stream from a sender that holds the key (a
//! compromised source host): the input's first byte picks what is fuzzed.
//! - 0: the raw frame decoder (lengths, authentication) on the bytes as they come off the wire;
//! - otherwise: the bytes after it, sealed with the key, as the record stream after the
//!   greeting (the receiver's index reply goes nowhere; a header and records follow).
//!
//! Must hold: no panic, no hang, bounded memory, and nothing created, changed or removed
//! outside the target tree (a sibling directory and a file beside the tree are checked).

#![no_main]

use cutover_data::agent::host::Out;
use cutover_data::files::sync::wire::{Direction, OpenReader, SealWriter, GREETING};
use cutover_data::files::sync::{receive, Preserve, ReceiveOptions};
use libfuzzer_sys::fuzz_target;
use std::io::{Read, Write};
use std::path::Path;

const KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/// What the outside looks like: every name under `dir` with its size and mode.
fn outside(dir: &Path) -> Vec<(String, u64, u32)> {
    use std::os::unix::fs::MetadataExt;
    let mut v: Vec<_> = walk(dir)
        .into_iter()
        .map(|p| {
            let m = std::fs::symlink_metadata(&p).expect("stat");
            (p.display().to_string(), m.len(), m.mode())
        })
        .collect();
    v.sort();
    v
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

fuzz_target!(|bytes: &[u8]| {
    let Some((&mode, rest)) = bytes.split_first() else {
        return;
    };
    if mode == 0 {
        let mut r = OpenReader::new(rest, KEY, Direction::Forward).expect("key");
        let mut sink = Vec::new();
        let _ = r.read_to_end(&mut sink);
        return;
    }
    let world = tempfile::tempdir().expect("tempdir");
    // The staging record goes to this world's own cache, not the fuzzing machine's.
    std::env::set_var("XDG_CACHE_HOME", world.path().join("cache"));
    let root = world.path().join("a/target");
    let side = world.path().join("a/outside");
    std::fs::create_dir_all(root.join("d")).expect("mkdir");
    std::fs::create_dir_all(&side).expect("mkdir");
    std::fs::write(side.join("secret"), b"s").expect("write");
    std::os::unix::fs::symlink(&side, root.join("link")).expect("symlink");
    let before = outside(&side);
    let mut sealed = SealWriter::new(Vec::new(), KEY, Direction::Forward).expect("key");
    sealed.write_all(GREETING).expect("seal");
    sealed.write_all(rest).expect("seal");
    sealed.flush().expect("seal");
    let stream = sealed.into_inner();
    let opts = ReceiveOptions {
        key: KEY.into(),
        relay: true,
        accept_timeout: 1,
        preserve: Preserve {
            owner: true,
            hard_links: mode & 2 != 0,
            devices: mode & 4 != 0,
            sparse: true,
            ..Preserve::default()
        },
        ..ReceiveOptions::default()
    };
    let out = Out::new(Box::new(std::io::sink()));
    let mut input = std::io::BufReader::new(&stream[..]);
    let _ = receive::run(&root.to_string_lossy(), &opts, &mut input, &out);
    assert_eq!(outside(&side), before, "something outside the tree changed");
    let top: Vec<_> = std::fs::read_dir(world.path().join("a"))
        .expect("list")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        top.len(),
        2,
        "something was created beside the tree: {top:?}"
    );
});
