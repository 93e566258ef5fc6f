//! The agent's digest reads a database in pipelined batches over several connections
//! (`fanout`); a key's digest must not depend on the batch it was read in, its neighbours
//! in that batch, or the connection that read it. Checked against the same keys read one
//! at a time on one connection, over the mixed dataset plus keys too big to be read whole
//! (paged), in two databases.

use cutover_data::redis::client::{connect, Client};
use cutover_data::redis::digest::{bucket_of, databases, digest, key_digest, to_hex};
use cutover_data::redis::guess::Guesses;
use cutover_data::redis::protocol::{Conn, DigestOptions, TtlMode};
use cutover_data::redis::read::read_keys;
use cutover_data::redis::value::Sum;
use cutover_data::redis::wire;
use cutover_testbed::redis_data::resp;
use cutover_testbed::{Lab, RedisOptions, RedisServer, RedisVersion};
use std::time::Duration;

/// Keys of every type with 2,500 elements (over the 1,000 read whole), a stream with two
/// groups and consumers holding pending entries, and 40 small streams whose groups'
/// consumers differ (read in the same batches as their neighbours).
fn big_keys() -> Vec<u8> {
    let mut out = Vec::new();
    let mut push = |cmd: &str, key: &str, per: &dyn Fn(u32) -> Vec<String>| {
        for chunk in (0..2500u32).collect::<Vec<_>>().chunks(500) {
            let mut words = vec![cmd.to_string(), key.to_string()];
            words.extend(chunk.iter().flat_map(|&i| per(i)));
            let refs: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
            out.extend(resp(&refs));
        }
    };
    push("HSET", "big:hash", &|i| {
        vec![format!("f{i}"), format!("v{i}")]
    });
    push("RPUSH", "big:list", &|i| vec![format!("e{}", i % 7)]);
    push("SADD", "big:set", &|i| vec![format!("m{i}")]);
    push("ZADD", "big:zset", &|i| {
        vec![format!("{i}.5"), format!("z{i}")]
    });
    for i in 1..=2500u32 {
        let id = format!("{i}-1");
        out.extend(resp(&[b"XADD", b"big:stream", id.as_bytes(), b"n", b"1"]));
    }
    for g in ["a", "b"] {
        out.extend(resp(&[
            b"XGROUP",
            b"CREATE",
            b"big:stream",
            g.as_bytes(),
            b"0",
        ]));
    }
    for (g, c, n) in [("a", "c1", "3"), ("a", "c2", "5"), ("b", "c1", "1")] {
        out.extend(resp(&[
            b"XREADGROUP",
            b"GROUP",
            g.as_bytes(),
            c.as_bytes(),
            b"COUNT",
            n.as_bytes(),
            b"STREAMS",
            b"big:stream",
            b">",
        ]));
    }
    for k in 0..40u32 {
        let key = format!("small:stream:{k}");
        let k_ = key.as_bytes();
        for e in 1..=3 {
            out.extend(resp(&[
                b"XADD",
                k_,
                format!("{e}-0").as_bytes(),
                b"n",
                b"1",
            ]));
        }
        out.extend(resp(&[b"XGROUP", b"CREATE", k_, b"g", b"0"]));
        let (consumer, count) = (format!("c{k}"), (k % 3 + 1).to_string());
        out.extend(resp(&[
            b"XREADGROUP",
            b"GROUP",
            b"g",
            consumer.as_bytes(),
            b"COUNT",
            count.as_bytes(),
            b"STREAMS",
            k_,
            b">",
        ]));
    }
    out
}

fn client(r: &RedisServer) -> Client {
    let conn = Conn {
        address: r.address().to_string(),
        port: r.port(),
        user: None,
        password: Some(RedisServer::PASSWORD.into()),
    };
    connect(&conn, Duration::from_secs(10)).expect("connect")
}

/// Every key of database `db`, read one at a time, summed into buckets as the digest does.
fn one_at_a_time(c: &mut Client, db: u32, options: &DigestOptions) -> (u64, String) {
    c.cmd_str(&["SELECT", &db.to_string()]).unwrap();
    let keys = c.cmd_str(&["KEYS", "*"]).unwrap();
    let keys = cutover_data::redis::reply::flatten(&keys);
    // Keys are read as the agent's readers read them: on a connection of their own.
    let mut c = wire::connect(&c.conn, Duration::from_secs(10)).expect("connect");
    wire::select(&mut c, db).unwrap();
    let c = &mut c;
    let mut sums = vec![Sum::default(); 1 << options.buckets_log2];
    for key in &keys {
        let read = read_keys(
            c,
            std::slice::from_ref(key),
            options.ttl,
            &mut Guesses::default(),
        )
        .unwrap();
        let read = read[0].clone().expect("no key vanishes here");
        let b = bucket_of(key, options.buckets_log2) as usize;
        sums[b].0 = sums[b]
            .0
            .wrapping_add(key_digest(key, &read, options.grid_ms));
    }
    let hex = sums.iter().map(|s| to_hex(&s.0.to_le_bytes())).collect();
    (keys.len() as u64, hex)
}

#[test]
fn a_digest_read_in_parallel_batches_equals_the_keys_read_one_at_a_time() {
    let lab = Lab::start().expect("lab");
    let r = RedisServer::start(
        lab.host("old"),
        RedisVersion::Redis70,
        6379,
        RedisOptions::default(),
    )
    .expect("server");
    r.pipe(&cutover_testbed::redis_data::mixed(0..6000))
        .expect("seed");
    r.pipe(&big_keys()).expect("big keys");
    let options = DigestOptions {
        buckets_log2: 6,
        ttl: TtlMode::Absolute,
        grid_ms: 1000,
    };
    let mut c = client(&r);
    let mut seen = Vec::new();
    let dbs = digest(&mut c, &options, &mut |n| seen.push(n)).expect("digest");
    assert_eq!(
        dbs.iter().map(|d| d.db).collect::<Vec<_>>(),
        databases(&mut c).unwrap()
    );
    assert_eq!(dbs.iter().map(|d| d.keys).sum::<u64>(), 6045);
    assert_eq!(seen.last(), Some(&6045), "progress reaches every key read");
    for d in &dbs {
        let (keys, buckets) = one_at_a_time(&mut c, d.db, &options);
        assert_eq!(d.keys, keys, "database {}", d.db);
        assert_eq!(d.vanished, 0);
        assert_eq!(d.buckets, buckets, "database {}: bucket digests", d.db);
    }
}

#[test]
fn a_readers_connection_refuses_a_wrong_password_as_the_redis_crates_does() {
    let lab = Lab::start().expect("lab");
    let r = RedisServer::start(
        lab.host("old"),
        RedisVersion::Redis70,
        6379,
        RedisOptions::default(),
    )
    .expect("server");
    let mut conn = client(&r).conn;
    conn.password = Some("not-the-password".into());
    let theirs = connect(&conn, Duration::from_secs(10))
        .err()
        .expect("refused");
    let ours = wire::connect(&conn, Duration::from_secs(10))
        .err()
        .expect("refused");
    assert_eq!(ours.code, "redis-auth");
    assert_eq!(ours, theirs);
    assert!(
        !ours.message.contains("not-the-password"),
        "{}",
        ours.message
    );
    conn.port = 1;
    let e = wire::connect(&conn, Duration::from_secs(10))
        .err()
        .expect("refused");
    assert_eq!(e.code, "redis-unreachable");
    assert!(
        e.message.starts_with(&format!(
            "cannot reach the Redis server at {}:1 (connect): ",
            r.address()
        )),
        "{}",
        e.message
    );
}
