//! Verification of both sides: cutover's verify against `pg_dump --data-only | sha256sum`
//! on both hosts at once, whole (the runbook) and one job per table (the practitioner's
//! parallel version), cache dropped before each run.

use super::{endpoint, pw_env, run_ok, Setup, BIN};
use crate::report::Row;
use crate::rounds::{self, Cache, Contender};
use cutover_data::postgres::{verify, VerifyOptions};
use cutover_exec::Command;
use std::time::Instant;

/// The verify rows (the copy left database `copy` on new).
pub fn bench(s: &Setup, rounds: usize) -> anyhow::Result<Vec<Row>> {
    // The dump's header differs between majors (version comments, settings, PostgreSQL
    // 18's `\restrict` lines): the runbook drops it before hashing, so that equal data
    // hashes equal.
    let dump = |db: &str, table: &str| {
        format!("{BIN}/pg_dump -h 127.0.0.1 -U postgres --data-only {table}{db} | grep -v -e '^--' -e '^SET ' -e '^\\\\' -e 'set_config' -e '^$' | sha256sum")
    };
    let whole = |host: &str, db: &str| pw_env(Command::shell(host, dump(db, "")));
    let per_table = |host: &str, db: &str| {
        pw_env(Command::shell(
            host,
            format!(
                "for t in orders payments; do ({}) > /tmp/sum.$t & done; wait; cat /tmp/sum.orders /tmp/sum.payments",
                dump(db, "-t $t ")
            ),
        ))
    };
    let both = |a: Command, b: Command| -> anyhow::Result<f64> {
        let t = Instant::now();
        let (x, y) = s.rt.block_on(async {
            tokio::join!(run_ok(&s.ex, &a, "dump old"), run_ok(&s.ex, &b, "dump new"))
        });
        let secs = t.elapsed().as_secs_f64();
        anyhow::ensure!(x? == y?, "the dumps' hashes differ");
        Ok(secs)
    };
    let (source, target) = (
        endpoint("old", "127.0.0.1", "app"),
        endpoint("new", "127.0.0.1", "copy"),
    );
    eprintln!("   verify");
    let mut contenders = [
        Contender::new("dump|sha256sum", || {
            both(whole("old", "app"), whole("new", "copy"))
        }),
        Contender::new("per-table", || {
            both(per_table("old", "app"), per_table("new", "copy"))
        }),
        Contender::new("cutover", || {
            let t = Instant::now();
            let proof = s.rt.block_on(verify(
                &s.ex,
                &source,
                &target,
                &VerifyOptions::default(),
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
    let what = "verify both sides";
    let row = |i: usize, baseline: &str| Row {
        what: what.into(),
        cache: Cache::Dropped.label(),
        unit: "s",
        ours: v[2].clone(),
        baseline: baseline.into(),
        theirs: v[i].clone(),
        paired: true,
    };
    Ok(vec![
        row(0, "`pg_dump --data-only | sha256sum` on both hosts at once"),
        row(
            1,
            "the same, one job per table (2 per host), both hosts at once",
        ),
    ])
}
