//! Switches under a client write load, through the `cutover` binary as a user runs them:
//! each round applies a plan (copy a small database, replicate, switch) while the testbed's
//! writer inserts on old from 4 connections, logging each acknowledged write; once `apply`
//! returns the writer is moved to new, every acknowledged write is checked there, and the
//! plan is rolled back for the next round. The figure is the writes blocked as the writer
//! saw them: its longest wait for one write that ended on new (from its first refusal on old
//! to its acknowledgement on new, the rest of `apply` and its reconnection included), timed
//! by the bench's own clock; cutover's journaled freeze window (`read_only` on the source
//! until the target is writable) and its catch-up are kept beside it.

use super::Setup;
use crate::report::{Row, Target};
use crate::rounds::{Cache, Samples};
use crate::Options;
use cutover_testbed::{MariaServer, MysqlWriter};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// Switches at full size (fewer in a reduced run, never fewer than the rounds).
const SWITCHES: usize = 10;

/// The switched database: small (the freeze depends on the lag, not on the size).
const DB: &str = "sw";

fn plan(s: &Setup) -> String {
    let old = s.old.address();
    let new = s.new.address();
    format!(
        r#"name = "bench-switch"

[ssh]
config = "{config}"

[hosts.old]
ssh = "old"

[hosts.new]
ssh = "new"

[secrets.db]
env = "DB_PW"

[secrets.repl]
env = "REPL_PW"

[[stages]]
name = "sync"

[[stages.steps]]
id = "copy-db"
kind = "mysql.copy"
source = {{ host = "old", password = "{{{{ secrets.db }}}}" }}
target = {{ host = "new", password = "{{{{ secrets.db }}}}" }}
databases = ["{DB}"]
address = "{new}"

[[stages.steps]]
id = "replicate"
kind = "mysql.sync"
copy = "copy-db"
source_address = "{old}"
replication_password = "{{{{ secrets.repl }}}}"

[[stages]]
name = "switch"

[[stages.steps]]
id = "promote"
kind = "mysql.switch"
sync = "replicate"
"#,
        config = s.lab.ssh_config().display()
    )
}

/// The switch row (next to the runbook's write freeze, `dumps`), its target and a note.
pub fn bench(
    s: &Setup,
    options: &Options,
    dumps: Samples,
) -> anyhow::Result<(Row, Vec<Target>, String)> {
    let switches = if options.full_size() {
        SWITCHES
    } else {
        options.rounds
    };
    s.old.sql(&format!(
        "CREATE DATABASE IF NOT EXISTS {DB}; USE {DB}; {}; CREATE TABLE IF NOT EXISTS items (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(40)); INSERT INTO items (name) SELECT CONCAT('item ', seq) FROM seq_1_to_1000;",
        cutover_testbed::mysql_writer::WRITES_TABLE
    ))?;
    s.new.sql(
        "SET SESSION sql_log_bin = 0; CREATE USER IF NOT EXISTS 'app'@'%' IDENTIFIED BY 'app-pw'; GRANT SELECT, INSERT, UPDATE, DELETE ON *.* TO 'app'@'%';",
    )?;
    s.old.sql(
        "CREATE USER IF NOT EXISTS 'app'@'%' IDENTIFIED BY 'app-pw'; GRANT SELECT, INSERT, UPDATE, DELETE ON *.* TO 'app'@'%'; CREATE USER IF NOT EXISTS 'repl'@'%' IDENTIFIED BY 'repl-pw'; GRANT REPLICATION SLAVE ON *.* TO 'repl'@'%';",
    )?;
    eprintln!("   {switches} switches under a write load");
    let (mut client, mut own) = (Samples::default(), Samples::default());
    let (mut acked, mut seconds) = (0u64, 0.0);
    for round in 0..switches {
        let r = one_switch(s, round)?;
        eprintln!(
            "     switch {}: writes blocked {:.3} s at the client; cutover's freeze window {:.3} s (catch-up {:.3} s); {} writes acknowledged in {:.1} s ({:.0}/s, {} by a duplicate), all on new",
            round + 1,
            r.blocked,
            r.freeze,
            r.catch_up,
            r.writes,
            r.seconds,
            r.writes as f64 / r.seconds.max(1e-9),
            r.duplicates
        );
        client.0.push(r.blocked);
        own.0.push(r.freeze);
        acked += r.writes;
        seconds += r.seconds;
    }
    let row = Row {
        what: format!("writes blocked by a move, at the bench's client ({switches} switches under a write load)"),
        cache: Cache::NotRelevant.label(),
        unit: "s",
        ours: client.clone(),
        baseline: "the runbook's freeze: writes stopped for the whole `mariadb-dump | mariadb` of the database (the copy rounds above)".into(),
        theirs: dumps,
        // Not paired: the dumps ran in the copy rounds, apart from the switches.
        paired: false,
    };
    let target = Target {
        what: format!(
            "writes blocked by a switch under a write load, at the bench's client ({switches} switches)"
        ),
        bound: 1.0,
        unit: "s",
        measured: client,
        own: Some(("freeze window".into(), own)),
    };
    let note = format!(
        "Switches: a plan (`mysql.copy` of a small database, `mysql.sync`, `mysql.switch`) applied through the `cutover` binary while 4 connections insert on old, one autocommit insert at a time each, logging its acknowledged writes; the writer moves to new when `apply` returns, then the plan is rolled back. The client's figure is its longest wait for one write that ended on new: from its first refusal on old to its acknowledgement on new, the rest of `apply` and the reconnection included, on the bench's clock. In {switches} switches, all {acked} acknowledged writes ({:.0} per second over {seconds:.0} s of writing) were on new, and new held no more rows than that plus one in flight per connection.",
        acked as f64 / seconds.max(1e-9)
    );
    Ok((row, vec![target], note))
}

