//! Redis benchmarks, part 2 (the setup is [`super::redis`]'s):
//! - 10 switches, old -> new -> old..., under a write load of 16 connections: each switch's
//!   clients command tells the writer (a switch-aware client, like one told of a failover)
//!   where the primary is and waits until every connection moved, inside the pause; the
//!   pause windows, the write rate, acknowledged writes missing on the final primary, and
//!   writes refused;
//! - the mutation suite on the 1 M-key copy: one mutation of each kind, each of which must
//!   be named.

use super::redis::{endpoint, row, Setup};
use crate::table::{median, Row};
use anyhow::ensure;
use cutover_data::redis::compare::DiffKind;
use cutover_data::redis::{Pair, SwitchOptions, SyncOptions, VerifyOptions};
use cutover_exec::Command;
use cutover_testbed::redis_data::{mixed_has_ttl, mixed_key};
use cutover_testbed::{missing_writes, RedisServer, RedisWriter};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const SWITCHES: usize = 10;
const CONNECTIONS: usize = 16;

fn addr(r: &RedisServer) -> SocketAddr {
    SocketAddr::from((r.address(), r.port()))
}

/// Switches from `from` to `to`, the writer moved inside the pause.
async fn switch(
    s: &Setup,
    from: &RedisServer,
    to: &RedisServer,
    control: u16,
) -> anyhow::Result<f64> {
    let mut pair = Pair::open(&s.exec, &s.agent, &endpoint(from), &endpoint(to)).await?;
    let tell = format!(
        "printf '%s\\n' {} | socat -t10 - TCP:127.0.0.1:{control}",
        addr(to)
    );
    let options = SwitchOptions {
        sync: SyncOptions {
            source_address: from.address().to_string(),
            ..SyncOptions::default()
        },
        target_address: to.address().to_string(),
        reverse: true,
        max_wait: Duration::from_secs(10),
        clients: Some(Box::new(Command::shell("local", tell))),
        clients_timeout: Duration::from_secs(10),
    };
    let quiet = |_: String| {};
    let report = pair.switch(&options, &quiet).await;
    pair.close().await;
    let report = report?;
    ensure!(!report.resumed, "{report:?}");
    let ms = report.steps.map(|s| format!("{:.1}", s * 1000.0));
    eprintln!("     pause {} ms, catch-up + promote {} ms (waited {:.1}), clients {} ms, reverse + unpause {} ms", ms[0], ms[1], report.catch_up * 1000.0, ms[2], ms[3]);
    Ok(report.pause_window)
}

/// Ten switches under writes.
pub async fn switch_rows(s: &Setup) -> anyhow::Result<Vec<Row>> {
    let mut writer = RedisWriter::start(addr(&s.old), RedisServer::PASSWORD, CONNECTIONS, "w");
    let control = writer.control_port()?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let started = Instant::now();
    let mut pauses = Vec::new();
    for i in 0..SWITCHES {
        let (from, to) = if i % 2 == 0 {
            (&s.old, &s.new)
        } else {
            (&s.new, &s.old)
        };
        let pause = switch(s, from, to, control).await?;
        eprintln!(
            "   switch {}: {} -> {}, writes paused {:.1} ms",
            i + 1,
            from.host(),
            to.host(),
            pause * 1000.0
        );
        pauses.push(pause);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let written = writer.stop();
    let seconds = started.elapsed().as_secs_f64() + 2.0;
    let rate = written.total() as f64 / seconds;
    let missing = missing_writes(&written, addr(&s.old), RedisServer::PASSWORD, "w")?;
    eprintln!(
        "   writes: {} acknowledged in {seconds:.1}s ({rate:.0}/s), {} missing on the final primary, {} refused, {} reconnections",
        written.total(),
        missing.len(),
        written.refused,
        written.reconnects
    );
    let (min, max) = (
        pauses.iter().copied().fold(f64::INFINITY, f64::min),
        pauses.iter().copied().fold(0.0, f64::max),
    );
    let met = |ok: bool| if ok { "" } else { " NOT met:" };
    Ok(vec![row(
        format!(
            "pause window, median of {SWITCHES} switches ({:.1}-{:.1} ms) under {rate:.0} writes/s{}; acknowledged writes lost: {}{} of {}; refused: {}{}",
            min * 1000.0,
            max * 1000.0,
            met(rate >= 10_000.0),
            met(missing.is_empty()),
            missing.len(),
            written.total(),
            met(written.refused == 0),
            written.refused
        ),
        "target: under 100 ms".into(),
        0.1,
        median(pauses),
        "s",
        Some(1.0),
    )])
}

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

/// One mutation of each kind on an exact copy; how many the proof names.
pub async fn mutation_rows(s: &Setup) -> anyhow::Result<Vec<Row>> {
    let new = &s.new;
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
    let mut named = 0;
    for (what, db, k, kind, _) in &mutations {
        let found = report
            .differences
            .iter()
            .find(|d| d.db == *db && &d.key == k && d.kind == *kind);
        match found {
            Some(d) => {
                named += 1;
                eprintln!("   mutation {what}: {d}");
            }
            None => eprintln!("   mutation {what}: NOT named"),
        }
    }
    let extra = report
        .total_differences
        .saturating_sub(mutations.len() as u64);
    eprintln!(
        "   proof of the mutated copy: {:.2}s, {} differences ({extra} beyond the mutations)",
        report.seconds, report.total_differences
    );
    Ok(vec![row(
        format!(
            "mutation suite on {} keys: kinds named (of {}), {extra} other differences, {:.1}s",
            s.keys,
            mutations.len(),
            report.seconds
        ),
        "every kind".into(),
        mutations.len() as f64,
        named as f64,
        "kinds",
        None,
    )])
}
