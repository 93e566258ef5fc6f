//! `mysql.finish` on real servers (issue 19): until it runs, `cutover status` lists old
//! replicating from new and read-only; a finish that finds part of its work done (as an
//! attempt cut off part-way leaves it) completes it; then old no longer receives new's
//! writes, takes the application's writes (the plan asks for "writable"), and a rollback is
//! refused naming the finish.

use super::mysql::{MysqlRun, PLAN};
use std::time::{Duration, Instant};

const FINISH: &str = r#"
[[stages]]
name = "finish"

[[stages.steps]]
id = "finish"
kind = "mysql.finish"
switch = "promote"
source = "writable"
"#;

/// The `left running:` part of status.
fn left_running(r: &MysqlRun) -> String {
    let status = r.cutover(&["status"]).expect(0).stdout();
    status
        .lines()
        .skip_while(|l| !l.starts_with("left running:"))
        .take_while(|l| l.starts_with("left running:") || l.starts_with("  "))
        .collect::<Vec<_>>()
        .join("\n")
}

fn note(s: &cutover_testbed::MariaServer, code: &str) -> String {
    s.sql(&format!(
        "SELECT body FROM shop.notes WHERE code = '{code}'"
    ))
    .expect("read a note")
    .trim()
    .to_string()
}

#[test]
fn mysql_finish_ends_the_reverse_replication_old_writable_and_refuses_a_rollback() {
    let r = MysqlRun::start_with(
        1000,
        cutover_testbed::MariaOptions::primary(1),
        &(PLAN.to_string() + FINISH),
    );
    let run = r.cutover(&["apply", "--yes", "--until", "verify"]);
    assert_eq!(run.code(), 0, "{}\n{}", run.stdout(), run.stderr());
    assert_eq!(
        left_running(&r),
        "left running: by `promote` (mysql.switch):
  old: replicates from new (reverse replication): writes made on new flow back
  old: the server is read-only (read_only)
  until step `finish` (mysql.finish) runs: `cutover apply` runs it"
    );
    r.new
        .sql("INSERT INTO shop.notes VALUES ('d', 'before finish')")
        .expect("write on new");
    let deadline = Instant::now() + Duration::from_secs(10);
    while note(&r.old, "d") != "before finish" {
        assert!(Instant::now() < deadline, "new's write never reached old");
        std::thread::sleep(Duration::from_millis(50));
    }

    // Half of a finish done by hand, as one cut off part-way leaves it: the replication
    // stopped, old still read-only. The finish completes what is left.
    r.old.sql("STOP SLAVE; RESET SLAVE ALL").expect("stop");
    let out = r.cutover(&["apply", "--yes"]);
    assert_eq!(out.code(), 0, "{}\n{}", out.stdout(), out.stderr());
    assert!(
        out.stdout()
            .contains("reverse replication of `promote` ended: old writable again"),
        "{}",
        out.stdout()
    );
    assert_eq!(left_running(&r), "");
    r.new
        .sql("INSERT INTO shop.notes VALUES ('e', 'after finish')")
        .expect("write on new");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(note(&r.old, "e"), "", "old no longer replicates");
    r.old
        .shell(
            "mariadb --no-defaults -h 127.0.0.1 -uapp -papp-pw shop -e \"INSERT INTO items (name) VALUES ('on old after finish')\"",
        )
        .expect("old takes the application's writes, as the plan asked");

    let refused = r.cutover(&["rollback", "--yes"]);
    assert_eq!(
        refused.code(),
        8,
        "{}{}",
        refused.stdout(),
        refused.stderr()
    );
    assert!(
        (refused.stdout() + &refused.stderr()).contains("`finish` (mysql.finish) ended the reverse replication of `promote`: writes made on the new server since then can no longer go back to the old one, so the run cannot be rolled back past `finish`. Nothing was changed. To go back, migrate again in the other direction (a plan with old and new swapped)"),
        "{}{}",
        refused.stdout(),
        refused.stderr()
    );
    assert_eq!(
        r.new.sql("SELECT @@read_only").unwrap().trim(),
        "0",
        "new still takes writes"
    );
}

#[test]
fn mysql_finish_stops_the_reverse_replication_and_keeps_old_read_only_by_default() {
    let r = MysqlRun::start_with(
        100,
        cutover_testbed::MariaOptions::primary(1),
        &(PLAN.to_string() + &FINISH.replace("source = \"writable\"\n", "")),
    );
    let run = r.cutover(&["apply", "--yes"]);
    assert_eq!(run.code(), 0, "{}\n{}", run.stdout(), run.stderr());
    assert!(
        run.stdout().contains("reverse replication of `promote` ended: old no longer replicates from new (STOP SLAVE, RESET SLAVE ALL), old left read-only"),
        "{}",
        run.stdout()
    );
    assert_eq!(r.old.sql("SHOW SLAVE STATUS").unwrap().trim(), "");
    assert_eq!(r.old.sql("SELECT @@read_only").unwrap().trim(), "1");
    assert_eq!(
        r.new.sql("SHOW DATABASES LIKE 'cutover'").unwrap().trim(),
        "",
        "the copy's marker is removed from the promoted target"
    );
    let write = r.old.shell(
        "mariadb --no-defaults -h 127.0.0.1 -uapp -papp-pw shop -e \"INSERT INTO items (name) VALUES ('refused')\" 2>&1 || true",
    );
    assert!(
        write.as_deref().unwrap_or_default().contains("--read-only"),
        "old refuses the application's writes: {write:?}"
    );
}
