//! Switches under a pgbench write load: each round syncs a fresh target by logical
//! replication, then switches while pgbench writes and the bench's own client (see
//! [`super::writer`]) inserts a row every few milliseconds and is moved to the new server
//! once the switch returns. The figure is the writes blocked as that client saw them;
//! cutover's own freeze window is kept beside it. Nothing may be lost: every row the client
//! saw acknowledged is on the new server, and the frozen source verifies against the target.
//! The baseline is the write freeze a dump and restore of the same database needs.

use super::writer::{self, Writer};
use super::{endpoint, pw_env, Setup, BIN};
use crate::report::{Row, Target};
use crate::rounds::{Cache, Samples};
use crate::Options;
use cutover_data::postgres::replication::switch::{self, Freeze, SwitchOptions};
use cutover_data::postgres::replication::{self, SyncOptions};
use cutover_data::postgres::{verify, VerifyOptions};
use cutover_exec::Command;
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// The pgbench database on old: small (the freeze does not depend on the size, only on the
/// lag), written by role `writer` at a steady rate.
const DB: &str = "sw";

/// Switches at full size (fewer in a reduced run, never fewer than the rounds).
const SWITCHES: usize = 10;

/// The switch row, its targets and a note on what was proven.
pub fn bench(s: &Setup, options: &Options) -> anyhow::Result<(Row, Vec<Target>, String)> {
    let switches = if options.full_size() {
        SWITCHES
    } else {
        options.rounds
    };
    s.old.psql("postgres", &format!("CREATE DATABASE {DB}"))?;
    s.old
        .shell(&format!("pgbench -q -i -s 5 {DB} >/dev/null 2>&1"))?;
    s.old.psql(
        DB,
        "CREATE TABLE client_writes (id bigint PRIMARY KEY, at timestamptz DEFAULT clock_timestamp());
         CREATE ROLE writer LOGIN; GRANT ALL ON ALL TABLES IN SCHEMA public TO writer;",
    )?;
    s.new.psql("postgres", "CREATE ROLE writer LOGIN")?;

    eprintln!("   write freeze of a dump | restore of the same database ({switches} rounds)");
    let mut dumps = Samples::default();
    for _ in 0..switches {
        Cache::NotRelevant.prepare()?;
        dumps.0.push(dump_restore(s)?);
    }

    eprintln!("   {switches} switches under pgbench load");
    let (mut client, mut own) = (Samples::default(), Samples::default());
    let (mut acked, mut verified_rows) = (0usize, 0u64);
    let mut next_id = 1i64;
    for round in 0..switches {
        let r = one_switch(s, round, next_id)?;
        next_id = r.next_id;
        acked += r.acked;
        verified_rows += r.verified_rows;
        eprintln!(
            "     switch {}: writes blocked {:.3} s at the client; cutover's freeze window {:.3} s (catch-up {:.3} s)",
            round + 1,
            r.blocked,
            r.own,
            r.catch_up
        );
        client.0.push(r.blocked);
        own.0.push(r.own);
    }
    let row = Row {
        what: format!("writes blocked by a switch under pgbench load, at the bench's client ({switches} rounds)"),
        cache: Cache::NotRelevant.label(),
        unit: "s",
        ours: client.clone(),
        baseline: format!("write freeze during `pg_dump -Fc | pg_restore` of the same database ({switches} rounds)"),
        theirs: dumps,
        // Not paired: the dumps ran as their own series, before the switches.
        paired: false,
    };
    let target = Target {
        what: format!("writes blocked by a switch, at the bench's client ({switches} switches)"),
        bound: 1.0,
        unit: "s",
        measured: client,
        own: Some(("freeze window".into(), own)),
    };
    let note = format!(
        "Switches: the client inserts a row every 4 ms into the source and is moved to the target when the switch returns; its figure runs from its first failed insert to its first acknowledged one on the target (its reconnection included). In {switches} switches, all {acked} inserts the client saw acknowledged were on the target, and the frozen source verified against the target each time ({verified_rows} rows compared in all)."
    );
    Ok((row, vec![target], note))
}

