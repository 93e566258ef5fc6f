//! A lab's life: slots shared by threads and processes, teardown, leftovers of killed
//! holders, logs printed on failure, and how long it all takes.

use crate::ssh_ok;
use cutover_testbed::{Lab, LabError};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

#[test]
fn teardown_removes_namespaces_veth_processes_and_dir() -> Result<(), LabError> {
    let lab = Lab::start()?;
    let namespaces: Vec<String> = lab.hosts().iter().map(|h| h.netns().to_string()).collect();
    let veth = format!("/sys/class/net/co{}-host", lab.slot());
    let dir = lab.dir().to_path_buf();
    let mut sleeper = lab.host("old").spawn("exec sleep 300")?;
    let pids: Vec<u32> = lab
        .hosts()
        .iter()
        .map(|h| h.sshd_pid())
        .chain([sleeper.id()])
        .collect();
    assert!(Path::new(&veth).exists() && dir.exists());
    let started = Instant::now();
    drop(lab);
    eprintln!("teardown took {:?}", started.elapsed());
    for ns in &namespaces {
        assert!(
            !Path::new("/run/netns").join(ns).exists(),
            "namespace {ns} left behind"
        );
    }
    assert!(!Path::new(&veth).exists(), "{veth} left behind");
    assert!(!dir.exists(), "{} left behind", dir.display());
    assert!(
        sleeper.wait().is_ok_and(|s| !s.success()),
        "spawned process was not killed"
    );
    for pid in pids {
        let status = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(
            status.is_empty() || status.contains(") Z "),
            "pid {pid} still running: {status}"
        );
    }
    Ok(())
}

#[test]
fn labs_run_side_by_side_in_threads_with_distinct_slots() {
    let labs: Vec<Lab> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..3).map(|_| s.spawn(Lab::start)).collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread").expect("lab starts"))
            .collect()
    });
    let mut slots: Vec<u8> = labs.iter().map(Lab::slot).collect();
    slots.sort();
    slots.dedup();
    assert_eq!(slots.len(), 3, "slots shared: {slots:?}");
    for lab in &labs {
        assert!((1..=15).contains(&lab.slot()));
        assert_eq!(ssh_ok(lab, "new", "hostname").trim(), "new");
        // Each lab's own old host answers on its own address.
        let addr = lab.host("old").address().to_string();
        assert_eq!(
            ssh_ok(lab, &addr, "ip -4 -br addr show eth0")
                .split_whitespace()
                .nth(2),
            Some(&*format!("{addr}/27"))
        );
    }
}

#[test]
fn separately_opened_lock_files_exclude_each_other_within_one_process() {
    let path = "/run/cutover-lab/probe-flock-threads.lock";
    std::fs::create_dir_all("/run/cutover-lab").expect("lock dir");
    let open = || {
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .expect("open")
    };
    let (first, second) = (open(), open());
    first.try_lock().expect("first lock");
    assert!(matches!(
        second.try_lock(),
        Err(std::fs::TryLockError::WouldBlock)
    ));
    drop(first);
    second
        .try_lock()
        .expect("free once the first descriptor closes");
}

#[test]
fn setup_is_well_under_a_second() -> Result<(), LabError> {
    let started = Instant::now();
    let lab = Lab::start()?;
    let setup = started.elapsed();
    let started = Instant::now();
    drop(lab);
    eprintln!("lab setup {setup:?}, teardown {:?}", started.elapsed());
    // Loose bound: two cores may be busy with other tests' labs.
    assert!(setup.as_secs_f64() < 5.0, "setup took {setup:?}");
    Ok(())
}

/// Env var that turns [`holder_killed_by_the_next_test`] into a real lab holder.
const HOLDER_ENV: &str = "CUTOVER_TESTBED_HOLDER";

/// Not a test on its own: run by [`a_killed_holders_leftovers_are_swept_by_the_next_holder`] as a
/// separate process that takes a lab, reports its slot and waits to be SIGKILLed.
#[test]
#[ignore = "helper process for a_killed_holders_leftovers_are_swept_by_the_next_holder"]
fn holder_killed_by_the_next_test() -> Result<(), LabError> {
    if std::env::var_os(HOLDER_ENV).is_none() {
        return Ok(());
    }
    let lab = Lab::start()?;
    println!("SLOT {}", lab.slot());
    std::thread::sleep(std::time::Duration::from_secs(60));
    Ok(())
}

#[test]
fn a_killed_holders_leftovers_are_swept_by_the_next_holder() -> Result<(), LabError> {
    use std::io::BufRead;
    let mut holder = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "lifecycle::holder_killed_by_the_next_test",
            "--ignored",
            "--nocapture",
        ])
        .env(HOLDER_ENV, "1")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("holder starts");
    let stdout = holder.stdout.take().expect("piped");
    let slot: u8 = std::io::BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| l.strip_prefix("SLOT ").and_then(|n| n.parse().ok()))
        .expect("holder reports its slot");
    holder.kill().expect("SIGKILL the holder");
    holder.wait().expect("reap the holder");
    // Take labs until one lands in the dead holder's slot; its leftovers must be gone by then.
    let mut held = Vec::new();
    loop {
        let lab = Lab::start()?;
        if lab.slot() == slot {
            assert_eq!(ssh_ok(&lab, "old", "ls /srv | wc -l").trim(), "0");
            let root = lab.dir().parent().expect("lab root");
            let stale = std::fs::read_dir(root).expect("lab root").flatten();
            let prefix = format!("slot-{slot}.");
            let dirs = stale
                .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
                .count();
            assert_eq!(dirs, 1, "the killed holder's lab dir was not swept");
            return Ok(());
        }
        held.push(lab);
    }
}

/// Env var that turns [`helper_fails_while_holding_a_lab`] into a failing test.
const FAILER_ENV: &str = "CUTOVER_TESTBED_FAILER";

/// Not a test on its own: run by [`a_failing_test_prints_the_lab_logs`] to fail with a lab alive.
#[test]
#[ignore = "helper process for a_failing_test_prints_the_lab_logs"]
fn helper_fails_while_holding_a_lab() -> Result<(), LabError> {
    if std::env::var_os(FAILER_ENV).is_none() {
        return Ok(());
    }
    let lab = Lab::start()?;
    let log = lab.host("old").fs_path("/var/log/lab/server.log");
    lab.host("old")
        .exec_ok("echo 'FATAL: the server said why' > /var/log/lab/server.log")?;
    lab.add_log("old: server", log);
    panic!("deliberate failure with a lab alive");
}

#[test]
fn a_failing_test_prints_the_lab_logs() {
    let out = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "lifecycle::helper_fails_while_holding_a_lab",
            "--ignored",
            "--nocapture",
        ])
        .env(FAILER_ENV, "1")
        .output()
        .expect("helper runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the helper should fail: {stderr}");
    assert!(stderr.contains("deliberate failure"), "{stderr}");
    assert!(
        stderr.contains("----- old: sshd log (") && stderr.contains("Server listening on"),
        "{stderr}"
    );
    assert!(
        stderr.contains("----- old: server (") && stderr.contains("| FATAL: the server said why"),
        "{stderr}"
    );
}