fn at(m: &MariaServer) -> SocketAddr {
    SocketAddr::new(m.address().into(), m.port())
}

/// What one switch showed.
struct Switched {
    /// The writer's longest blocked write that ended on new, seconds.
    blocked: f64,
    /// cutover's freeze window and catch-up, seconds.
    freeze: f64,
    catch_up: f64,
    /// Acknowledged writes, over `seconds` of writing, `duplicates` of them found there.
    writes: u64,
    seconds: f64,
    duplicates: u64,
}

/// One apply under writes, checked, then rolled back.
fn one_switch(s: &Setup, round: usize) -> anyhow::Result<Switched> {
    let dir = tempfile::tempdir()?;
    let plan_path = dir.path().join("cutover.toml");
    std::fs::write(&plan_path, plan(s))?;
    s.old.sql(&format!("TRUNCATE {DB}.writes"))?;
    let writer = MysqlWriter::start(at(&s.old), "app", "app-pw", DB, 4);
    std::thread::sleep(Duration::from_millis(500));
    if let Err(e) = cutover(&plan_path, &["apply", "--yes"]) {
        writer.stop();
        return Err(e);
    }
    writer.repoint(at(&s.new));
    std::thread::sleep(Duration::from_millis(300));
    let done = writer.stop();
    let present: Vec<(u64, u64)> = s
        .new
        .sql(&format!("SELECT conn, n FROM {DB}.writes"))?
        .lines()
        .filter_map(|l| {
            let (a, b) = l.split_once('\t')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        })
        .collect();
    let lost = done.lost(&present);
    anyhow::ensure!(
        lost.is_empty() && done.total() > 0,
        "switch {round}: {} writes acknowledged, {} not on new (first: {:?})",
        done.total(),
        lost.len(),
        lost.first()
    );
    // The count is the rows' own: new holds every acknowledged write and at most one more
    // per connection (an insert committed as the writer stopped, never acknowledged).
    let rows = present.len() as u64;
    anyhow::ensure!(
        rows >= done.total() && rows <= done.total() + done.acked.len() as u64,
        "switch {round}: {} writes acknowledged but new holds {} rows",
        done.total(),
        present.len()
    );
    anyhow::ensure!(
        done.longest_blocked_moved > Duration::ZERO,
        "switch {round}: the writer wrote nothing to new"
    );
    let report = cutover(&plan_path, &["report"])?;
    let measure = |name: &str| {
        measured(&report, name)
            .ok_or_else(|| anyhow::anyhow!("switch {round}: no {name} in the report:\n{report}"))
    };
    let (freeze, catch_up) = (measure("freeze_window")?, measure("catch_up")?);
    cutover(&plan_path, &["rollback", "--yes"])?;
    Ok(Switched {
        blocked: done.longest_blocked_moved.as_secs_f64(),
        freeze,
        catch_up,
        writes: done.total(),
        seconds: done.elapsed.as_secs_f64(),
        duplicates: done.duplicates,
    })
}

/// `cutover -f PLAN ARGS`, its standard output, failing with both outputs.
fn cutover(plan: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = std::process::Command::new(crate::files::tools::cutover_bin()?)
        .arg("-f")
        .arg(plan)
        .args(args)
        .env("NO_COLOR", "1")
        .env("DB_PW", MariaServer::PASSWORD)
        .env("REPL_PW", "repl-pw")
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    anyhow::ensure!(
        out.status.success(),
        "cutover {} failed ({}):\n{stdout}\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(stdout)
}

/// The `NAME = X s` figure of a report.
fn measured(report: &str, name: &str) -> Option<f64> {
    let rest = report.split(&format!("{name} = ")).nth(1)?;
    rest.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn measures_are_read_from_the_report_lines() {
        let report = "| promote | measured | freeze_window = 0.084 s |\n| promote | measured | catch_up = 0.012 s |\n";
        assert_eq!(super::measured(report, "freeze_window"), Some(0.084));
        assert_eq!(super::measured(report, "catch_up"), Some(0.012));
        assert_eq!(super::measured("nothing", "catch_up"), None);
    }
}
