//! The copy: cutover through the controller and with the new host's tools, against the
//! runbook's `pg_dump -Fc | pg_restore` through the same SSH pipe, the same uncompressed
//! (`-Z0`: compression is its bottleneck), `pgcopydb clone` and a parallel directory-format
//! dump and restore on the new host. All in the same rounds, cache dropped before each run,
//! each into a fresh database.

use super::{endpoint, pw_env, run_ok, Setup, BIN};
use crate::report::Row;
use crate::rounds::{self, Cache, Contender, Samples};
use cutover_data::postgres::copy::{self, CopyOptions};
use cutover_exec::Command;
use std::time::Instant;

const VIA: &str = "copy through the controller (one SSH pipe)";
const ON_NEW: &str = "copy with the new host's tools";

/// The copy rows.
pub fn bench(s: &Setup, rounds: usize) -> anyhow::Result<Vec<Row>> {
    let old_addr = s.old.address().to_string();
    eprintln!("   copy");
    let mut contenders = [
        Contender::new("dump|restore", || dump_restore(s, "")),
        Contender::new("dump-Z0|restore", || dump_restore(s, " -Z0")),
        Contender::new("cutover-via", || ours(s, "old", "127.0.0.1", "via")),
        Contender::new("pgcopydb", || pgcopydb(s, &old_addr)),
        Contender::new("dump-Fd-j2", || directory_dump(s, &old_addr)),
        Contender::new("cutover-on-new", || ours(s, "new", &old_addr, "copy")),
    ];
    let v = rounds::run(rounds, &Cache::Dropped, &mut contenders, |_| Ok(()))?;
    drop(contenders);
    let row = |what: &str, ours: &Samples, baseline: &str, theirs: &Samples| Row {
        what: what.into(),
        cache: Cache::Dropped.label(),
        unit: "s",
        ours: ours.clone(),
        baseline: baseline.into(),
        theirs: theirs.clone(),
        paired: true,
    };
    Ok(vec![
        row(VIA, &v[2], "`pg_dump -Fc | pg_restore`", &v[0]),
        row(VIA, &v[2], "`pg_dump -Fc -Z0 | pg_restore`", &v[1]),
        row(
            ON_NEW,
            &v[5],
            "`pgcopydb clone --table-jobs 2 --index-jobs 2`",
            &v[3],
        ),
        row(
            ON_NEW,
            &v[5],
            "`pg_dump -Fd -j2 -Z0` + `pg_restore -j2`",
            &v[4],
        ),
    ])
}

/// A fresh, empty database `db` on new.
fn fresh(s: &Setup, db: &str) -> anyhow::Result<()> {
    s.new.psql(
        "postgres",
        &format!("DROP DATABASE IF EXISTS {db}; CREATE DATABASE {db};"),
    )?;
    Ok(())
}

/// The runbook's dump | restore (`flags` added to pg_dump), streamed through the same SSH
/// pipe as cutover's.
fn dump_restore(s: &Setup, flags: &str) -> anyhow::Result<f64> {
    fresh(s, "pipe")?;
    let dump = pw_env(Command::shell(
        "old",
        format!("{BIN}/pg_dump -h 127.0.0.1 -U postgres -Fc{flags} app"),
    ));
    let restore = pw_env(Command::shell(
        "new",
        format!("{BIN}/pg_restore -h 127.0.0.1 -U postgres -d pipe"),
    ));
    let t = Instant::now();
    let report = s.rt.block_on(s.ex.pipe(&dump, &restore, &mut |_| {}))?;
    let secs = t.elapsed().as_secs_f64();
    anyhow::ensure!(
        report.success(),
        "pg_dump{flags} | pg_restore failed: {} {}",
        report.from.stderr,
        report.to.stderr
    );
    s.new.psql("postgres", "DROP DATABASE pipe")?;
    Ok(secs)
}

/// `pgcopydb clone` on the new host, reaching the old server directly.
fn pgcopydb(s: &Setup, old_addr: &str) -> anyhow::Result<f64> {
    fresh(s, "pgcopydb")?;
    let clone = pw_env(Command::shell(
        "new",
        format!(
            "rm -rf /tmp/pgcopydb && PATH={BIN}:$PATH pgcopydb clone --source postgres://postgres@{old_addr}:5432/app --target postgres://postgres@127.0.0.1:5432/pgcopydb --table-jobs 2 --index-jobs 2 --dir /tmp/pgcopydb >/tmp/pgcopydb.log 2>&1"
        ),
    ));
    let t = Instant::now();
    s.rt.block_on(run_ok(&s.ex, &clone, "pgcopydb clone"))?;
    let secs = t.elapsed().as_secs_f64();
    s.new.psql("postgres", "DROP DATABASE pgcopydb")?;
    Ok(secs)
}

/// The practitioner's parallel dump and restore on the new host: directory format, two
/// jobs each way, no compression.
fn directory_dump(s: &Setup, old_addr: &str) -> anyhow::Result<f64> {
    fresh(s, "fd")?;
    let cmd = pw_env(Command::shell(
        "new",
        format!(
            "rm -rf /tmp/pgdump && {BIN}/pg_dump -h {old_addr} -U postgres -Fd -j 2 -Z0 -f /tmp/pgdump app && {BIN}/pg_restore -h 127.0.0.1 -U postgres -j 2 -d fd /tmp/pgdump"
        ),
    ));
    let t = Instant::now();
    s.rt.block_on(run_ok(&s.ex, &cmd, "pg_dump -Fd -j2 + pg_restore -j2"))?;
    let secs = t.elapsed().as_secs_f64();
    s.new.psql("postgres", "DROP DATABASE fd")?;
    s.lab.host("new").exec_ok("rm -rf /tmp/pgdump")?;
    Ok(secs)
}

/// cutover's copy into `db` on new, its source reached from `host` at `source_addr`
/// (`old` through the controller, or `new` with both ends on the new host). The database
/// stays for the verify measure.
fn ours(s: &Setup, host: &str, source_addr: &str, db: &str) -> anyhow::Result<f64> {
    s.new
        .psql("postgres", &format!("DROP DATABASE IF EXISTS {db}"))?;
    let t = Instant::now();
    s.rt.block_on(copy::copy(
        &s.ex,
        &endpoint(host, source_addr, "app"),
        &endpoint("new", "127.0.0.1", db),
        &CopyOptions::default(),
        &|_| {},
    ))?;
    Ok(t.elapsed().as_secs_f64())
}
