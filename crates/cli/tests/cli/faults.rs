//! Faults injected on the lab while a plan runs, each checked against what the README
//! promises: the link between the hosts cut mid-sync and before a database switch, the
//! target's disk full, the DNS primary killed mid-update, the SSH session to a host killed
//! mid-step, and the controller's wall clock jumping during a time gate.

use crate::fixture::{Fixture, Run};
use cutover_testbed::dns::{BindPair, TsigKey, Zone};
use cutover_testbed::Lab;
use cutover_testbed::{PgOptions, PgServer};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// Cuts (or restores) the link between the lab's `old` and `new` hosts: each drops what it
/// would send to the other, while both still reach the controller.
fn link(f: &Fixture, up: bool) {
    let (old, new) = (f.lab.host("old"), f.lab.host("new"));
    let verb = if up { "del" } else { "add" };
    for (host, other) in [(old, new), (new, old)] {
        host.exec_ok(&format!("ip route {verb} blackhole {}/32", other.address()))
            .expect("route");
    }
}

/// Waits for `child` to end within `limit`, returning its output.
fn finish_within(child: Child, limit: Duration, what: &str) -> Run {
    let started = Instant::now();
    let mut child = child;
    loop {
        if child.try_wait().expect("wait").is_some() {
            return Run(child.wait_with_output().expect("output"));
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "{what}: still running after {limit:?}\n--- stdout\n{}\n--- stderr\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn spawn(mut c: Command) -> Child {
    c.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn cutover")
}

fn wait_until(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ready() {
        assert!(Instant::now() < deadline, "waited {limit:?} for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The size of the partial copy of `name` the receiver is writing in `dir`, if any.
fn partial_len(dir: &std::path::Path, name: &str) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.starts_with(&format!(".{name}.")) && n.ends_with(".cutover-part")
        })
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .max()
        .unwrap_or(0)
}

const SYNC_PLAN: &str = r#"
[[stages]]
name = "copy"
[[stages.steps]]
id = "media"
kind = "files.sync"
from = { host = "old", path = "/srv/media" }
to = { host = "new", path = "/srv/media" }
stall_timeout = "2s"
[[stages.steps]]
id = "proof"
kind = "files.verify"
from = { host = "old", path = "/srv/media" }
to = { host = "new", path = "/srv/media" }
"#;

/// README (Files): a sync cut off mid-copy keeps its partial copy and the next run resumes
/// it; with the link between the hosts down, the step stops after `stall_timeout`.
#[test]
fn a_link_cut_mid_sync_stops_the_step_and_the_next_run_resumes_the_file() {
    let f = Fixture::new(SYNC_PLAN);
    f.lab
        .host("old")
        .exec_ok("mkdir -p /srv/media && head -c 700000000 /dev/urandom > /srv/media/big.bin && echo x > /srv/media/small")
        .expect("seed");
    let target = f.lab.host("new").fs_path("/srv/media");
    let apply = spawn(f.command(&["apply", "--yes"]));
    wait_until("a partial copy of 30 MB", Duration::from_secs(60), || {
        partial_len(&target, "big.bin") > 30_000_000
    });
    link(&f, false);
    let cut = Instant::now();
    let r = finish_within(apply, Duration::from_secs(30), "apply with the link cut").expect(4);
    let text = r.stdout() + &r.stderr();
    assert!(
        text.contains("nothing moved between the hosts for `stall_timeout`"),
        "{text}"
    );
    assert!(
        cut.elapsed() < Duration::from_secs(15),
        "stopped after {:?}",
        cut.elapsed()
    );
    let kept = partial_len(&target, "big.bin");
    assert!(kept > 30_000_000, "the partial copy is kept: {kept}");
    assert!(
        !target.join("big.bin").exists(),
        "never under its real name"
    );
    link(&f, true);
    let out = f.run(&["apply", "--yes"]).expect(0).stdout();
    assert!(out.contains("resumed"), "{out}");
    assert_eq!(partial_len(&target, "big.bin"), 0, "no partial copy left");
}

/// README (Files): the receiver checks the free space before anything is written, and a
/// disk that fills anyway leaves no half-written file; the run resumes once there is room.
#[test]
fn a_full_target_disk_stops_the_sync_with_nothing_half_written() {
    let f = Fixture::new(SYNC_PLAN);
    f.lab
        .host("old")
        .exec_ok("mkdir -p /srv/media && for i in 1 2 3; do head -c 6000000 /dev/urandom > /srv/media/f$i; done")
        .expect("seed");
    f.lab
        .host("new")
        .exec_ok("mkdir -p /srv/media && mount -t tmpfs -o size=8m tmpfs /srv/media")
        .expect("tmpfs");
    let r = f.run(&["apply", "--yes"]).expect(5);
    let text = r.stdout() + &r.stderr();
    assert!(
        text.contains("not enough space") && text.contains("nothing was written"),
        "{text}"
    );
    let left = f.lab.host("new").exec_ok("ls -A /srv/media").expect("ls");
    assert_eq!(left.trim(), "", "nothing written");
    let status = f.run(&["status"]).expect(0).stdout();
    assert!(
        status.contains("media") && status.contains("failed"),
        "{status}"
    );
    f.lab
        .host("new")
        .exec_ok("mount -o remount,size=64m /srv/media")
        .expect("grow");
    f.run(&["apply", "--yes"]).expect(0);
    f.lab
        .host("new")
        .exec_ok("umount /srv/media")
        .expect("umount");
}

const SWITCH_PLAN: &str = r#"
[secrets.db]
env = "DB_PW"

[[stages]]
name = "sync"
[[stages.steps]]
id = "replicate"
kind = "postgres.sync"
source = { host = "old", address = "127.0.0.1", db = "app", password = "{{ secrets.db }}" }
target = { host = "new", address = "127.0.0.1", db = "app", password = "{{ secrets.db }}" }
source_address = "OLD_ADDRESS"
[[stages.steps]]
id = "go"
kind = "approve"
message = "switch the database"

[[stages]]
name = "switch"
[[stages.steps]]
id = "db-switch"
kind = "postgres.switch"
sync = "replicate"
max_wait = "3s"
"#;

/// README (PostgreSQL): the switch waits `max_wait` for the target to replay the source's
/// last write; when exceeded the freeze is lifted and nothing is switched. Here the link
/// between the servers is down at the switch: the source must take writes again, and the
/// switch succeeds once the link is back, with every acknowledged write on the target.
#[test]
fn a_link_down_at_the_database_switch_lifts_the_freeze_and_loses_nothing() {
    let f = Fixture::new("");
    f.write_plan(&SWITCH_PLAN.replace("OLD_ADDRESS", &f.lab.host("old").address().to_string()));
    let opts = PgOptions {
        logical: true,
        ..PgOptions::default()
    };
    let old = PgServer::start(f.lab.host("old"), 16, 5432, opts.clone()).expect("pg16");
    let new = PgServer::start(f.lab.host("new"), 18, 5432, opts).expect("pg18");
    old.psql("postgres", "CREATE DATABASE app").expect("db");
    old.psql(
        "app",
        "CREATE TABLE items (id bigserial PRIMARY KEY, name text); INSERT INTO items (name) SELECT 'seed' FROM generate_series(1, 1000);",
    )
    .expect("schema");
    let run = |args: &[&str]| {
        let mut c = f.command(args);
        c.env("DB_PW", PgServer::PASSWORD);
        Run(c.output().expect("run cutover"))
    };
    run(&["apply", "--yes", "--no-wait"]).expect(7);
    let mut writer = old
        .spawn_shell("seq 1 10000000 | sed 's/.*/INSERT INTO items (name) VALUES (md5(&::text)) RETURNING id; SELECT pg_sleep(0.01);/' | psql -X -q -At -U postgres app 2>/dev/null | grep -v '^$' > /tmp/acked")
        .expect("writer");
    std::thread::sleep(Duration::from_millis(500));
    link(&f, false);
    run(&["approve", "go", "--by", "test"]).expect(0);
    let r = run(&["apply", "--yes"]).expect(5);
    let text = r.stdout() + &r.stderr();
    assert!(text.contains("db-switch"), "{text}");
    // Nothing switched: the source takes writes (a fresh session, as an app reconnecting).
    old.psql(
        "app",
        "INSERT INTO items (name) VALUES ('after the failed switch')",
    )
    .expect("the source takes writes again");
    link(&f, true);
    run(&["apply", "--yes"]).expect(0);
    writer.wait().expect("the writer ends with its session");
    let acked: Vec<String> = old
        .shell("cat /tmp/acked")
        .expect("acked")
        .lines()
        .map(str::to_string)
        .collect();
    let ids = new.psql("app", "SELECT id FROM items").expect("ids");
    let present: std::collections::HashSet<&str> = ids.lines().collect();
    let lost = acked
        .iter()
        .filter(|id| !present.contains(id.as_str()))
        .count();
    assert!(
        acked.len() > 20 && lost == 0,
        "{} acknowledged, {lost} lost",
        acked.len()
    );
}

/// README (DNS): a switch journals the previous values before any change, so a failed or
/// interrupted one rolls back to them; here the primary dies while the update is in flight.
#[test]
fn a_dns_primary_killed_mid_update_fails_the_switch_and_leaves_the_zone_whole() {
    let lab = Lab::builder()
        .host("old")
        .host("new")
        .host("dns")
        .host("dns2")
        .start()
        .expect("lab");
    let key = TsigKey::generate("cutover").expect("key");
    let old = lab.host("old").address().to_string();
    let new = lab.host("new").address().to_string();
    let zone = Zone::new("example.test", 300).record_ttl("www", "A", &old, 1);
    let mut bind =
        BindPair::start(lab.host("dns"), Some(lab.host("dns2")), &[zone], &key).expect("bind");
    let dir = tempfile::tempdir().expect("tempdir");
    let plan = dir.path().join("cutover.toml");
    std::fs::write(
        &plan,
        format!(
            r#"name = "dns-fault"
[ssh]
config = "{ssh}"
[hosts.old]
ssh = "old"
[hosts.new]
ssh = "new"
[secrets.tsig]
env = "TEST_TSIG_SECRET"
[dns.lab]
provider = "rfc2136"
server = "{primary}"
zones = ["example.test"]
tsig_key = "cutover"
tsig_secret = "tsig"
timeout = "2s"

[[stages]]
name = "switch"
[[stages.steps]]
id = "flip"
kind = "dns.switch"
provider = "lab"
records = [{{ name = "www.example.test", value = "{new}" }}]
[[stages.steps]]
id = "propagated"
kind = "dns.verify"
provider = "lab"
records = [{{ name = "www.example.test", value = "{new}" }}]
timeout = "10s"
"#,
            ssh = lab.ssh_config().display(),
            primary = bind.primary.address,
        ),
    )
    .expect("plan");
    let cutover = |args: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_cutover"));
        c.arg("-f")
            .arg(&plan)
            .args(args)
            .env("NO_COLOR", "1")
            .env("TEST_TSIG_SECRET", &key.secret);
        c
    };
    // The primary hangs (SIGSTOP) so that the update is in flight, then dies.
    let primary_pid = bind.primary.pid;
    let signal = |sig: &str| {
        lab.host("dns")
            .exec_ok(&format!("kill -{sig} {primary_pid}"))
            .expect("signal named");
    };
    signal("STOP");
    let apply = spawn(cutover(&["apply", "--yes"]));
    std::thread::sleep(Duration::from_millis(700));
    signal("KILL");
    let r = finish_within(
        apply,
        Duration::from_secs(30),
        "apply with the primary dead",
    );
    let text = r.stdout() + &r.stderr();
    assert!(r.code() == 4 || r.code() == 5, "exit {}: {text}", r.code());
    assert!(
        text.contains("flip") && text.contains(&bind.primary.address.to_string()),
        "{text}"
    );
    // The secondary still serves the old value: nothing half-switched.
    let answer = |server: &str| {
        let out = Command::new("dig")
            .args([
                "+short",
                "+norec",
                &format!("@{server}"),
                "www.example.test",
                "A",
            ])
            .output()
            .expect("dig");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let secondary = bind
        .secondary
        .as_ref()
        .expect("secondary")
        .address
        .to_string();
    assert_eq!(answer(&secondary), old);
    let rb = Run(cutover(&["rollback", "--yes"]).output().expect("rollback"));
    assert!(rb.code() == 0, "rollback: {}{}", rb.stdout(), rb.stderr());
    // The primary comes back (its zone journal holds whatever it took) and the run resumes.
    bind.primary = restart_named(&lab, &bind);
    let r = Run(cutover(&["apply", "--yes"]).output().expect("apply")).expect(0);
    assert!(r.stdout().contains("propagated"), "{}", r.stdout());
    assert_eq!(answer(&secondary), new);
}

fn restart_named(lab: &Lab, bind: &BindPair) -> cutover_testbed::dns::DnsServer {
    cutover_testbed::dns::restart(lab.host("dns"), &bind.primary).expect("restart named")
}

/// README (Step kinds, `run`): the command is tracked on the host, a resumed run re-attaches
/// to it and never runs it twice. Here every SSH session to the host is killed while the
/// command runs.
#[test]
fn the_ssh_session_killed_mid_step_never_runs_the_command_twice() {
    let f = Fixture::new(
        r#"
[[stages]]
name = "work"
[[stages.steps]]
id = "migrate"
kind = "run"
hosts = ["new"]
command = "echo started > /srv/started; sleep 3; echo once >> /srv/ran"
"#,
    );
    let new = f.lab.host("new");
    let apply = spawn(f.command(&["apply", "--yes"]));
    wait_until("the command to start", Duration::from_secs(30), || {
        new.fs_path("/srv/started").exists()
    });
    // Every sshd process of this host but its listener: the controller's sessions die.
    let listener = new.sshd_pid();
    let killed = kill_children(listener);
    assert!(killed > 0, "no SSH session to kill");
    let r = finish_within(
        apply,
        Duration::from_secs(60),
        "apply after its session died",
    );
    if r.code() != 0 {
        let again = f.run(&["apply", "--yes"]);
        assert_eq!(
            again.code(),
            0,
            "resume: {}{}",
            again.stdout(),
            again.stderr()
        );
    }
    wait_until("the command to end", Duration::from_secs(10), || {
        f.host_file("new", "/srv/ran").contains("once")
    });
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        f.host_file("new", "/srv/ran"),
        "once\n",
        "the command ran once"
    );
}

/// Kills (SIGKILL) every process whose parent is `pid`; returns how many.
fn kill_children(pid: u32) -> usize {
    let mut n = 0;
    for entry in std::fs::read_dir("/proc").expect("proc").flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
        // "pid (comm) state ppid ...": the comm may hold spaces, so split after its ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(pid) {
            // SAFETY: kill has no memory effects.
            if unsafe { libc::kill(child, libc::SIGKILL) } == 0 {
                n += 1;
            }
        }
    }
    n
}

