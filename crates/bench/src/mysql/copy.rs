//! The copy: cutover's (agent to agent, one snapshot, parallel primary-key ranges) against
//! the runbook's `mariadb-dump --single-transaction | mariadb` streamed through the
//! controller's SSH pipe, and against `mydumper` + `myloader` on the new host with the same
//! thread count (mydumper 0.10 writes files: it cannot stream into myloader). All in the
//! same rounds, cache dropped before each run, each into an empty server.

use super::{endpoint, pw_env, run_ok, ServerCpu, Setup, DB, THREADS};
use crate::report::Row;
use crate::rounds::{self, Cache, Contender, Samples};
use cutover_data::mysql::copy::{self, CopyOptions};
use cutover_exec::Command;
use cutover_testbed::MariaServer;
use std::cell::{Cell, RefCell};
use std::time::Instant;

/// The copy rows, the runbook's dump | restore times (its write freeze), and a note of the
/// CPU each contender's runs took in the servers.
pub fn bench(s: &Setup, rounds: usize) -> anyhow::Result<(Vec<Row>, Samples, Option<String>)> {
    eprintln!("   copy");
    // Which contender loaded the database now on new: the verify measure needs cutover's.
    let last_ours = Cell::new(false);
    let cpu: [RefCell<ServerCpu>; 3] = Default::default();
    let mut contenders = [
        Contender::new("dump|mariadb", || {
            last_ours.set(false);
            cpu[0].borrow_mut().measure(s, || dump_restore(s))
        }),
        Contender::new("mydumper+myloader", || {
            last_ours.set(false);
            cpu[1].borrow_mut().measure(s, || mydumper(s))
        }),
        Contender::new("cutover", || {
            let secs = cpu[2].borrow_mut().measure(s, || ours(s))?;
            last_ours.set(true);
            Ok(secs)
        }),
    ];
    let v = rounds::run(rounds, &Cache::Dropped, &mut contenders, |_| Ok(()))?;
    drop(contenders);
    let what = "copy, old to new";
    let row = |baseline: &str, theirs: &Samples| Row {
        what: what.into(),
        cache: Cache::Dropped.label(),
        unit: "s",
        ours: v[2].clone(),
        baseline: baseline.into(),
        theirs: theirs.clone(),
        paired: true,
    };
    if !last_ours.get() {
        ours(s)?;
    }
    let rows = vec![
        row(
            "`mariadb-dump --single-transaction --routines --triggers --events | mariadb` through the same SSH path (the controller's pipe)",
            &v[0],
        ),
        row(
            &format!("`mydumper -t {THREADS}` + `myloader -t {THREADS}` on new (through a directory)"),
            &v[1],
        ),
    ];
    let medians = cpu.map(|c| c.into_inner().medians());
    let note = match medians {
        [Some(dump), Some(mydumper), Some(ours)] => Some(format!(
            "CPU used in the servers during a copy (median of the rounds): cutover {ours}; `mariadb-dump | mariadb` {dump}; mydumper + myloader {mydumper} (the tools' own processes not counted). Cutover's copy is bound by the target server's CPU: on this machine's 2 cores, shared with whatever else runs, it cannot take less than about half of new's server's CPU-s."
        )),
        _ => None,
    };
    Ok((rows, v[0].clone(), note))
}

/// The runbook's dump piped into the client, through the controller.
fn dump_restore(s: &Setup) -> anyhow::Result<f64> {
    s.drop_on_new(DB)?;
    let dump = pw_env(Command::shell(
        "old",
        format!("mariadb-dump --no-defaults -h 127.0.0.1 -uroot --single-transaction --routines --triggers --events --databases {DB}"),
    ));
    let restore = pw_env(Command::shell(
        "new",
        "mariadb --no-defaults -h 127.0.0.1 -uroot",
    ));
    let t = Instant::now();
    let report = s.rt.block_on(s.ex.pipe(&dump, &restore, &mut |_| {}))?;
    let secs = t.elapsed().as_secs_f64();
    anyhow::ensure!(
        report.success(),
        "mariadb-dump | mariadb failed: {} {}",
        report.from.stderr,
        report.to.stderr
    );
    Ok(secs)
}

/// mydumper into a directory on new, reading old over the network, then myloader from it.
/// (mydumper 0.10 takes the password on its command line; it is the lab's test password.)
fn mydumper(s: &Setup) -> anyhow::Result<f64> {
    s.drop_on_new(DB)?;
    let old = s.old.address();
    let pw = MariaServer::PASSWORD;
    let cmd = Command::shell(
        "new",
        format!(
            "rm -rf /tmp/mydumper && mydumper -h {old} -P 3306 -u root -p '{pw}' -B {DB} -t {THREADS} --trx-consistency-only -R -E -G -o /tmp/mydumper >/tmp/mydumper.log 2>&1 && myloader -h 127.0.0.1 -u root -p '{pw}' -d /tmp/mydumper -t {THREADS} >>/tmp/mydumper.log 2>&1 || {{ tail -20 /tmp/mydumper.log >&2; exit 1; }}"
        ),
    );
    let t = Instant::now();
    s.rt.block_on(run_ok(&s.ex, &cmd, "mydumper + myloader"))?;
    let secs = t.elapsed().as_secs_f64();
    s.lab.host("new").exec_ok("rm -rf /tmp/mydumper")?;
    Ok(secs)
}

/// cutover's copy, agent to agent; the database stays for the verify measure.
fn ours(s: &Setup) -> anyhow::Result<f64> {
    s.drop_on_new(DB)?;
    let mut o = CopyOptions::new(
        vec![DB.into()],
        s.new.address().to_string(),
        s.agent.clone(),
    );
    o.workers = THREADS;
    let t = Instant::now();
    // Each phase's time, for the log: where a copy's time goes.
    let phases = |e: copy::CopyEvent| match e {
        copy::CopyEvent::Snapshot { lock_ms, .. } => eprintln!(
            "       {:6.1} s snapshot taken (commits held {lock_ms} ms)",
            t.elapsed().as_secs_f64()
        ),
        copy::CopyEvent::Table(l) => eprintln!(
            "       {:6.1} s {} loaded: {} rows, {:.0} MB in {:.1} s, of which keys {:.1} s",
            t.elapsed().as_secs_f64(),
            l.name,
            l.rows,
            l.bytes as f64 / 1e6,
            l.seconds,
            l.keys_seconds
        ),
        _ => {}
    };
    let report = s.rt.block_on(copy::copy(
        &s.ex,
        &endpoint("old"),
        &endpoint("new"),
        &o,
        &phases,
    ))?;
    let secs = t.elapsed().as_secs_f64();
    eprintln!(
        "       {secs:6.1} s done: {} rows, {:.0} MB streamed",
        report.rows,
        report.bytes as f64 / 1e6
    );
    Ok(secs)
}
