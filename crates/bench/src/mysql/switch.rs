//! Switches under a client write load, through the `cutover` binary as a user runs them:
//! each round applies a plan (copy a small database, replicate, switch) while the testbed's
//! writer inserts on old from 4 connections, logging each acknowledged write; once `apply`
//! returns the writer is moved to new, every acknowledged write is checked there, and the
//! plan is rolled back for the next round. The figure is cutover's journaled freeze window
//! (from `read_only` on the source to the target writable).

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
    let (mut freezes, mut acked) = (Samples::default(), 0u64);
    for round in 0..switches {
        let (freeze, writes) = one_switch(s, round)?;
        eprintln!(
            "     switch {}: freeze window {freeze:.3} s, {writes} acknowledged writes all on new",
            round + 1
        );
        freezes.0.push(freeze);
        acked += writes;
    }
    let row = Row {
        what: format!("writes frozen by a move ({switches} switches under a write load)"),
        cache: Cache::NotRelevant.label(),
        unit: "s",
        ours: freezes.clone(),
        baseline: "the runbook's freeze: writes stopped for the whole `mariadb-dump | mariadb` of the database (the copy rounds above)".into(),
        theirs: dumps,
    };
    let target = Target {
        what: format!("freeze window of a switch under a write load ({switches} switches)"),
        bound: 1.0,
        unit: "s",
        measured: freezes,
        own: None,
    };
    let note = format!(
        "Switches: a plan (`mysql.copy` of a small database, `mysql.sync`, `mysql.switch`) applied through the `cutover` binary while 4 connections insert on old, each logging its acknowledged writes; the writer moves to new when `apply` returns, then the plan is rolled back. In {switches} switches, all {acked} acknowledged writes were on new. The figure is cutover's journaled freeze window (`read_only` on the source until the target is writable); the client's own view of it is not timed here."
    );
    Ok((row, vec![target], note))
}

fn at(m: &MariaServer) -> SocketAddr {
    SocketAddr::new(m.address().into(), m.port())
}

/// One apply under writes, checked, then rolled back: the freeze window and the writes.
fn one_switch(s: &Setup, round: usize) -> anyhow::Result<(f64, u64)> {
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
    let report = cutover(&plan_path, &["report"])?;
    let freeze = freeze_window(&report).ok_or_else(|| {
        anyhow::anyhow!("switch {round}: no freeze_window in the report:\n{report}")
    })?;
    cutover(&plan_path, &["rollback", "--yes"])?;
    Ok((freeze, done.total()))
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

/// The `freeze_window = X s` figure of a report.
fn freeze_window(report: &str) -> Option<f64> {
    let rest = report.split("freeze_window = ").nth(1)?;
    rest.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_freeze_window_is_read_from_the_report_line() {
        let report = "| promote | measured | freeze_window = 0.084 s |\n";
        assert_eq!(super::freeze_window(report), Some(0.084));
        assert_eq!(super::freeze_window("nothing"), None);
    }
}
