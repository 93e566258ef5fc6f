//! Reading a whole database with overlapping round trips: the agent's connection scans
//! (`SCAN`, so the server is never blocked) while [`READERS`] connections of their own read
//! the batches of keys it finds ([`super::read`]), each folding what it reads into its own
//! state. A batch costs a reader two or three round trips; with several in flight the
//! server and the agent stay busy instead of waiting on each other, which is what bounds a
//! proof on a loaded host. Folds must not depend on the order of batches: what a reader
//! returns is combined by the caller (digest sums add up, key lists are sorted).

use super::client::{server_error, Batch, Client, Failure};
use super::guess::Guesses;
use super::protocol::TtlMode;
use super::read::{read_keys, KeyRead};
use super::resp::Reply;
use super::wire::{self, Wire};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Connections reading next to the one scanning: enough to hide the round trips of a
/// loaded host, few enough to stay a small load on the server (each reads one batch at a
/// time; the server serves them in turn between its other clients).
pub const READERS: usize = 4;
/// Keys asked for per `SCAN` call: one batch.
const SCAN_COUNT: &[u8] = b"1000";
/// How long a reader's connection may take.
const CONNECT: Duration = Duration::from_secs(10);

/// Folds one batch (its keys and what was read of each: `None` when it vanished
/// meanwhile) into a reader's state.
pub type FoldBatch<'a, S> = dyn Fn(&mut S, Vec<Vec<u8>>, Vec<Option<KeyRead>>) + Sync + 'a;

/// What the readers do with their batches.
pub struct Fold<'a, S> {
    /// Which keys of a batch are read (the others are skipped).
    pub keep: &'a (dyn Fn(&[u8]) -> bool + Sync),
    /// A reader's state when it starts.
    pub init: &'a (dyn Fn() -> S + Sync),
    /// Folds a batch into a reader's state.
    pub fold: &'a FoldBatch<'a, S>,
}

/// Reads every key of database `db` of `scanner`'s server; returns each reader's state.
/// `progress` is called on this thread with the keys read so far.
pub fn read_database<S: Send>(
    scanner: &mut Client,
    db: u32,
    ttl: TtlMode,
    fold: &Fold<'_, S>,
    progress: &mut dyn FnMut(u64),
) -> Result<Vec<S>, Failure> {
    scanner.cmd_str(&["SELECT", &db.to_string()])?;
    let server = scanner.conn.clone();
    // The scan runs on a connection whose replies are read in place (see `super::wire`).
    let mut scanning = wire::connect(&server, CONNECT)?;
    wire::select(&mut scanning, db)?;
    let (send, receive) = sync_channel::<Vec<Vec<u8>>>(READERS * 2);
    // Shared by the readers only: once every reader has ended the scanner's sends fail,
    // so a reader's failure can never leave the scanner waiting.
    let receive = Arc::new(Mutex::new(receive));
    let failed = AtomicBool::new(false);
    let read = AtomicU64::new(0);
    std::thread::scope(|s| {
        let readers: Vec<_> = (0..READERS)
            .map(|_| {
                let receive = receive.clone();
                let (server, failed, read) = (&server, &failed, &read);
                s.spawn(move || {
                    let result = reader(server, db, ttl, fold, &receive, read, failed);
                    if result.is_err() {
                        failed.store(true, Ordering::Relaxed);
                    }
                    result
                })
            })
            .collect();
        drop(receive);
        let scanned = scan(&mut scanning, &mut |batch| {
            if failed.load(Ordering::Relaxed) || send.send(batch).is_err() {
                return false;
            }
            progress(read.load(Ordering::Relaxed));
            true
        });
        drop(send);
        let mut states = Vec::with_capacity(READERS);
        let mut first_failure = None;
        for r in readers {
            match r.join() {
                Ok(Ok(state)) => states.push(state),
                Ok(Err(f)) => {
                    first_failure.get_or_insert(f);
                }
                Err(_) => {
                    first_failure.get_or_insert(Failure {
                        code: "redis-protocol",
                        message: format!(
                            "a reader of database {db} on {} stopped unexpectedly",
                            server.describe()
                        ),
                    });
                }
            }
        }
        scanned?;
        match first_failure {
            Some(f) => Err(f),
            None => {
                progress(read.load(Ordering::Relaxed));
                Ok(states)
            }
        }
    })
}

/// One reader: its own connection, batches taken from `receive` until it closes.
fn reader<S>(
    server: &super::protocol::Conn,
    db: u32,
    ttl: TtlMode,
    fold: &Fold<'_, S>,
    receive: &Mutex<Receiver<Vec<Vec<u8>>>>,
    read: &AtomicU64,
    failed: &AtomicBool,
) -> Result<S, Failure> {
    // The readers' own connections: replies digested in place (see `super::wire`).
    let mut client = wire::connect(server, CONNECT)?;
    wire::select(&mut client, db)?;
    let mut state = (fold.init)();
    // Learnt from this reader's own batches: a database's key shapes show in every part of
    // the scan.
    let mut guesses = Guesses::default();
    loop {
        if failed.load(Ordering::Relaxed) {
            return Ok(state);
        }
        // The lock is held only while waiting for a batch, never while reading one.
        let batch = match receive.lock() {
            Ok(r) => r.recv(),
            Err(_) => return Ok(state),
        };
        let Ok(batch) = batch else {
            return Ok(state);
        };
        let batch: Vec<Vec<u8>> = batch.into_iter().filter(|k| (fold.keep)(k)).collect();
        if batch.is_empty() {
            continue;
        }
        let reads = read_keys(&mut client, &batch, ttl, &mut guesses)?;
        read.fetch_add(batch.len() as u64, Ordering::Relaxed);
        (fold.fold)(&mut state, batch, reads);
    }
}

/// Calls `each` with every batch of keys of the selected database, until it returns
/// false.
fn scan(wire: &mut Wire, each: &mut dyn FnMut(Vec<Vec<u8>>) -> bool) -> Result<(), Failure> {
    let mut cursor = b"0".to_vec();
    loop {
        let mut batch = Batch::default();
        batch.push(&[b"SCAN", &cursor, b"COUNT", SCAN_COUNT]);
        wire.send(&batch)?;
        let reply = wire.reply()?;
        if let Reply::Error(_) = reply {
            let v = reply.to_value();
            return Err(server_error(&wire.conn, "SCAN", &v)
                .unwrap_or_else(|| Failure::protocol(&wire.conn, "SCAN")));
        }
        let mut parts = reply.items();
        let next = parts.next().and_then(|c| c.bytes()).map(<[u8]>::to_vec);
        let keys: Vec<Vec<u8>> = parts
            .next()
            .map(|list| {
                list.items()
                    .map(|k| k.bytes().unwrap_or_default().to_vec())
                    .collect()
            })
            .unwrap_or_default();
        if !keys.is_empty() && !each(keys) {
            return Ok(());
        }
        match next {
            Some(n) if n != b"0" => cursor = n,
            Some(_) => return Ok(()),
            None => return Err(Failure::protocol(&wire.conn, "SCAN")),
        }
    }
}
