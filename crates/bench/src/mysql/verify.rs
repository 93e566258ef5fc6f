//! Verification of both sides: cutover's per-range digests next to each server against the
//! runbook's `mariadb-dump --skip-dump-date | sha256sum` on both hosts at once, cache dropped
//! before each run.

use super::{endpoint, pw_env, run_ok, Setup, DB, THREADS};
use crate::report::Row;
use crate::rounds::{self, Cache, Contender};
use cutover_data::mysql::verify::{verify, VerifyOptions};
use cutover_exec::Command;
use std::cell::Cell;
use std::time::Instant;

/// The verify row (the copy left cutover's copy of the database on new), and a note when the
/// dumps' hashes differed between the sides (the runbook's method then proves nothing).
pub fn bench(s: &Setup, rounds: usize) -> anyhow::Result<(Vec<Row>, Option<String>)> {
    let dump = |host: &str| {
        pw_env(Command::shell(
            host,
            format!("mariadb-dump --no-defaults -h 127.0.0.1 -uroot --single-transaction --skip-dump-date --routines --triggers --events --databases {DB} | sha256sum"),
        ))
    };
    let differed = Cell::new(false);
    eprintln!("   verify");
    let mut contenders = [
        Contender::new("dump|sha256sum", || {
            let (a, b) = (dump("old"), dump("new"));
            let t = Instant::now();
            let (x, y) = s.rt.block_on(async {
                tokio::join!(run_ok(&s.ex, &a, "dump old"), run_ok(&s.ex, &b, "dump new"))
            });
            let secs = t.elapsed().as_secs_f64();
            if x? != y? {
                differed.set(true);
            }
            Ok(secs)
        }),
        Contender::new("cutover", || {
            let mut o = VerifyOptions::new(vec![DB.into()], s.agent.clone());
            o.workers = THREADS;
            let t = Instant::now();
            let proof = s.rt.block_on(verify(
                &s.ex,
                &endpoint("old"),
                &endpoint("new"),
                &o,
                &|_| {},
            ))?;
            let secs = t.elapsed().as_secs_f64();
            anyhow::ensure!(
                proof.matches(),
                "the copy does not verify:\n{}",
                proof.render()
            );
            Ok(secs)
        }),
    ];
    let v = rounds::run(rounds, &Cache::Dropped, &mut contenders, |_| Ok(()))?;
    drop(contenders);
    let row = Row {
        what: "verify both sides".into(),
        cache: Cache::Dropped.label(),
        unit: "s",
        ours: v[1].clone(),
        baseline: "`mariadb-dump --skip-dump-date | sha256sum` on both hosts at once".into(),
        theirs: v[0].clone(),
        paired: true,
    };
    let note = differed.get().then(|| {
        "The two dumps' hashes differed although cutover proved the copy identical: a dump carries each table's `AUTO_INCREMENT` counter and the server's formatting, so the runbook's whole-dump hash can disagree on equal data.".to_string()
    });
    Ok((vec![row], note))
}
