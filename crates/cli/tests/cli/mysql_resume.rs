//! The MariaDB/MySQL plan killed with SIGKILL (nothing recorded) during the copy and inside
//! the switch's write freeze, then applied again: it resumes to one switch, no write the
//! client saw acknowledged on old is missing on new, and the proof passes. One lab serves
//! both kills.

use super::fixture::{kill_9_when, proof_section};
use super::mysql::MysqlRun;
use std::process::{Child, Stdio};
use std::time::Duration;

fn spawn_apply(r: &MysqlRun, until: Option<&str>) -> Child {
    let mut args = vec!["apply", "--yes"];
    if let Some(stage) = until {
        args.extend(["--until", stage]);
    }
    r.command(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start cutover")
}

#[test]
fn a_plan_killed_during_the_copy_and_inside_the_freeze_resumes_to_one_switch() {
    // Enough rows in 1 MB ranges for the copy to take a moment: the kill lands inside it,
    // once the copy made its tables on new (what a resumed copy used to refuse).
    let r = MysqlRun::start(300_000);
    let writer = r.writer();

    kill_9_when(
        spawn_apply(&r, Some("sync")),
        "the copy's tables on new",
        || {
            r.new
                .sql("SELECT COUNT(*) > 0 FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'shop'")
                .is_ok_and(|v| v.trim() == "1")
        },
    );
    let resumed = r.cutover(&["apply", "--yes", "--until", "sync"]);
    assert_eq!(
        resumed.code(),
        0,
        "{}\n{}",
        resumed.stdout(),
        resumed.stderr()
    );

    // A session on new holds a lock on the table the writer fills: replication stalls, so the
    // switch waits for the target inside its freeze, where the kill lands.
    let released = std::thread::scope(|s| {
        let locker = s.spawn(|| {
            r.new
                .sql("LOCK TABLES shop.writes READ; DO SLEEP(6); UNLOCK TABLES;")
                .map(drop)
        });
        std::thread::sleep(Duration::from_millis(300));
        kill_9_when(spawn_apply(&r, None), "the freeze", || {
            r.old
                .sql("SELECT @@global.read_only")
                .is_ok_and(|v| v.trim() == "1")
        });
        locker.join().expect("locker")
    });
    released.expect("the lock taken and released");

    let run = r.cutover(&["apply", "--yes"]);
    assert_eq!(
        run.code(),
        0,
        "{}\n{}\n{}",
        run.stdout(),
        run.stderr(),
        r.f.lab.failure_report()
    );
    writer.repoint(MysqlRun::at(&r.new));
    std::thread::sleep(Duration::from_millis(300));
    let done = writer.stop();
    MysqlRun::assert_none_lost(&done, &r.new, "after two kills and the resumes");
    let report = r.cutover(&["report"]).expect(0).stdout();
    let proof = proof_section(&report, "prove");
    assert!(proof.contains("MATCH: 3 table(s)"), "{proof}");
    assert_eq!(
        report.matches("freeze_window = ").count(),
        1,
        "one switch measured:\n{report}"
    );
}
