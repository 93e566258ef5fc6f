//! The mutation suite on the full copy: one mutation of each kind the issue lists (changed
//! value, missing and extra key, TTL dropped and changed, type changed, hash field, list
//! order, sorted-set score, stream entry, set member, key in another database), made on the
//! target; the proof must name each (database, key, what differs).

use super::Setup;
use cutover_data::redis::compare::DiffKind;
use cutover_data::redis::VerifyOptions;
use cutover_testbed::redis_data::{mixed_has_ttl, mixed_key};
use std::time::Duration;

/// The first key of type `kind` (`i % 10`) in database 0 with (or without) a TTL.
fn key(kind: u64, ttl: bool) -> String {
    let i = (11..1000u64)
        .find(|&i| i % 10 == kind && i % 20 != 19 && mixed_has_ttl(i) == ttl)
        .unwrap_or(kind);
    mixed_key(i)
}

/// A mutation: what it is, where (database, key), what the proof must say differs, and
/// the commands making it.
type Mutation = (&'static str, u32, String, DiffKind, Vec<Vec<String>>);

/// One mutation of each kind on an exact copy: a table of what the proof said of each, and
/// a note with the count.
pub async fn bench(s: &Setup) -> anyhow::Result<(String, String)> {
    let new = &s.new;
    // After an odd number of switches old follows new: let it catch up, then part them.
    tokio::time::sleep(Duration::from_secs(1)).await;
    s.old.cli(&["REPLICAOF", "NO", "ONE"])?;
    new.cli(&["REPLICAOF", "NO", "ONE"])?;
    let stream_id = |k: &str| {
        format!(
            "{}-2",
            1000 + k.trim_start_matches("stream:").parse::<u64>().unwrap_or(0)
        )
    };
    let list = key(5, false);
    let li: u64 = list.trim_start_matches("list:").parse().unwrap_or(0);
    let set = key(6, false);
    let member = format!(
        "m{}",
        set.trim_start_matches("set:").parse::<u64>().unwrap_or(0) * 3 + 2
    );
    let stream = key(8, false);
    let mutations: Vec<Mutation> = vec![
        (
            "changed value",
            0,
            key(1, false),
            DiffKind::Value,
            vec![vec!["SET".into(), key(1, false), "changed".into()]],
        ),
        (
            "missing key",
            0,
            key(2, false),
            DiffKind::Missing,
            vec![vec!["DEL".into(), key(2, false)]],
        ),
        (
            "extra key",
            0,
            "extra:key".into(),
            DiffKind::Extra,
            vec![vec!["SET".into(), "extra:key".into(), "x".into()]],
        ),
        (
            "TTL dropped",
            0,
            key(4, true),
            DiffKind::Ttl,
            vec![vec!["PERSIST".into(), key(4, true)]],
        ),
        (
            "TTL changed",
            0,
            key(6, true),
            DiffKind::Ttl,
            vec![vec!["PEXPIRE".into(), key(6, true), "600000".into()]],
        ),
        (
            "type changed",
            0,
            key(3, false),
            DiffKind::Type,
            vec![
                vec!["DEL".into(), key(3, false)],
                vec!["RPUSH".into(), key(3, false), "3".into()],
            ],
        ),
        (
            "hash field",
            0,
            key(4, false),
            DiffKind::Value,
            vec![vec![
                "HSET".into(),
                key(4, false),
                "field2".into(),
                "other".into(),
            ]],
        ),
        (
            "list order",
            0,
            list.clone(),
            DiffKind::Value,
            vec![
                vec![
                    "LSET".into(),
                    list.clone(),
                    "0".into(),
                    format!("item{}", (li + 1) % 4),
                ],
                vec![
                    "LSET".into(),
                    list.clone(),
                    "1".into(),
                    format!("item{}", li % 4),
                ],
            ],
        ),
        (
            "sorted-set score",
            0,
            key(7, false),
            DiffKind::Value,
            vec![vec![
                "ZADD".into(),
                key(7, false),
                "XX".into(),
                "9.5".into(),
                "z1".into(),
            ]],
        ),
        (
            "stream entry",
            0,
            stream.clone(),
            DiffKind::Value,
            vec![vec!["XDEL".into(), stream.clone(), stream_id(&stream)]],
        ),
        (
            "set member",
            0,
            set.clone(),
            DiffKind::Value,
            vec![vec!["SREM".into(), set.clone(), member]],
        ),
        (
            "key in another database",
            2,
            "other-db".into(),
            DiffKind::Extra,
            vec![vec![
                "-n".into(),
                "2".into(),
                "SET".into(),
                "other-db".into(),
                "x".into(),
            ]],
        ),
    ];
    for (_, _, _, _, commands) in &mutations {
        for c in commands {
            let args: Vec<&str> = c.iter().map(String::as_str).collect();
            new.cli(&args)?;
        }
    }
    let mut pair = s.pair().await?;
    let quiet = |_: String| {};
    let report = pair.verify(&VerifyOptions::default(), &quiet).await;
    pair.close().await;
    let report = report?;
    let mut table = String::from(
        "Mutation suite (one mutation of each kind on the target, then one proof):\n\n| mutation | database | key | the proof's words |\n| --- | --- | --- | --- |\n",
    );
    let mut named = 0;
    for (what, db, k, kind, _) in &mutations {
        let found = report
            .differences
            .iter()
            .find(|d| d.db == *db && &d.key == k && d.kind == *kind);
        let said = match found {
            Some(d) => {
                named += 1;
                d.to_string()
            }
            None => "NOT named".into(),
        };
        eprintln!("   mutation {what}: {said}");
        table.push_str(&format!(
            "| {what} | {db} | `{k}` | {} |\n",
            said.replace('|', "\\|").replace('\n', " ")
        ));
    }
    let extra = report
        .total_differences
        .saturating_sub(mutations.len() as u64);
    let note = format!(
        "Mutation suite: {named} of {} mutations named by kind and key ({}), {extra} other differences reported, in a {:.1} s proof of {} keys.",
        mutations.len(),
        if named == mutations.len() { "met" } else { "NOT met" },
        report.seconds,
        crate::files::thousands(s.keys as usize)
    );
    Ok((table, note))
}
