//! The mutation suite: an exact copy made by replication (so even the stored expiry times
//! are equal), then one mutation of each kind on the copy; the proof must name every one
//! (database, key, what differs, and where inside the value) and nothing else. Also: equal
//! servers match, and an empty target lists every key as missing with flat memory.

use super::fixture::{pair, seed, servers, sync_options, Lines};
use cutover_data::redis::VerifyOptions;
use cutover_testbed::redis_data::{mixed_has_ttl, mixed_key};
use cutover_testbed::{RedisOptions, RedisServer, RedisVersion};
use std::collections::BTreeSet;

/// The first key of type `kind` (`i % 10`) in database 0 with (or without) a TTL.
fn key(kind: u64, ttl: bool) -> (u64, String) {
    let i = (0..1000u64)
        .find(|&i| i % 10 == kind && i % 20 != 19 && mixed_has_ttl(i) == ttl && i > 10)
        .unwrap();
    (i, mixed_key(i))
}

fn cli(r: &RedisServer, args: &[&str]) {
    let out = r.cli(args).unwrap();
    assert!(
        !out.starts_with("ERR") && !out.contains("WRONGTYPE"),
        "{args:?}: {out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_mutation_is_detected_and_named() {
    let (lab, old, new) = servers(
        RedisVersion::Redis70,
        RedisVersion::Redis70,
        RedisOptions::default(),
        RedisOptions::default(),
    );
    seed(&old, 0..3000);
    let mut pair = pair(&lab, &old, &new).await;
    let o = sync_options(&old);
    let quiet = |_: String| {};
    pair.preflight(&o).await.unwrap();
    pair.start_sync(&o).await.unwrap();
    pair.watch_sync(&o, &quiet).await.unwrap();
    cli(&new, &["REPLICAOF", "NO", "ONE"]);
    let proof = pair
        .verify(&VerifyOptions::default(), &quiet)
        .await
        .unwrap();
    assert!(
        proof.matches(),
        "an exact copy matches:\n{}",
        proof.render()
    );

    let (_, changed) = key(1, false);
    let (_, missing) = key(2, false);
    let (_, dropped) = key(4, true);
    let (_, ttl_changed) = key(6, true);
    let (_, retyped) = key(3, false);
    let (_, hash) = key(4, false);
    let (li, list) = key(5, false);
    let (_, zset) = key(7, false);
    let (si, stream) = key(8, false);
    let (seti, set) = key(6, false);
    cli(&new, &["SET", &changed, "changed", "KEEPTTL"]);
    cli(&new, &["DEL", &missing]);
    cli(&new, &["SET", "extra:key", "x"]);
    cli(&new, &["PERSIST", &dropped]);
    cli(&new, &["PEXPIRE", &ttl_changed, "600000"]);
    cli(&new, &["DEL", &retyped]);
    cli(&new, &["RPUSH", &retyped, "3"]);
    cli(&new, &["HSET", &hash, "field2", "other"]);
    // The list's first two elements swapped: the same elements in another order.
    let first = format!("item{}", li % 4);
    let second = format!("item{}", (li + 1) % 4);
    cli(&new, &["LSET", &list, "0", &second]);
    cli(&new, &["LSET", &list, "1", &first]);
    cli(&new, &["ZADD", &zset, "XX", "9.5", "z1"]);
    let entry = format!("{}-2", 1000 + si);
    cli(&new, &["XDEL", &stream, &entry]);
    let member = format!("m{}", seti * 3 + 2);
    cli(&new, &["SREM", &set, &member]);
    // Streams whose entries are equal: a group moved on, a consumer holding an entry, an
    // id generated and its entry deleted (the last generated id moved).
    let grouped = |nth: usize| {
        let i = (11..1000u64).filter(|i| i % 20 == 8).nth(nth).unwrap();
        mixed_key(i)
    };
    let (moved_group, claimed) = (grouped(0), grouped(1));
    cli(&new, &["XGROUP", "SETID", &moved_group, "workers", "$"]);
    cli(
        &new,
        &[
            "XREADGROUP",
            "GROUP",
            "workers",
            "c1",
            "COUNT",
            "1",
            "STREAMS",
            &claimed,
            ">",
        ],
    );
    // A stream without a group (`i % 20 == 8` have one).
    let last_id = mixed_key((20..1000u64).find(|i| i % 20 == 18).unwrap());
    cli(&new, &["XADD", &last_id, "999999-1", "n", "x"]);
    cli(&new, &["XDEL", &last_id, "999999-1"]);
    cli(&new, &["-n", "2", "SET", "other-db", "x"]);

    let len = |k: &str| old.cli(&["STRLEN", k]).unwrap().trim().to_string();
    let (changed_len, missing_len) = (len(&changed), len(&missing));
    let lines = Lines::default();
    let show = |l: String| lines.push(l);
    let proof = pair.verify(&VerifyOptions::default(), &show).await.unwrap();
    let found: BTreeSet<String> = proof
        .differences
        .iter()
        .map(|d| {
            let text = d.to_string();
            // TTLs are shown as seconds left, which move while the test runs.
            match text.find("expires in") {
                Some(at) => format!("{}…", &text[..at]),
                None => text,
            }
        })
        .collect();
    let expected: BTreeSet<String> = [
        format!("db 0 key \"{changed}\": value differs (string, {changed_len} bytes on source, string, 7 bytes on target: the bytes differ)"),
        format!("db 0 key \"{missing}\": missing on target (string, {missing_len} bytes)"),
        "db 0 key \"extra:key\": only on target (string, 1 bytes)".to_string(),
        format!("db 0 key \"{dropped}\": TTL differs (dropped on target: …"),
        format!("db 0 key \"{ttl_changed}\": TTL differs (…"),
        format!("db 0 key \"{retyped}\": type differs (string on source, list on target)"),
        format!("db 0 key \"{hash}\": value differs (hash, 6 elements on source, hash, 6 elements on target: field \"field2\" differs)"),
        format!("db 0 key \"{list}\": value differs (list, 6 elements on source, list, 6 elements on target: the same elements in another order (first at index 0))"),
        format!("db 0 key \"{zset}\": value differs (zset, 6 elements on source, zset, 6 elements on target: score of member \"z1\": {} on source, 9.5 on target)", zscore(&old, &zset)),
        format!("db 0 key \"{stream}\": value differs (stream, 3 elements on source, stream, 2 elements on target: entry {entry} missing on target)"),
        format!("db 0 key \"{set}\": value differs (set, 6 elements on source, set, 5 elements on target: member \"{member}\" missing on target)"),
        "db 2 key \"other-db\": only on target (string, 1 bytes)".to_string(),
        format!("db 0 key \"{moved_group}\": value differs (stream, 3 elements on source, stream, 3 elements on target: group workers: `0-0 0` on source, `{} 0` on target)", last_entry(&moved_group)),
        format!("db 0 key \"{claimed}\": value differs (stream, 3 elements on source, stream, 3 elements on target: group workers: `0-0 0` on source, `{} 1 c1 1` on target)", first_entry(&claimed)),
        format!("db 0 key \"{last_id}\": value differs (stream, 3 elements on source, stream, 3 elements on target: last generated id: `{}` on source, `999999-1` on target)", last_entry(&last_id)),
    ]
    .into_iter()
    .collect();
    assert_eq!(found, expected, "\n{}", proof.render());
    assert_eq!(proof.total_differences, 15);
    assert!(!proof.matches());
    let text = proof.render();
    assert!(text.contains("verdict: 15 difference(s)"), "{text}");
    pair.close().await;
}

/// The id of the first and last entries of mixed stream `key` (`stream:I`: `1000+I-1..3`).
fn first_entry(key: &str) -> String {
    let i: u64 = key.trim_start_matches("stream:").parse().unwrap();
    format!("{}-1", 1000 + i)
}

fn last_entry(key: &str) -> String {
    first_entry(key).replace("-1", "-3")
}

/// The score as the report shows it: the number, not the server's text (7.0 prints
/// `3.1000000000000001`).
fn zscore(r: &RedisServer, key: &str) -> String {
    let text = r.cli(&["ZSCORE", key, "z1"]).unwrap();
    text.trim().parse::<f64>().unwrap().to_string()
}
