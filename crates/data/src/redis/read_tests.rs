//! [`super::read::read_keys`] against a fake server whose keys include a module's type
//! (which a real test server cannot hold): a wrong guess is read again by its `TYPE`, never
//! digested under the guessed type, and a key met twice in a batch reads alike both times.

use super::guess::Guesses;
use super::protocol::{Conn, TtlMode};
use super::read::{read_keys, KeyRead};
use super::resp::{frame_len, Reply};
use super::value::framed;
use super::wire::Wire;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};

/// A key of the fake server: its type and value (a string's bytes, a list's elements, a
/// module value's serialized form for `DUMP`).
type FakeKey = (&'static str, Vec<&'static [u8]>);

/// Serves `keys` on `socket` until it closes, logging each command's name and key.
fn fake_server(
    mut socket: UnixStream,
    keys: HashMap<&'static [u8], FakeKey>,
    log: Arc<Mutex<Vec<String>>>,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        while let Ok(Some(n)) = frame_len(&buf) {
            let words: Vec<Vec<u8>> = Reply::parse(&buf[..n])
                .items()
                .map(|w| w.bytes().unwrap_or_default().to_vec())
                .collect();
            buf.drain(..n);
            let name = String::from_utf8_lossy(&words[0]).to_uppercase();
            let key = words.get(1).cloned().unwrap_or_default();
            log.lock()
                .unwrap()
                .push(format!("{name} {}", String::from_utf8_lossy(&key)));
            let held = keys.get(key.as_slice());
            let bulk = |b: &[u8]| [format!("${}\r\n", b.len()).as_bytes(), b, b"\r\n"].concat();
            let wrong = b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
            let answer: Vec<u8> = match (name.as_str(), held) {
                ("TYPE", Some((kind, _))) => format!("+{kind}\r\n").into_bytes(),
                ("TYPE", None) => b"+none\r\n".to_vec(),
                ("PEXPIRETIME", Some(_)) => b":-1\r\n".to_vec(),
                ("PEXPIRETIME", None) => b":-2\r\n".to_vec(),
                ("GET", Some(("string", v))) => bulk(v[0]),
                ("LRANGE", Some(("list", v))) => {
                    let mut out = format!("*{}\r\n", v.len()).into_bytes();
                    v.iter().for_each(|e| out.extend(bulk(e)));
                    out
                }
                ("DUMP", Some((_, v))) => bulk(v[0]),
                ("GET" | "DUMP", None) => b"$-1\r\n".to_vec(),
                ("LRANGE", None) => b"*0\r\n".to_vec(),
                // A user whose ACL denies `XINFO` (its key is the word after `XINFO`).
                ("XINFO", _) => {
                    b"-NOPERM this user has no permissions to run the 'xinfo|stream' command\r\n"
                        .to_vec()
                }
                (_, Some(_)) => wrong.to_vec(),
                _ => b"-ERR the fake does not know this\r\n".to_vec(),
            };
            if socket.write_all(&answer).is_err() {
                return;
            }
        }
        match socket.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn fake() -> (Wire, Arc<Mutex<Vec<String>>>, std::thread::JoinHandle<()>) {
    let keys: HashMap<&'static [u8], FakeKey> = [
        (&b"m:1"[..], ("string", vec![&b"one"[..]])),
        (b"m:2", ("mymodule", vec![b"\x01serialized"])),
        (b"m:3", ("list", vec![b"a", b"b"])),
        (b"m:4", ("string", vec![b"four"])),
        (b"s:1", ("stream", vec![])),
    ]
    .into_iter()
    .collect();
    let (server, client) = UnixStream::pair().expect("pair");
    let log = Arc::new(Mutex::new(Vec::new()));
    let served = {
        let log = log.clone();
        std::thread::spawn(move || fake_server(server, keys, log))
    };
    let conn = Conn {
        address: "/fake.sock".into(),
        port: 0,
        user: None,
        password: None,
    };
    (Wire::over(client, conn), log, served)
}

fn batch(keys: &[&str]) -> Vec<Vec<u8>> {
    keys.iter().map(|k| k.as_bytes().to_vec()).collect()
}

#[test]
fn a_wrong_guess_is_read_again_by_its_type_and_a_module_value_is_dumped() {
    let (mut wire, log, served) = fake();
    let keys = batch(&["m:1", "m:2", "m:3", "m:gone", "m:1"]);
    let mut fresh = Guesses::default();
    let by_type = read_keys(&mut wire, &keys, TtlMode::Absolute, &mut fresh).expect("by type");
    let mut guesses = Guesses::default();
    guesses.learn(b"m:0", "string");
    log.lock().unwrap().clear();
    let guessed = read_keys(&mut wire, &keys, TtlMode::Absolute, &mut guesses).expect("guessed");
    assert_eq!(
        guessed, by_type,
        "a guess changes how a key is read, never what"
    );
    let module = KeyRead {
        kind: "mymodule".into(),
        value: framed(&[b"other", b"mymodule", b"\x01serialized"]),
        len: 11,
        expire_ms: None,
    };
    assert_eq!(guessed[1], Some(module));
    assert_eq!(
        guessed[2].as_ref().map(|r| (r.kind.as_ref(), r.len)),
        Some(("list", 2))
    );
    assert_eq!(guessed[3], None, "a key gone is not counted");
    assert_eq!(guessed[4], guessed[0], "a key met twice reads alike");
    assert_eq!(
        *log.lock().unwrap(),
        [
            // One round trip: every key's expiry and its guessed value.
            "PEXPIRETIME m:1",
            "GET m:1",
            "PEXPIRETIME m:2",
            "GET m:2",
            "PEXPIRETIME m:3",
            "GET m:3",
            "PEXPIRETIME m:gone",
            "GET m:gone",
            "PEXPIRETIME m:1",
            "GET m:1",
            // The wrong guesses' types, then their values.
            "TYPE m:2",
            "TYPE m:3",
            "DUMP m:2",
            "LRANGE m:3",
        ]
    );
    // What was learnt: the type of the last key whose guess was wrong (`m:3`, a list;
    // the second `m:1` was guessed right and taught nothing).
    log.lock().unwrap().clear();
    let again = read_keys(
        &mut wire,
        &batch(&["m:3", "m:4"]),
        TtlMode::Absolute,
        &mut guesses,
    );
    let again = again.expect("again");
    assert_eq!(again[0], guessed[2]);
    assert_eq!(again[1].as_ref().map(|r| r.len), Some(4));
    assert_eq!(
        *log.lock().unwrap(),
        [
            "PEXPIRETIME m:3",
            "LRANGE m:3",
            "PEXPIRETIME m:4",
            "LRANGE m:4",
            "TYPE m:4",
            "GET m:4"
        ]
    );
    drop(wire);
    served.join().expect("fake server");
}

#[test]
fn a_stream_the_server_refuses_to_describe_fails_the_read_instead_of_passing_as_gone() {
    let (mut wire, _log, served) = fake();
    let e = read_keys(
        &mut wire,
        &batch(&["s:1"]),
        TtlMode::Absolute,
        &mut Guesses::default(),
    )
    .expect_err("a denied XINFO is no vanished key");
    assert!(
        e.message.contains("XINFO STREAM") && e.message.contains("/fake.sock"),
        "{}: {}",
        e.code,
        e.message
    );
    drop(wire);
    served.join().expect("fake server");
}
