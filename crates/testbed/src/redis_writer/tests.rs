//! The writer's log against a fake server that refuses chosen writes: what the report lists
//! as acknowledged is exactly what the server acknowledged, pipelined or not.

use super::RedisWriter;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A server answering `+OK` to AUTH and to every SET except of the keys in `refuse`
/// (`-ERR refused`); returns its address and the keys it acknowledged.
fn fake_server(refuse: &'static [&'static str]) -> (SocketAddr, Arc<Mutex<BTreeSet<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let log = acked.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let log = log.clone();
            std::thread::spawn(move || {
                let mut out = stream.try_clone().unwrap();
                let mut lines = BufReader::new(stream).lines();
                // Commands arrive as `*N`, then N `$len` and value lines.
                while let Some(Ok(head)) = lines.next() {
                    let n: usize = head.trim_start_matches('*').parse().unwrap_or(0);
                    let words: Vec<String> = (0..n)
                        .filter_map(|_| {
                            lines.next();
                            lines.next().and_then(Result::ok)
                        })
                        .collect();
                    let answer = match words.first().map(String::as_str) {
                        Some("SET") if refuse.contains(&words[1].as_str()) => "-ERR refused\r\n",
                        Some("SET") => {
                            log.lock().unwrap().insert(words[1].clone());
                            "+OK\r\n"
                        }
                        _ => "+OK\r\n",
                    };
                    if out.write_all(answer.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (address, acked)
}

/// The keys a report lists as acknowledged.
fn listed(report: &super::WriterReport, prefix: &str) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for (c, &last) in report.acked.iter().enumerate() {
        keys.extend((1..=last).map(|n| format!("{prefix}:{c}:{n}")));
        keys.extend(report.beyond[c].iter().map(|n| format!("{prefix}:{c}:{n}")));
    }
    keys
}

#[test]
fn a_pipelined_window_with_a_refused_write_logs_every_acknowledged_one() {
    let (address, acked) = fake_server(&["w:0:2", "w:1:5"]);
    let writer = RedisWriter::pipelined(address, "pw", 2, 4, "w");
    let deadline = Instant::now() + Duration::from_secs(10);
    while acked.lock().unwrap().len() < 200 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let report = writer.stop();
    let server = acked.lock().unwrap().clone();
    let ours = listed(&report, "w");
    // Refused every time: the prefixes stop below them, the writes after are listed beyond.
    assert_eq!(report.acked, vec![1, 4], "{report:?}");
    assert!(report.beyond.iter().all(|b| !b.is_empty()), "{report:?}");
    assert!(report.refused >= 2, "{report:?}");
    assert!(
        ours.is_subset(&server),
        "listed but never acknowledged: {:?}",
        ours.difference(&server).collect::<Vec<_>>()
    );
    // Only the replies of a window cut short by the stop may be acknowledged yet unread.
    let unread = server.difference(&ours).count();
    assert!(unread <= 2 * 4, "{unread} acknowledged writes not listed");
    assert_eq!(report.total(), ours.len() as u64);
}

#[test]
fn one_write_at_a_time_keeps_a_plain_prefix() {
    let (address, acked) = fake_server(&[]);
    let writer = RedisWriter::start(address, "pw", 1, "w");
    let deadline = Instant::now() + Duration::from_secs(10);
    while acked.lock().unwrap().len() < 50 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let report = writer.stop();
    assert!(report.acked[0] >= 50, "{report:?}");
    assert!(report.beyond[0].is_empty(), "{report:?}");
    assert_eq!(report.refused, 0);
}
