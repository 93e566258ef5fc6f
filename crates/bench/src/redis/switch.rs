//! Switches old -> new -> old... under a write load of 16 connections, each keeping 4 writes
//! in flight (pipelined, as a busy producer does): each switch's clients
//! command tells the writer (a switch-aware client, like one told of a failover) where the
//! primary is and waits until every connection moved, inside the pause. Measured: the pause
//! windows, the write rate, acknowledged writes missing on the final primary, writes refused.

use super::{endpoint, Setup};
use crate::report::Target;
use crate::rounds::Samples;
use crate::Options;
use anyhow::ensure;
use cutover_data::redis::{Pair, SwitchOptions, SyncOptions};
use cutover_exec::Command;
use cutover_testbed::{missing_writes, RedisServer, RedisWriter};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Switches at full size (fewer in a reduced run, never fewer than the rounds).
const SWITCHES: usize = 10;
const CONNECTIONS: usize = 16;
/// Writes each connection keeps in flight: one at a time, 16 connections over the lab's
/// loopback wrote 8,200 a second on a loaded 2-core machine, short of the 10,000 a second
/// the switches must hold; a pipelining client is also what a busy producer is.
const DEPTH: usize = 4;

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

/// The pause target and a note on the writes.
pub async fn bench(s: &Setup, options: &Options) -> anyhow::Result<(Target, String)> {
    let switches = if options.full_size() {
        SWITCHES
    } else {
        options.rounds
    };
    let mut writer =
        RedisWriter::pipelined(addr(&s.old), RedisServer::PASSWORD, CONNECTIONS, DEPTH, "w");
    let control = writer.control_port()?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let started = Instant::now();
    let mut pauses = Samples::default();
    for i in 0..switches {
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
        pauses.0.push(pause);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let written = writer.stop();
    let seconds = started.elapsed().as_secs_f64() + 2.0;
    let rate = written.total() as f64 / seconds;
    let last = if switches % 2 == 0 { &s.old } else { &s.new };
    let missing = missing_writes(&written, addr(last), RedisServer::PASSWORD, "w")?;
    eprintln!(
        "   writes: {} acknowledged in {seconds:.1}s ({rate:.0}/s), {} missing on the final primary, {} refused, {} reconnections",
        written.total(),
        missing.len(),
        written.refused,
        written.reconnects
    );
    let met = |ok: bool| if ok { "met" } else { "NOT met" };
    let target = Target {
        what: format!("writes paused by a switch, cutover's own pause window ({switches} switches, old and new in turn)"),
        bound: 0.1,
        unit: "s",
        measured: pauses,
        own: None,
    };
    let note = format!(
        "Switches: {CONNECTIONS} connections write under their own keys throughout, {DEPTH} writes in flight each (pipelined) ({rate:.0} acknowledged writes/s on average over the {seconds:.0} s, pauses included; target at least 10,000/s: {}); each switch's `clients_command` points them at the new primary inside the pause. Of the {} writes acknowledged, {} are missing on the final primary (target 0: {}); {} were refused (target 0: {}); {} reconnections.",
        met(rate >= 10_000.0),
        written.total(),
        missing.len(),
        met(missing.is_empty()),
        written.refused,
        met(written.refused == 0),
        written.reconnects
    );
    Ok((target, note))
}