/// The controller's wall clock jumping (NTP stepping it, a VM resumed) must neither end a
/// time gate early nor stretch it: a `wait` counts on the monotonic clock once started.
#[test]
fn a_wall_clock_jump_neither_ends_nor_stretches_a_time_gate() {
    let Some(lib) = libfaketime() else {
        panic!("libfaketime is missing: scripts/install-deps.sh installs the `faketime` package");
    };
    for jump in ["+2h", "-2h"] {
        let f = Fixture::new(
            r#"
[[stages]]
name = "gate"
[[stages.steps]]
id = "pause"
kind = "wait"
duration = "3s"
"#,
        );
        let offset = f.dir.path().join("faketime");
        std::fs::write(&offset, "+0").expect("offset");
        let mut c = f.command(&["apply", "--yes"]);
        c.env("LD_PRELOAD", &lib)
            .env("FAKETIME_TIMESTAMP_FILE", &offset)
            .env("FAKETIME_NO_CACHE", "1")
            .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
        let started = Instant::now();
        let apply = spawn(c);
        std::thread::sleep(Duration::from_millis(1200));
        std::fs::write(&offset, jump).expect("jump");
        let r = finish_within(apply, Duration::from_secs(20), "the gate").expect(0);
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(2900) && took < Duration::from_secs(8),
            "a {jump} jump: the 3 s gate took {took:?}\n{}",
            r.stdout()
        );
    }
}

fn libfaketime() -> Option<String> {
    ["/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .map(str::to_string)
}
