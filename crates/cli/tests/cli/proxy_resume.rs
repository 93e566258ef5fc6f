//! A `proxy.switch` of HAProxy (runtime API) killed after every journal write
//! (`CUTOVER_TEST_CRASH_AFTER_EVENTS`): resumed, the front ends on new with the step applied
//! once; rolled back straight after the crash instead, the front is on old again. Every
//! crash point is tried both ways on one lab.

use super::fixture::Run;
use super::soak::{cutover, get, haproxy_plan_header, setup, Setup};
use cutover_journal::{Event, Journal, SqliteJournal};
use std::path::{Path, PathBuf};

fn plan_text(s: &Setup) -> String {
    let header = haproxy_plan_header(&s.lab, "proxy-crash");
    format!(
        r#"{header}
[[stages]]
name = "switch"
[[stages.steps]]
id = "switch"
kind = "proxy.switch"
proxy = "front"
to = "{{{{ hosts.new.address }}}}:8080"
health_path = "/healthz"
"#
    )
}

fn run(plan: &Path, args: &[&str], crash_after: Option<usize>) -> Run {
    let mut c = cutover(plan, args);
    if let Some(n) = crash_after {
        c.env("CUTOVER_TEST_CRASH_AFTER_EVENTS", n.to_string());
    }
    Run(c.output().expect("run cutover"))
}

fn events(plan: &Path) -> Vec<Event> {
    let journal = SqliteJournal::open(&journal_path(plan)).expect("journal");
    let Some(run) = journal.latest_run().expect("runs") else {
        return Vec::new();
    };
    let records = journal.events(&run.id).expect("events");
    records.into_iter().map(|r| r.event).collect()
}

fn journal_path(plan: &Path) -> PathBuf {
    plan.with_file_name("cutover.journal.db")
}

/// Which app the front answers from: "old" or "new".
fn serving(s: &Setup) -> &'static str {
    let page = get(s.front.listen, "/");
    if page.contains("hello from new") {
        "new"
    } else if page.contains("hello from old") {
        "old"
    } else {
        panic!("the front answered neither app: {page:?}")
    }
}

/// Back to the start: the front on old (through a cutover plan's rollback when a run
/// switched it), no journal.
fn reset(s: &Setup, plan: &Path) {
    if serving(s) == "new" {
        run(plan, &["rollback", "--yes"], None).expect(0);
    }
    assert_eq!(serving(s), "old", "reset");
    for suffix in ["", "-wal", "-shm"] {
        let mut p = journal_path(plan).into_os_string();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
}

#[test]
fn a_proxy_switch_killed_at_every_journal_write_resumes_once_or_rolls_back_to_old() {
    let s = setup();
    let plan = s.dir.path().join("cutover.toml");
    std::fs::write(&plan, plan_text(&s)).expect("plan");
    run(&plan, &["apply", "--yes"], None).expect(0);
    assert_eq!(serving(&s), "new", "the run without a crash");
    let reference = events(&plan).len();
    assert!(reference >= 6, "{:#?}", events(&plan));
    for n in 1..reference {
        for resume in [true, false] {
            let context = format!(
                "a crash after event {n} of {reference}, then {}",
                if resume { "apply" } else { "rollback" }
            );
            reset(&s, &plan);
            let crashed = run(&plan, &["apply", "--yes"], Some(n));
            assert_eq!(crashed.code(), -1, "{context}: no crash");
            if resume {
                let r = run(&plan, &["apply", "--yes"], None);
                assert_eq!(r.code(), 0, "{context}:\n{}\n{}", r.stdout(), r.stderr());
                assert_eq!(serving(&s), "new", "{context}");
                let applied = events(&plan)
                    .iter()
                    .filter(|e| matches!(e, Event::StepApplied { step, .. } if step == "switch"))
                    .count();
                assert_eq!(applied, 1, "{context}: applied {applied} times");
            } else {
                let r = run(&plan, &["rollback", "--yes"], None);
                // A crash before the run was journaled leaves nothing to roll back (exit 3
                // says so); anything later is undone.
                assert!(
                    r.code() == 0 || (n == 1 && r.code() == 3),
                    "{context}: rollback exit {}:\n{}\n{}",
                    r.code(),
                    r.stdout(),
                    r.stderr()
                );
                assert_eq!(serving(&s), "old", "{context}");
            }
        }
    }
}