/// The freeze a dump | restore needs: the time of one through the controller.
fn dump_restore(s: &Setup) -> anyhow::Result<f64> {
    s.new.psql(
        "postgres",
        "DROP DATABASE IF EXISTS sw_dump; CREATE DATABASE sw_dump",
    )?;
    let dump = pw_env(Command::shell(
        "old",
        format!("{BIN}/pg_dump -h 127.0.0.1 -U postgres -Fc {DB}"),
    ));
    let restore = pw_env(Command::shell(
        "new",
        format!("{BIN}/pg_restore -h 127.0.0.1 -U postgres -d sw_dump"),
    ));
    let t = Instant::now();
    let report = s.rt.block_on(s.ex.pipe(&dump, &restore, &mut |_| {}))?;
    let secs = t.elapsed().as_secs_f64();
    anyhow::ensure!(
        report.success(),
        "pg_dump | pg_restore failed: {}",
        report.to.stderr
    );
    Ok(secs)
}

struct Switched {
    blocked: f64,
    own: f64,
    catch_up: f64,
    acked: usize,
    verified_rows: u64,
    next_id: i64,
}

fn one_switch(s: &Setup, round: usize, first_id: i64) -> anyhow::Result<Switched> {
    let source = endpoint("old", "127.0.0.1", DB);
    let target_db = format!("sw_{round}");
    let target = endpoint("new", "127.0.0.1", &target_db);
    let sync = SyncOptions {
        source_address: s.old.address().to_string(),
        replica_identity_full: true,
        timeout: Duration::from_secs(300),
        ..SyncOptions::default()
    };
    let mut load = s.old.spawn_shell(&format!(
        "pgbench -n -c 4 -j 2 -T 600 -R 400 -U writer {DB} >/dev/null 2>&1"
    ))?;
    s.rt.block_on(replication::sync(&s.ex, &source, &target, &sync, &|_| {}))?;
    let client = Writer::start(writer::conninfo(&s.old.address().to_string(), DB), first_id);
    std::thread::sleep(Duration::from_secs(2));
    let options = SwitchOptions {
        sync: sync.clone(),
        freeze: Freeze::ReadOnly,
        reverse: None,
        max_wait: Duration::from_secs(30),
    };
    let report =
        s.rt.block_on(switch::switch(&s.ex, &source, &target, &options, &|_| {}))?;
    client.move_to(writer::conninfo(&s.new.address().to_string(), &target_db));
    let moved = Instant::now();
    while moved.elapsed() < Duration::from_millis(500) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let attempts = client.stop();
    let _ = load.kill();
    let _ = load.wait();
    let blocked = writer::blocked(&attempts).ok_or_else(|| {
        anyhow::anyhow!(
            "switch {round}: the client saw no blocked write, or never wrote to the target"
        )
    })?;

    // Nothing lost: every insert acknowledged on the source is on the target.
    let on_source: Vec<i64> = attempts
        .iter()
        .filter(|a| a.ok && a.server == 0)
        .map(|a| a.id)
        .collect();
    let first_on_target = attempts
        .iter()
        .find(|a| a.server == 1)
        .map_or(i64::MAX, |a| a.id);
    let present: HashSet<i64> = s
        .new
        .psql(
            &target_db,
            &format!("SELECT id FROM client_writes WHERE id >= {first_id}"),
        )?
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    let lost: Vec<&i64> = on_source
        .iter()
        .filter(|id| !present.contains(id))
        .collect();
    anyhow::ensure!(
        lost.is_empty(),
        "switch {round}: {} inserts acknowledged by the source are not on the target (first: {:?})",
        lost.len(),
        lost.first()
    );
    // The client's own writes on the target are not on the frozen source: take them out
    // before comparing the two.
    s.new.psql(
        &target_db,
        &format!("DELETE FROM client_writes WHERE id >= {first_on_target}"),
    )?;
    let proof = s.rt.block_on(verify(
        &s.ex,
        &source,
        &target,
        &VerifyOptions::default(),
        &|_| {},
    ))?;
    anyhow::ensure!(
        proof.matches(),
        "switch {round}: the frozen source and the target differ:\n{}",
        proof.render()
    );
    s.rt.block_on(replication::undo_sync(&s.ex, &source, &target, &sync))?;
    s.old.psql(
        DB,
        &format!("SET default_transaction_read_only = off; ALTER DATABASE {DB} RESET default_transaction_read_only;"),
    )?;
    Ok(Switched {
        blocked: blocked.as_secs_f64(),
        own: report.freeze_window,
        catch_up: report.catch_up,
        acked: on_source.len(),
        verified_rows: proof.rows,
        next_id: attempts.last().map_or(first_id, |a| a.id + 1),
    })
}
